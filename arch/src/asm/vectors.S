// Exception vectors and the trap frame. Every entry but a system call saves the full integer
// state into a `TrapFrame` on the current kernel stack and calls `arch_exception` (Rust) with
// its kind; `svc #0` from EL0 saves what the kernel may clobber and calls `kernel_syscall`.

.equ FRAME_SIZE,    288             // x0-x30, sp_el0, elr, spsr, esr, far
.equ STACK_SHIFT,   16              // kernel stacks are 64 KiB, aligned to 128 KiB

// Kinds, as `exception::Kind` numbers them: source * 4 + type.
// source: 0 = EL1 with SP_EL0, 1 = EL1 with SP_EL1, 2 = EL0 AArch64, 3 = EL0 AArch32
// type:   0 = synchronous, 1 = IRQ, 2 = FIQ, 3 = SError

// Entry from EL1 on the kernel stack: catch an overflow into the guard page before the
// first store. A valid SP on a 64 KiB stack aligned to 128 KiB has bit 16 clear; one that ran
// into the guard page below has it set. The check needs a register, so it borrows x0 through
// SP arithmetic and gives it back.
.macro KERNEL_ENTRY kind
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    add     sp, sp, x0
    sub     x0, sp, x0
    tbnz    x0, #STACK_SHIFT, kernel_stack_overflow
    sub     x0, sp, x0
    sub     sp, sp, x0
    stp     x0, x1, [sp]
    mov     x0, #\kind
    b       exception_common
.endm

.macro PLAIN_ENTRY kind
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp]
    mov     x0, #\kind
    b       exception_common
.endm

// Synchronous entry from EL0 (AArch64): `svc #0` takes the system-call path, a data or
// instruction abort the page-fault path, anything else the full one. x16 and x17 are saved first: they are scratch for system calls (the ABI
// says so), but live user registers for a fault.
.macro USER_SYNC_ENTRY kind
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x16, x17, [sp, #16 * 8]
    mrs     x16, esr_el1
    lsr     x17, x16, #26
    cmp     x17, #0x15              // EC 0x15: SVC from AArch64
    b.eq    syscall_entry
    cmp     x17, #0x24              // EC 0x24: data abort from EL0
    b.eq    user_fault_entry
    cmp     x17, #0x20              // EC 0x20: instruction abort from EL0
    b.eq    user_fault_entry
    ldp     x16, x17, [sp, #16 * 8]
    stp     x0, x1, [sp]
    mov     x0, #\kind
    b       exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global exception_vectors
exception_vectors:
    PLAIN_ENTRY 0
    PLAIN_ENTRY 1
    PLAIN_ENTRY 2
    PLAIN_ENTRY 3
    KERNEL_ENTRY 4
    KERNEL_ENTRY 5
    KERNEL_ENTRY 6
    KERNEL_ENTRY 7
    USER_SYNC_ENTRY 8
    PLAIN_ENTRY 9
    PLAIN_ENTRY 10
    PLAIN_ENTRY 11
    PLAIN_ENTRY 12
    PLAIN_ENTRY 13
    PLAIN_ENTRY 14
    PLAIN_ENTRY 15

exception_common:
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x1, sp_el0
    stp     x30, x1, [sp, #16 * 15]
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #16 * 16]
    mrs     x1, esr_el1
    // An interrupt (kind 1 or 2 of every group of four) has no syndrome: ESR_EL1 still holds
    // the last synchronous exception's, which the frame must not pass off as its own.
    and     x3, x0, #3
    cmp     x3, #1
    ccmp    x3, #2, #4, ne
    csel    x1, xzr, x1, eq
    mrs     x2, far_el1
    stp     x1, x2, [sp, #16 * 17]
    mov     x1, x0
    mov     x0, sp
    bl      arch_exception
// Restores the trap frame at SP and returns from the exception. A new thread's first switch
// lands here too, with its initial frame at SP.
.global exception_return
exception_return:
    ldp     x1, x2, [sp, #16 * 16]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldp     x30, x1, [sp, #16 * 15]
    msr     sp_el0, x1
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    add     sp, sp, #FRAME_SIZE
    eret

// The system-call and page-fault paths from EL0. The frame gets what Rust code may change:
// x0-x18, x30, SP_EL0 (another thread's return sets it while this one sleeps in a call),
// ELR and SPSR; a fault also gets ESR and FAR. x19-x29 stay in their registers, which every
// Rust function preserves, and a context switch saves them with the kernel's own; the frame's
// x19-x29 are not filled in. `kernel_syscall` reads the call from the frame and leaves the
// result in its x0; `kernel_user_fault` serves the fault or ends the process.
.macro SAVE_CALLER_SAVED
    stp     x0, x1, [sp, #16 * 0]
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    str     x18, [sp, #8 * 18]
    mrs     x1, sp_el0
    stp     x30, x1, [sp, #16 * 15]
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #16 * 16]
.endm

user_fault_entry:
    SAVE_CALLER_SAVED
    mrs     x1, esr_el1
    mrs     x2, far_el1
    stp     x1, x2, [sp, #16 * 17]
    mov     x0, sp
    bl      kernel_user_fault
    b       caller_saved_return

syscall_entry:
    SAVE_CALLER_SAVED
    // ESR (still in x16): a fatal error's report tells a system call from a fault by it.
    str     x16, [sp, #16 * 17]
    mov     x0, sp
    bl      kernel_syscall
caller_saved_return:
    ldp     x1, x2, [sp, #16 * 16]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldp     x30, x1, [sp, #16 * 15]
    msr     sp_el0, x1
    ldr     x18, [sp, #8 * 18]
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    add     sp, sp, #FRAME_SIZE
    eret

// The kernel stack overflowed: continue on the emergency stack just long enough to report.
kernel_stack_overflow:
    ldr     x0, =__emergency_stack_top
    mov     sp, x0
    mrs     x0, esr_el1
    mrs     x1, far_el1
    mrs     x2, elr_el1
    bl      arch_kernel_stack_overflow
1:  wfe
    b       1b

// Fault-recovering accesses. An instruction listed in the `__fixup` table may fault; the
// exception handler then resumes at its fixup with x0 = ESR_EL1 (never 0 for an abort).
.macro FIXUP insn, fixup
    .pushsection __fixup, "a"
    .balign 8
    .quad   \insn, \fixup
    .popsection
.endm

.section .text, "ax"
// u64 arch_probe_read_u64(addr, *out): 0, or the ESR of the fault.
.global arch_probe_read_u64
arch_probe_read_u64:
1:  ldr     x2, [x0]
    str     x2, [x1]
    mov     x0, #0
    ret
    FIXUP   1b, arch_fixup_return

// u64 arch_probe_write_u64(addr, value): 0, or the ESR of the fault.
.global arch_probe_write_u64
arch_probe_write_u64:
2:  str     x1, [x0]
    mov     x0, #0
    ret
    FIXUP   2b, arch_fixup_return

// i64 arch_semihosting_call(op, param): the semihosting result, or -1 when no debugger or
// emulator answers (`hlt` is then an undefined instruction).
.global arch_semihosting_call
arch_semihosting_call:
3:  hlt     #0xf000
    ret
    FIXUP   3b, arch_semihosting_absent

arch_semihosting_absent:
    mov     x0, #-1
arch_fixup_return:
    ret

.section .bss.emergency_stack, "aw", %nobits
.balign 16
    .skip   16384
.global __emergency_stack_top
__emergency_stack_top:
