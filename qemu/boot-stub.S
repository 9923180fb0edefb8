// Enters the kernel with a chosen x0, for boot-failure tests (QEMU's `-device loader` can set
// the PC but no other register). Assembled by run-tests.sh with --defsym for both values.
.global _start
_start:
    ldr     x0, =DTB_ADDRESS
    ldr     x1, =KERNEL_ADDRESS
    br      x1
