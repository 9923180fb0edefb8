// Memory primitives for the kernel. The compiler's own memcpy and memset move 8 bytes per
// four instructions; these move 64 bytes per loop of 8-13, and the page routines use
// `dc zva` and the 128-bit registers. The kernel is built without FP, so its code never
// holds values in q registers; but the user's FP state is live in them during a system call,
// so a routine that uses q registers saves and restores the ones it takes. Alignment
// checking is off (SCTLR_EL1.A = 0), and all of this runs on Normal memory, so unaligned
// accesses are fine.

.arch_extension fp
.arch_extension simd

.section .text.mem, "ax"

// void* memcpy(void* dst, const void* src, size_t n): non-overlapping. Up to 64 bytes take a
// few loads and stores that may overlap each other (first and last pieces); more, 64 bytes a
// loop.
.global memcpy
.balign 64
memcpy:
    add     x3, x1, x2              // source end
    add     x4, x0, x2              // destination end
    cmp     x2, #16
    b.lo    5f
    cmp     x2, #64
    b.hi    1f
    ldp     x6, x7, [x1]
    ldp     x8, x9, [x3, #-16]
    cmp     x2, #32
    b.ls    0f
    ldp     x10, x11, [x1, #16]
    ldp     x12, x13, [x3, #-32]
    stp     x10, x11, [x0, #16]
    stp     x12, x13, [x4, #-32]
0:  stp     x6, x7, [x0]
    stp     x8, x9, [x4, #-16]
    ret
1:  mov     x8, x0
2:  ldp     x10, x11, [x1]
    ldp     x12, x13, [x1, #16]
    ldp     x14, x15, [x1, #32]
    ldp     x16, x17, [x1, #48]
    stp     x10, x11, [x8]
    stp     x12, x13, [x8, #16]
    stp     x14, x15, [x8, #32]
    stp     x16, x17, [x8, #48]
    add     x1, x1, #64
    add     x8, x8, #64
    sub     x2, x2, #64
    cmp     x2, #64
    b.hs    2b
    cbz     x2, 4f
    // The last 1-63 bytes: the final 64 bytes of the range again (n > 64 here).
    ldp     x10, x11, [x3, #-64]
    ldp     x12, x13, [x3, #-48]
    ldp     x14, x15, [x3, #-32]
    ldp     x16, x17, [x3, #-16]
    stp     x10, x11, [x4, #-64]
    stp     x12, x13, [x4, #-48]
    stp     x14, x15, [x4, #-32]
    stp     x16, x17, [x4, #-16]
4:  ret
5:  cmp     x2, #8                  // 8-15 bytes: two 8-byte pieces
    b.lo    6f
    ldr     x6, [x1]
    ldr     x7, [x3, #-8]
    str     x6, [x0]
    str     x7, [x4, #-8]
    ret
6:  cmp     x2, #4                  // 4-7 bytes: two 4-byte pieces
    b.lo    7f
    ldr     w6, [x1]
    ldr     w7, [x3, #-4]
    str     w6, [x0]
    str     w7, [x4, #-4]
    ret
7:  cbz     x2, 8f                  // 1-3 bytes: first, middle and last byte
    lsr     x5, x2, #1
    ldrb    w6, [x1]
    ldrb    w7, [x1, x5]
    ldrb    w9, [x3, #-1]
    strb    w6, [x0]
    strb    w7, [x0, x5]
    strb    w9, [x4, #-1]
8:  ret

// void* memset(void* dst, int c, size_t n)
.global memset
.balign 64
memset:
    mov     x8, x0
    and     x1, x1, #0xff
    mov     x9, #0x0101010101010101
    mul     x1, x1, x9
    cmp     x2, #64
    b.lo    2f
1:  stp     x1, x1, [x8]
    stp     x1, x1, [x8, #16]
    stp     x1, x1, [x8, #32]
    stp     x1, x1, [x8, #48]
    add     x8, x8, #64
    sub     x2, x2, #64
    cmp     x2, #64
    b.hs    1b
2:  cmp     x2, #8
    b.lo    3f
    str     x1, [x8], #8
    sub     x2, x2, #8
    b       2b
3:  cbz     x2, 4f
    strb    w1, [x8], #1
    sub     x2, x2, #1
    b       3b
4:  ret

// void arch_zero_page(void* page): a 4 KiB, 4 KiB-aligned page. `dc zva` zeroes one block
// (DCZID_EL0.BS, 64 bytes on the Cortex-A53/A72) per instruction; where it is prohibited
// (DCZID_EL0.DZP) or the block is unusual, plain stores do it.
.global arch_zero_page
.balign 64
arch_zero_page:
    mrs     x1, dczid_el0
    tbnz    x1, #4, 2f              // DZP: dc zva prohibited
    and     x1, x1, #0xf
    cmp     x1, #4                  // log2(words): 4 = 64 bytes
    b.ne    2f
    add     x2, x0, #4096
1:  dc      zva, x0
    add     x0, x0, #64
    dc      zva, x0
    add     x0, x0, #64
    cmp     x0, x2
    b.lo    1b
    ret
2:  mov     x2, #4096
    mov     w1, #0
    b       memset

// void arch_copy_page(void* dst, const void* src): 4 KiB, both 4 KiB-aligned, 256 bytes per
// loop through q0-q15 (saved on the stack first and restored after: a copy-on-write fault
// runs while the user's FP state is still in the registers).
.global arch_copy_page
.balign 64
arch_copy_page:
    stp     q0, q1, [sp, #-256]!
    stp     q2, q3, [sp, #32]
    stp     q4, q5, [sp, #64]
    stp     q6, q7, [sp, #96]
    stp     q8, q9, [sp, #128]
    stp     q10, q11, [sp, #160]
    stp     q12, q13, [sp, #192]
    stp     q14, q15, [sp, #224]
    add     x2, x0, #4096
1:  ldp     q0, q1, [x1]
    ldp     q2, q3, [x1, #32]
    ldp     q4, q5, [x1, #64]
    ldp     q6, q7, [x1, #96]
    ldp     q8, q9, [x1, #128]
    ldp     q10, q11, [x1, #160]
    ldp     q12, q13, [x1, #192]
    ldp     q14, q15, [x1, #224]
    stp     q0, q1, [x0]
    stp     q2, q3, [x0, #32]
    stp     q4, q5, [x0, #64]
    stp     q6, q7, [x0, #96]
    stp     q8, q9, [x0, #128]
    stp     q10, q11, [x0, #160]
    stp     q12, q13, [x0, #192]
    stp     q14, q15, [x0, #224]
    add     x1, x1, #256
    add     x0, x0, #256
    cmp     x0, x2
    b.lo    1b
    ldp     q2, q3, [sp, #32]
    ldp     q4, q5, [sp, #64]
    ldp     q6, q7, [sp, #96]
    ldp     q8, q9, [sp, #128]
    ldp     q10, q11, [sp, #160]
    ldp     q12, q13, [sp, #192]
    ldp     q14, q15, [sp, #224]
    ldp     q0, q1, [sp], #256
    ret
