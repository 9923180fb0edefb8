// Thread switching, user FP/SIMD state, and copies to and from user memory.

.section .text, "ax"

// void arch_switch_context(usize* save_sp, usize next_sp): saves the callee-saved registers
// on the current stack, stores SP in *save_sp, and resumes the context saved at next_sp.
.global arch_switch_context
arch_switch_context:
    sub     sp, sp, #96
    stp     x19, x20, [sp, #16 * 0]
    stp     x21, x22, [sp, #16 * 1]
    stp     x23, x24, [sp, #16 * 2]
    stp     x25, x26, [sp, #16 * 3]
    stp     x27, x28, [sp, #16 * 4]
    stp     x29, x30, [sp, #16 * 5]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    ldp     x19, x20, [sp, #16 * 0]
    ldp     x21, x22, [sp, #16 * 1]
    ldp     x23, x24, [sp, #16 * 2]
    ldp     x25, x26, [sp, #16 * 3]
    ldp     x27, x28, [sp, #16 * 4]
    ldp     x29, x30, [sp, #16 * 5]
    add     sp, sp, #96
    ret

// A new thread's first switch returns here: its initial trap frame is at SP, and x19 holds
// the function that finishes a switch (it keeps SP as it is).
.global arch_thread_first_entry
arch_thread_first_entry:
    blr     x19
    b       exception_return

// The kernel is built without FP, so these two name the registers explicitly.
.arch_extension fp
.arch_extension simd

// void arch_fp_save(u8* state): q0-q31, then FPCR and FPSR (528 bytes, 16-byte aligned).
.global arch_fp_save
arch_fp_save:
    stp     q0, q1, [x0, #32 * 0]
    stp     q2, q3, [x0, #32 * 1]
    stp     q4, q5, [x0, #32 * 2]
    stp     q6, q7, [x0, #32 * 3]
    stp     q8, q9, [x0, #32 * 4]
    stp     q10, q11, [x0, #32 * 5]
    stp     q12, q13, [x0, #32 * 6]
    stp     q14, q15, [x0, #32 * 7]
    stp     q16, q17, [x0, #32 * 8]
    stp     q18, q19, [x0, #32 * 9]
    stp     q20, q21, [x0, #32 * 10]
    stp     q22, q23, [x0, #32 * 11]
    stp     q24, q25, [x0, #32 * 12]
    stp     q26, q27, [x0, #32 * 13]
    stp     q28, q29, [x0, #32 * 14]
    stp     q30, q31, [x0, #32 * 15]
    mrs     x1, fpcr
    mrs     x2, fpsr
    add     x3, x0, #512
    stp     x1, x2, [x3]
    ret

// void arch_fp_restore(const u8* state)
.global arch_fp_restore
arch_fp_restore:
    ldp     q0, q1, [x0, #32 * 0]
    ldp     q2, q3, [x0, #32 * 1]
    ldp     q4, q5, [x0, #32 * 2]
    ldp     q6, q7, [x0, #32 * 3]
    ldp     q8, q9, [x0, #32 * 4]
    ldp     q10, q11, [x0, #32 * 5]
    ldp     q12, q13, [x0, #32 * 6]
    ldp     q14, q15, [x0, #32 * 7]
    ldp     q16, q17, [x0, #32 * 8]
    ldp     q18, q19, [x0, #32 * 9]
    ldp     q20, q21, [x0, #32 * 10]
    ldp     q22, q23, [x0, #32 * 11]
    ldp     q24, q25, [x0, #32 * 12]
    ldp     q26, q27, [x0, #32 * 13]
    ldp     q28, q29, [x0, #32 * 14]
    ldp     q30, q31, [x0, #32 * 15]
    add     x3, x0, #512
    ldp     x1, x2, [x3]
    msr     fpcr, x1
    msr     fpsr, x2
    ret

// u64 arch_copy_from_user(u8* dst, usize src, usize len): 0, or the ESR of the fault.
// Unprivileged loads (ldtr*) apply EL0 permissions, so a kernel address faults even with
// PAN off; a fault the VMAR can serve is served and the load retried. 16 bytes per loop,
// then 8, 4 and single bytes (any alignment: EL1 allows unaligned accesses to memory).
.global arch_copy_from_user
arch_copy_from_user:
    subs    x2, x2, #16
    b.lo    2f
1:
10: ldtr    x3, [x1]
11: ldtr    x4, [x1, #8]
    stp     x3, x4, [x0], #16
    add     x1, x1, #16
    subs    x2, x2, #16
    b.hs    1b
2:  add     x2, x2, #16
    tbz     x2, #3, 3f
12: ldtr    x3, [x1]
    str     x3, [x0], #8
    add     x1, x1, #8
3:  tbz     x2, #2, 4f
13: ldtr    w3, [x1]
    str     w3, [x0], #4
    add     x1, x1, #4
4:  ands    x2, x2, #3
    b.eq    6f
5:
14: ldtrb   w3, [x1]
    strb    w3, [x0], #1
    add     x1, x1, #1
    subs    x2, x2, #1
    b.ne    5b
6:  mov     x0, #0
    ret
    FIXUP   10b, arch_fixup_return
    FIXUP   11b, arch_fixup_return
    FIXUP   12b, arch_fixup_return
    FIXUP   13b, arch_fixup_return
    FIXUP   14b, arch_fixup_return

// u64 arch_copy_to_user(usize dst, const u8* src, usize len): 0, or the ESR of the fault.
// Unprivileged stores (sttr*), in steps as above.
.global arch_copy_to_user
arch_copy_to_user:
    subs    x2, x2, #16
    b.lo    2f
1:  ldp     x3, x4, [x1], #16
10: sttr    x3, [x0]
11: sttr    x4, [x0, #8]
    add     x0, x0, #16
    subs    x2, x2, #16
    b.hs    1b
2:  add     x2, x2, #16
    tbz     x2, #3, 3f
    ldr     x3, [x1], #8
12: sttr    x3, [x0]
    add     x0, x0, #8
3:  tbz     x2, #2, 4f
    ldr     w3, [x1], #4
13: sttr    w3, [x0]
    add     x0, x0, #4
4:  ands    x2, x2, #3
    b.eq    6f
5:  ldrb    w3, [x1], #1
14: sttrb   w3, [x0]
    add     x0, x0, #1
    subs    x2, x2, #1
    b.ne    5b
6:  mov     x0, #0
    ret
    FIXUP   10b, arch_fixup_return
    FIXUP   11b, arch_fixup_return
    FIXUP   12b, arch_fixup_return
    FIXUP   13b, arch_fixup_return
    FIXUP   14b, arch_fixup_return

// u64 arch_copy_user_fast(u8* dst, const u8* src, usize len, u64 clear_pan): 0, or the ESR
// of a fault. A bulk copy in which either side may be user memory, with ordinary loads and
// stores: only for a user range the caller has already probed with the unprivileged
// routines above (each page checked with EL0's permissions, and mapped), so these accesses
// reach nothing EL0 could not. With `clear_pan` (CPUs with PAN) PSTATE.PAN is cleared for
// the copy. 512 bytes per loop through q0-q31, which hold the user's FP state during a system
// call: they are saved on the stack first and restored on every way out.
.global arch_copy_user_fast
arch_copy_user_fast:
    stp     q0, q1, [sp, #-512]!
    stp     q2, q3, [sp, #32]
    stp     q4, q5, [sp, #64]
    stp     q6, q7, [sp, #96]
    stp     q8, q9, [sp, #128]
    stp     q10, q11, [sp, #160]
    stp     q12, q13, [sp, #192]
    stp     q14, q15, [sp, #224]
    stp     q16, q17, [sp, #256]
    stp     q18, q19, [sp, #288]
    stp     q20, q21, [sp, #320]
    stp     q22, q23, [sp, #352]
    stp     q24, q25, [sp, #384]
    stp     q26, q27, [sp, #416]
    stp     q28, q29, [sp, #448]
    stp     q30, q31, [sp, #480]
    cbz     x3, 1f
    .inst   0xd500409f              // msr pan, #0
1:  subs    x2, x2, #512        // x2: bytes left after this block
    b.lo    3f
2:
10: ldp     q0, q1, [x1], #512
11: ldp     q2, q3, [x1, #-480]
12: ldp     q4, q5, [x1, #-448]
13: ldp     q6, q7, [x1, #-416]
14: ldp     q8, q9, [x1, #-384]
15: ldp     q10, q11, [x1, #-352]
16: ldp     q12, q13, [x1, #-320]
17: ldp     q14, q15, [x1, #-288]
18: ldp     q16, q17, [x1, #-256]
19: ldp     q18, q19, [x1, #-224]
60: ldp     q20, q21, [x1, #-192]
61: ldp     q22, q23, [x1, #-160]
62: ldp     q24, q25, [x1, #-128]
63: ldp     q26, q27, [x1, #-96]
64: ldp     q28, q29, [x1, #-64]
65: ldp     q30, q31, [x1, #-32]
20: stp     q0, q1, [x0], #512
21: stp     q2, q3, [x0, #-480]
22: stp     q4, q5, [x0, #-448]
23: stp     q6, q7, [x0, #-416]
24: stp     q8, q9, [x0, #-384]
25: stp     q10, q11, [x0, #-352]
26: stp     q12, q13, [x0, #-320]
27: stp     q14, q15, [x0, #-288]
28: stp     q16, q17, [x0, #-256]
29: stp     q18, q19, [x0, #-224]
70: stp     q20, q21, [x0, #-192]
71: stp     q22, q23, [x0, #-160]
72: stp     q24, q25, [x0, #-128]
73: stp     q26, q27, [x0, #-96]
74: stp     q28, q29, [x0, #-64]
75: stp     q30, q31, [x0, #-32]
    subs    x2, x2, #512
    b.hs    2b
3:  add     x2, x2, #512        // the tail, under 512 bytes
7:  cmp     x2, #8
    b.lo    4f
30: ldr     x4, [x1], #8
31: str     x4, [x0], #8
    sub     x2, x2, #8
    b       7b
4:  cbz     x2, 5f
40: ldrb    w4, [x1], #1
41: strb    w4, [x0], #1
    sub     x2, x2, #1
    b       4b
5:  mov     x0, #0
copy_user_fast_out:
    cbz     x3, 6f
    .inst   0xd500419f              // msr pan, #1
6:  ldp     q2, q3, [sp, #32]
    ldp     q4, q5, [sp, #64]
    ldp     q6, q7, [sp, #96]
    ldp     q8, q9, [sp, #128]
    ldp     q10, q11, [sp, #160]
    ldp     q12, q13, [sp, #192]
    ldp     q14, q15, [sp, #224]
    ldp     q16, q17, [sp, #256]
    ldp     q18, q19, [sp, #288]
    ldp     q20, q21, [sp, #320]
    ldp     q22, q23, [sp, #352]
    ldp     q24, q25, [sp, #384]
    ldp     q26, q27, [sp, #416]
    ldp     q28, q29, [sp, #448]
    ldp     q30, q31, [sp, #480]
    ldp     q0, q1, [sp], #512
    ret
    FIXUP   10b, copy_user_fast_out
    FIXUP   11b, copy_user_fast_out
    FIXUP   12b, copy_user_fast_out
    FIXUP   13b, copy_user_fast_out
    FIXUP   14b, copy_user_fast_out
    FIXUP   15b, copy_user_fast_out
    FIXUP   16b, copy_user_fast_out
    FIXUP   17b, copy_user_fast_out
    FIXUP   18b, copy_user_fast_out
    FIXUP   19b, copy_user_fast_out
    FIXUP   60b, copy_user_fast_out
    FIXUP   61b, copy_user_fast_out
    FIXUP   62b, copy_user_fast_out
    FIXUP   63b, copy_user_fast_out
    FIXUP   64b, copy_user_fast_out
    FIXUP   65b, copy_user_fast_out
    FIXUP   20b, copy_user_fast_out
    FIXUP   21b, copy_user_fast_out
    FIXUP   22b, copy_user_fast_out
    FIXUP   23b, copy_user_fast_out
    FIXUP   24b, copy_user_fast_out
    FIXUP   25b, copy_user_fast_out
    FIXUP   26b, copy_user_fast_out
    FIXUP   27b, copy_user_fast_out
    FIXUP   28b, copy_user_fast_out
    FIXUP   29b, copy_user_fast_out
    FIXUP   70b, copy_user_fast_out
    FIXUP   71b, copy_user_fast_out
    FIXUP   72b, copy_user_fast_out
    FIXUP   73b, copy_user_fast_out
    FIXUP   74b, copy_user_fast_out
    FIXUP   75b, copy_user_fast_out
    FIXUP   30b, copy_user_fast_out
    FIXUP   31b, copy_user_fast_out
    FIXUP   40b, copy_user_fast_out
    FIXUP   41b, copy_user_fast_out

