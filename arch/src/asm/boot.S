// Kernel entry: Linux arm64 Image header, EL2 -> EL1 drop, boot page tables, MMU on, jump to
// the high half. Everything before `boot_high` runs with the MMU off at whatever physical
// address the loader chose, so it only uses PC-relative addressing (adr/adrp) for its own
// symbols; literal-pool loads (`ldr xN, =sym`) give link-time (high-half) addresses.

.equ KERNEL_VBASE,      0xffffffff80000000
.equ PAGE_SIZE,         4096
.equ KERNEL_L3_TABLES,  8               // the boot tables map up to 16 MiB of image
// Descriptor bits (VMSAv8-64, 4 KiB granule).
.equ PTE_TABLE,         0x3
.equ PTE_PAGE,          0x3
.equ PTE_BLOCK,         0x1
.equ PTE_ATTR_NORMAL,   (1 << 2)        // MAIR index 1
.equ PTE_SH_INNER,      (3 << 8)
.equ PTE_AF,            (1 << 10)
.equ PTE_PXN,           (1 << 53)
.equ PTE_UXN,           (1 << 54)
.equ PTE_NORMAL_EXEC,   (PTE_ATTR_NORMAL | PTE_SH_INNER | PTE_AF | PTE_UXN)
.equ PTE_NORMAL_NOEXEC, (PTE_NORMAL_EXEC | PTE_PXN)
// MAIR: 0 = Device-nGnRE, 1 = Normal write-back RW-allocate, 2 = Normal non-cacheable.
.equ MAIR_VALUE,        0x44ff04
// TCR: 48-bit VAs in both halves, 4 KiB granules, write-back walks, inner shareable.
// IPS is filled in from ID_AA64MMFR0_EL1 at run time.
.equ TCR_VALUE,         (16 | (1 << 8) | (1 << 10) | (3 << 12) | (16 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (2 << 30))
// SCTLR_EL1: RES1 bits, plus M (MMU), C (data cache), SA/SA0 (stack alignment), I (icache).
.equ SCTLR_RES1,        0x30d00800
// `secondary_boot`, what a secondary CPU reads with its MMU off (`arch::smp::SecondaryBoot`).
.equ MPIDR_AFFINITY,    0xff00ffffff
.equ SECONDARY_MAX,     4
.equ SECONDARY_TTBR0,   0
.equ SECONDARY_TTBR1,   8
.equ SECONDARY_SLOTS,   16
.equ SLOT_MPIDR,        0
.equ SLOT_STACK_TOP,    8
.equ SLOT_INDEX,        16
.equ SLOT_SIZE,         24
.equ SCTLR_MMU_ON,      (SCTLR_RES1 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12))

// Leaves EL2 for EL1 at `target` (AArch64 EL1, no stage 2, no traps; the EL1 timer and
// counter usable; a GICv3 system-register interface handed to EL1), D A I F masked.
.macro DROP_TO_EL1 target
    mov     x0, #(1 << 31)              // HCR_EL2.RW: EL1 is AArch64; no stage 2, no traps
    msr     hcr_el2, x0
    mov     x0, #3                      // CNTHCTL_EL2: EL1 may use the physical counter and timer
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    mov     x0, #0x33ff                 // CPTR_EL2: RES1 bits only, no FP/SIMD trap
    msr     cptr_el2, x0
    msr     hstr_el2, xzr
    mrs     x0, midr_el1                // EL1 sees the real CPU identity
    msr     vpidr_el2, x0
    mrs     x0, mpidr_el1
    msr     vmpidr_el2, x0
    // If the CPU has a GICv3 system-register interface, let EL1 use it (ICC_SRE_EL2.SRE|Enable).
    mrs     x0, id_aa64pfr0_el1
    ubfx    x0, x0, #24, #4
    cbz     x0, 1f
    mrs     x0, S3_4_C12_C9_5           // ICC_SRE_EL2
    orr     x0, x0, #0x1                // SRE
    orr     x0, x0, #0x8                // Enable: EL1 may set its own SRE
    msr     S3_4_C12_C9_5, x0
    isb
1:  ldr     x0, =SCTLR_RES1             // MMU off at EL1 until we turn it on
    msr     sctlr_el1, x0
    mov     x0, #0x3c5                  // SPSR: EL1h, D A I F masked
    msr     spsr_el2, x0
    adr     x0, \target
    msr     elr_el2, x0
    eret
.endm

// MAIR, TCR (IPS from ID_AA64MMFR0_EL1) and the two table bases `ttbr0`, `ttbr1`, then the
// TLB and instruction cache invalidated: everything but SCTLR_EL1.M for the MMU to go on.
.macro MMU_REGISTERS ttbr0, ttbr1
    ldr     x9, =MAIR_VALUE
    msr     mair_el1, x9
    ldr     x9, =TCR_VALUE
    mrs     x10, id_aa64mmfr0_el1
    and     x10, x10, #0x7              // PARange
    cmp     x10, #5                     // IPS above 48 bits needs 52-bit descriptors; cap it
    mov     x11, #5
    csel    x10, x10, x11, ls
    bfi     x9, x10, #32, #3            // TCR_EL1.IPS
    msr     tcr_el1, x9
    msr     ttbr0_el1, \ttbr0
    msr     ttbr1_el1, \ttbr1
    isb
    tlbi    vmalle1
    ic      iallu
    dsb     nsh
    isb
.endm

.section .text.head, "ax"
.global _start
_start:
    // Linux arm64 Image header (Documentation/arch/arm64/booting.rst): 64 bytes.
    b       primary_entry               // code0
    .long   0                           // code1
    .quad   0                           // text_offset: any 2 MiB-aligned base
    .quad   __image_size                // image_size, bss included
    .quad   0xa                         // flags: little endian, 4 KiB pages, anywhere in RAM
    .quad   0                           // res2
    .quad   0                           // res3
    .quad   0                           // res4
    .ascii  "ARM\x64"                   // magic
    .long   0                           // res5 (no PE/COFF header)

.section .text.boot, "ax"
primary_entry:
    mov     x19, x0                     // DTB physical address (0 if the loader gave none)

    // Only the boot CPU runs the kernel for now; any other core that arrives here waits.
    mrs     x1, mpidr_el1
    and     x1, x1, #0xffffff           // Aff2..Aff0
    cbnz    x1, park

    mrs     x20, CurrentEL
    lsr     x20, x20, #2                // boot exception level, handed to Rust
    cmp     x20, #2
    b.eq    from_el2
    cmp     x20, #1
    b.eq    at_el1
    b       park                        // EL3 entry is not supported

from_el2:
    DROP_TO_EL1 at_el1

at_el1:
    msr     daifset, #0xf
    ldr     x0, =SCTLR_RES1             // known state: MMU and caches off, no alignment checks
    msr     sctlr_el1, x0
    isb
    mov     x0, #(3 << 20)              // CPACR_EL1.FPEN: no FP/SIMD trap at EL1 and EL0
    msr     cpacr_el1, x0
    isb

    adrp    x21, __image_start          // physical load address of the image

    // Zero .bss (it holds the boot page tables and the boot stack). With the MMU off these
    // stores bypass the caches; invalidate afterwards so no stale line shadows the zeroes.
    adrp    x0, __bss_start
    adrp    x1, __bss_end
1:  stp     xzr, xzr, [x0], #16
    cmp     x0, x1
    b.lo    1b
    adrp    x0, __bss_start
    mrs     x2, ctr_el0
    ubfx    x2, x2, #16, #4             // DminLine: log2(words per line)
    mov     x3, #4
    lsl     x3, x3, x2                  // bytes per line
    sub     x4, x3, #1
    bic     x0, x0, x4
2:  dc      ivac, x0
    add     x0, x0, x3
    cmp     x0, x1
    b.lo    2b
    dsb     sy

    // TTBR1: the kernel image at KERNEL_VBASE, 4 KiB pages.
    adrp    x0, boot_l0_hi
    adrp    x1, boot_l1_hi
    orr     x2, x1, #PTE_TABLE
    str     x2, [x0, #511 * 8]          // L0[511] covers 0xffff_ff80_0000_0000..
    adrp    x2, boot_l2_kernel
    orr     x3, x2, #PTE_TABLE
    str     x3, [x1, #510 * 8]          // L1[510] = 0xffff_ffff_8000_0000..
    adrp    x3, boot_l3_kernel
    mov     x4, #KERNEL_L3_TABLES
3:  orr     x5, x3, #PTE_TABLE
    str     x5, [x2], #8
    add     x3, x3, #PAGE_SIZE
    subs    x4, x4, #1
    b.ne    3b
    adrp    x3, boot_l3_kernel
    mov     x0, x21
    ldr     x4, =__image_pages
    ldr     x5, =(PTE_PAGE | PTE_NORMAL_EXEC)
4:  orr     x6, x0, x5
    str     x6, [x3], #8
    add     x0, x0, #PAGE_SIZE
    subs    x4, x4, #1
    b.ne    4b

    // TTBR1: a 2 MiB read window onto the DTB at BOOT_DTB_WINDOW, so Rust can read the
    // board description before the final tables (which need it) exist.
    cbz     x19, 6f
    adrp    x1, boot_l1_hi
    adrp    x2, boot_l2_dtb
    orr     x3, x2, #PTE_TABLE
    str     x3, [x1, #511 * 8]          // L1[511] = 0xffff_ffff_c000_0000..
    adrp    x3, boot_l3_dtb
    orr     x4, x3, #PTE_TABLE
    str     x4, [x2]
    and     x0, x19, #~(PAGE_SIZE - 1)
    mov     x4, #512
    ldr     x5, =(PTE_PAGE | PTE_NORMAL_NOEXEC)
5:  orr     x6, x0, x5
    str     x6, [x3], #8
    add     x0, x0, #PAGE_SIZE
    subs    x4, x4, #1
    b.ne    5b
6:
    // TTBR0: identity map of the 2 MiB blocks holding this code, for the instant the MMU
    // turns on and for `switch_to_final_tables`-style trampolines.
    adrp    x0, boot_l0_lo
    adrp    x1, boot_l1_lo
    adrp    x2, boot_l2_lo
    adr     x3, boot_trampoline
    ubfx    x4, x3, #39, #9
    orr     x5, x1, #PTE_TABLE
    str     x5, [x0, x4, lsl #3]
    ubfx    x4, x3, #30, #9
    orr     x5, x2, #PTE_TABLE
    str     x5, [x1, x4, lsl #3]
    ubfx    x4, x3, #21, #9
    and     x5, x3, #~((1 << 21) - 1)
    ldr     x6, =(PTE_BLOCK | PTE_NORMAL_EXEC)
    orr     x7, x5, x6
    str     x7, [x2, x4, lsl #3]
    add     x4, x4, #1                  // and the next block, in case the code straddles
    and     x4, x4, #511
    add     x7, x7, #(1 << 21)
    str     x7, [x2, x4, lsl #3]
    dsb     sy

    adrp    x0, boot_l0_lo
    adrp    x1, boot_l0_hi
    MMU_REGISTERS x0, x1
    ldr     x0, =SCTLR_MMU_ON
    ldr     x1, =boot_high
boot_trampoline:
    msr     sctlr_el1, x0
    isb
    br      x1

// A secondary CPU, started by PSCI CPU_ON or released from the firmware's spin table, enters
// here at the image's physical address with the MMU and caches off, at EL2 or EL1. It finds
// its slot in `secondary_boot` (filled in and cleaned to the point of coherency by the boot
// CPU: the kernel's tables, the identity tables, its stack) by its MPIDR, turns the MMU on
// with the kernel's final tables and calls `kernel_secondary_entry(index)` on its own stack.
.global secondary_entry
secondary_entry:
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    cmp     x0, #2
    b.eq    secondary_from_el2
    cmp     x0, #1
    b.eq    secondary_at_el1
    b       park

secondary_from_el2:
    DROP_TO_EL1 secondary_at_el1

secondary_at_el1:
    msr     daifset, #0xf
    ldr     x0, =SCTLR_RES1
    msr     sctlr_el1, x0
    isb
    mov     x0, #(3 << 20)              // CPACR_EL1.FPEN, as on the boot CPU
    msr     cpacr_el1, x0
    isb
    adrp    x0, secondary_boot          // physical: the MMU is off
    add     x0, x0, :lo12:secondary_boot
    mrs     x1, mpidr_el1
    ldr     x2, =MPIDR_AFFINITY
    and     x1, x1, x2
    add     x3, x0, #SECONDARY_SLOTS
    mov     x4, #SECONDARY_MAX
1:  ldr     x5, [x3, #SLOT_MPIDR]
    cmp     x5, x1
    b.eq    2f
    add     x3, x3, #SLOT_SIZE
    subs    x4, x4, #1
    b.ne    1b
    b       park                        // not a CPU the kernel asked for
2:  ldr     x22, [x3, #SLOT_STACK_TOP]
    ldr     x23, [x3, #SLOT_INDEX]
    ldr     x6, [x0, #SECONDARY_TTBR0]
    ldr     x7, [x0, #SECONDARY_TTBR1]
    MMU_REGISTERS x6, x7
    ldr     x0, =SCTLR_MMU_ON
    ldr     x1, =secondary_high
    msr     sctlr_el1, x0               // runs from the identity map of this block
    isb
    br      x1

park:
    msr     daifset, #0xf
1:  wfe
    b       1b

.section .text, "ax"
boot_high:
    // Now at the link address. The stack is the boot stack in the high half.
    ldr     x0, =__boot_stack_top
    mov     sp, x0
    ldr     x0, =exception_vectors
    msr     vbar_el1, x0
    isb
    mov     x0, x19                     // dtb_pa
    mov     x1, x20                     // boot EL
    mov     x2, x21                     // image_pa
    bl      kernel_entry
    b       park

secondary_high:
    mov     sp, x22
    ldr     x0, =exception_vectors
    msr     vbar_el1, x0
    // As on the boot CPU once its final tables are in: no walks through TTBR0 until a
    // process runs here.
    mrs     x0, tcr_el1
    orr     x0, x0, #(1 << 7)           // TCR_EL1.EPD0
    msr     tcr_el1, x0
    msr     ttbr0_el1, xzr
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mov     x0, x23                     // this CPU's index
    bl      kernel_secondary_entry
    b       park

.section .data.secondary_boot, "aw"
.balign 64
.global secondary_boot
secondary_boot:
    .quad   0, 0
    .rept   SECONDARY_MAX
    .quad   -1, 0, 0
    .endr

// Boot page tables, zeroed with the rest of .bss above.
.section .bss.boot_tables, "aw", %nobits
.balign PAGE_SIZE
boot_l0_hi:     .skip PAGE_SIZE
boot_l1_hi:     .skip PAGE_SIZE
boot_l2_kernel: .skip PAGE_SIZE
boot_l3_kernel: .skip PAGE_SIZE * KERNEL_L3_TABLES
boot_l2_dtb:    .skip PAGE_SIZE
boot_l3_dtb:    .skip PAGE_SIZE
.global boot_l0_lo
boot_l0_lo:     .skip PAGE_SIZE
boot_l1_lo:     .skip PAGE_SIZE
boot_l2_lo:     .skip PAGE_SIZE
