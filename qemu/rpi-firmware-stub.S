// Stands in for the Raspberry Pi firmware's last step in QEMU, which runs no firmware: with
// `enable_uart=1` and `dtoverlay=disable-bt` the firmware gives GPIO 14/15 (the header's
// TX/RX) to the PL011 by setting their function to ALT0, then enters the kernel with the DTB
// in x0. The stub does the same and jumps to the kernel, which `-device loader` put at
// KERNEL_ADDRESS. QEMU loads the stub as the `-kernel` (an arm64 Image, hence the header), so
// its own spin table still holds the secondary cores. GPIO_BASE is the GPIO block's physical
// address. run-tests.sh assembles it with --defsym for both values.
.global _start
_start:
    b       entry                   // code0
    .word   0                       // code1
    .quad   0x80000                 // text_offset
    .quad   end - _start            // image_size
    .quad   0x2                     // flags: little endian, 4 KiB pages
    .quad   0, 0, 0                 // reserved
    .ascii  "ARM\x64"               // magic
    .word   0                       // reserved

entry:
    ldr     x9, =GPIO_BASE
    ldr     w10, [x9, #4]           // GPFSEL1: GPIO 10-19, 3 bits each
    bic     w10, w10, #(0x3f << 12) // GPIO 14 and 15 ...
    ldr     w11, =(0x24 << 12)      // ... to ALT0 (0b100 each): TXD0 and RXD0
    orr     w10, w10, w11
    str     w10, [x9, #4]
    ldr     x9, =KERNEL_ADDRESS
    br      x9                      // x0 still holds the DTB address
    .ltorg
end:
