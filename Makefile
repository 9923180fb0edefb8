# Build, run and test the kernel. Every target installs what it needs first
# (qemu/install-deps.sh: QEMU 10, the aarch64 cross binutils, rustup targets).

TARGET     := aarch64-unknown-none-softfloat
BUILD      := build
KERNEL_ELF := target/$(TARGET)/release/kernel
KERNEL_IMG := $(BUILD)/Image
OBJCOPY    := aarch64-linux-gnu-objcopy

# `make run` options: BOARD=virt|rpi3|rpi4; for virt GIC=2|3, EL=1|2 (EL=2 enters at EL2 like
# a Pi), CPU, MEM, SMP (CPUs, 4 like a Pi; the kernel runs at most 4). The Pi boards boot the SD card image (build/sdcard.img) in QEMU's raspi3b or
# raspi4b machine, as the card's firmware would (qemu/rpi-qemu.sh).
BOARD ?= virt
GIC ?= 2
EL  ?= 1
CPU ?= cortex-a72
MEM ?= 1G
SMP ?= 4
comma := ,
VIRT_OPTS := virt,gic-version=$(GIC)$(if $(filter 2,$(EL)),$(comma)virtualization=on)
QEMU_RUN := qemu-system-aarch64 -M $(VIRT_OPTS) -cpu $(CPU) -m $(MEM) -smp $(SMP) -nographic -semihosting

.PHONY: all deps kernel user initrd user-cargo sdcard run bench bench-smp bench-linux fuzz test test-host test-qemu stress gdb clippy fmt clean FORCE

all: kernel initrd

deps:
	@bash qemu/install-deps.sh

$(KERNEL_IMG): FORCE
	cargo build --release -p kernel --target $(TARGET)
	@mkdir -p $(BUILD)
	$(OBJCOPY) -O binary $(KERNEL_ELF) $@

# The same kernel with the deliberate crashes (`ktest.crash=KIND`) the test runner boots to
# check fatal-error reports; no other image has them. Cargo keeps both builds of the kernel
# crate (the feature is part of its hash), so switching between them relinks at most.
$(BUILD)/Image-crash-hooks: FORCE
	cargo build --release -p kernel --target $(TARGET) --features crash-hooks
	@mkdir -p $(BUILD)
	$(OBJCOPY) -O binary $(KERNEL_ELF) $@

kernel: deps $(KERNEL_IMG)

# ---- user space and the boot archive -------------------------------------------------------
# Rust programs and libzircon.a are built by cargo for the hard-float bare-metal target (each
# program's build.rs links it with user/user.ld); C programs by the cross gcc against
# libzircon.a. Stripped copies go to build/user/root/ under their archive names, replaced
# only when their content changes, so build/initrd.cpio is rebuilt only when a program
# really changed. Unstripped ELFs (for gdb): target/aarch64-unknown-none/release/* and
# build/user/debug/*.
USER_TARGET  := aarch64-unknown-none
USER_OUT     := target/$(USER_TARGET)/release
USER_BUILD   := $(BUILD)/user
USER_ROOT    := $(USER_BUILD)/root
USER_CC      := aarch64-linux-gnu-gcc
USER_STRIP   := aarch64-linux-gnu-strip
USER_CFLAGS  := -std=c11 -ffreestanding -nostdlib -static -fno-pic -no-pie -O2 -g -Wall -Wextra \
                -mno-outline-atomics -fno-stack-protector -I user/include
USER_LDFLAGS := -Wl,-T,user/user.ld -Wl,-z,max-page-size=4096 -Wl,--gc-sections
USER_LIBS    := $(USER_BUILD)/libzircon.a -lgcc
USER_HEADERS := $(wildcard user/include/zircon/*.h user/include/zircon/*/*.h user/include/zxr/*.h)
# Programs under bin/ in the archive, besides `init`.
USER_RUST_BINS := demo-child conformance-rust fuzz
USER_C_BINS    := hello-c conformance-c bench
INITRD         := $(BUILD)/initrd.cpio
INITRD_NAMES   := init $(addprefix bin/,$(USER_RUST_BINS) $(USER_C_BINS))

# $(call install-if-changed,SRC-ELF,DEST): a stripped copy, replacing DEST only if different.
define install-if-changed
	@mkdir -p $(dir $2)
	@$(USER_STRIP) -o $2.tmp $1
	@if cmp -s $2.tmp $2; then rm -f $2.tmp; else mv $2.tmp $2; echo "  INSTALL $2"; fi
endef

# Cargo knows what is stale; running it is cheap when nothing is.
user-cargo:
	cargo build --release --target $(USER_TARGET) -p libzircon -p init \
		$(addprefix -p ,$(USER_RUST_BINS))

$(USER_BUILD)/libzircon.a: user-cargo
	@mkdir -p $(@D)
	@cmp -s $(USER_OUT)/libzircon.a $@ || cp $(USER_OUT)/libzircon.a $@

$(USER_ROOT)/init: user-cargo
	$(call install-if-changed,$(USER_OUT)/init,$@)

$(addprefix $(USER_ROOT)/bin/,$(USER_RUST_BINS)): $(USER_ROOT)/bin/%: user-cargo
	$(call install-if-changed,$(USER_OUT)/$*,$@)

# One C program from every .c file of a directory.
HELLO_C_SRCS := $(wildcard user/hello-c/*.c)
CONFORMANCE_C_SRCS := $(wildcard tests/conformance-c/*.c)

$(USER_BUILD)/debug/hello-c: $(HELLO_C_SRCS) $(wildcard user/hello-c/*.h)
$(USER_BUILD)/debug/conformance-c: $(CONFORMANCE_C_SRCS) $(wildcard tests/conformance-c/*.h)
$(USER_BUILD)/debug/bench: user/bench/bench.c user/bench/ops-zircon.c user/bench/smp-zircon.c \
                           user/bench/bench.h
$(USER_BUILD)/debug/%: $(USER_HEADERS) $(USER_BUILD)/libzircon.a user/user.ld
	@mkdir -p $(@D)
	$(USER_CC) $(USER_CFLAGS) -o $@ $(filter %.c,$^) $(USER_LDFLAGS) $(USER_LIBS)

$(addprefix $(USER_ROOT)/bin/,$(USER_C_BINS)): $(USER_ROOT)/bin/%: $(USER_BUILD)/debug/%
	$(call install-if-changed,$<,$@)

$(INITRD): $(addprefix $(USER_ROOT)/,$(INITRD_NAMES)) qemu/mkinitrd.sh
	bash qemu/mkinitrd.sh $@ $(USER_ROOT) $(INITRD_NAMES)

user: deps $(addprefix $(USER_ROOT)/,$(INITRD_NAMES))

initrd: deps $(INITRD)

# ---- the Raspberry Pi SD card ----------------------------------------------------------------
# Firmware from Debian's raspi-firmware, the mainline DTBs of qemu/dtb/rpi/, qemu/rpi/config.txt,
# kernel8.img (build/Image) and the boot archive. Flash it with dd or Raspberry Pi Imager.
SDCARD := $(BUILD)/sdcard.img

sdcard: deps $(KERNEL_IMG) $(INITRD)
	bash qemu/mksdcard.sh $(SDCARD) $(KERNEL_IMG) $(INITRD)

ifeq ($(BOARD),virt)
run: deps $(KERNEL_IMG) $(INITRD)
	$(QEMU_RUN) -kernel $(KERNEL_IMG) -initrd $(INITRD)
else ifneq ($(filter rpi3 rpi4,$(BOARD)),)
run: sdcard
	bash qemu/rpi-qemu.sh $(SDCARD) $(BOARD) firmware -semihosting
else
run:
	@echo "unknown BOARD=$(BOARD): use virt, rpi3 or rpi4" >&2; exit 2
endif

# ---- benchmarks -----------------------------------------------------------------------------
# Guest instructions per operation under qemu -icount shift=0: build/bench.json; bench-linux
# runs the same operations on Debian's arm64 Linux and prints both side by side.
bench: deps $(KERNEL_IMG) $(INITRD)
	@bash qemu/bench.sh

# Wall time under multi-threaded TCG at -smp 1 and -smp 2: two threads' throughput on their own
# objects and the ratio between the boots, and a cross-CPU ping-pong (needs a quiet machine).
bench-smp: deps $(KERNEL_IMG) $(INITRD)
	@bash qemu/bench-smp.sh

bench-linux: bench
	@bash qemu/bench-linux.sh

# ---- the system-call fuzzer (user/fuzz) -----------------------------------------------------
# make fuzz SEED=7 CALLS=100000000 ROUNDS=100: as long as asked (10^8 calls is a night), on the
# machine of make run (CPU=, MEM=); prints calls per second per round and ends the emulator
# with 0 only if no round failed. SEED defaults to the time, printed first.
SEED ?= $(shell date +%s)
CALLS ?= 1000000
ROUNDS ?= 10
# `make fuzz KCHECK=kcheck` (or kcheck=N) adds the kernel's invariant checks.
KCHECK ?=
fuzz: deps $(KERNEL_IMG) $(INITRD)
	@echo "make fuzz: SEED=$(SEED) CALLS=$(CALLS) ROUNDS=$(ROUNDS) $(KCHECK)"
	$(QEMU_RUN) -no-reboot -kernel $(KERNEL_IMG) -initrd $(INITRD) \
		-append "$(KCHECK) fuzz $(SEED) $(CALLS) $(ROUNDS)"

# Host tests, then the in-kernel tests across the QEMU matrix. Ends with "N passed, N failed".
test: deps
	@bash qemu/run-tests.sh

test-host: deps
	cargo test

test-qemu: deps
	@bash qemu/run-tests.sh --qemu-only

# Not part of `test`: boots the racing cases (`test only=race_`) over and over for
# STRESS_SECONDS (default 300) on virt with four vCPUs under MTTCG, GICv3 and GICv2
# alternating; stops at the first failed boot (qemu/stress.sh).
STRESS_SECONDS ?= 300
stress: deps
	@STRESS_SECONDS=$(STRESS_SECONDS) bash qemu/stress.sh

# Starts QEMU halted with its gdbstub on :1234 and attaches gdb-multiarch with symbols.
gdb: deps $(KERNEL_IMG) $(INITRD)
	$(QEMU_RUN) -kernel $(KERNEL_IMG) -initrd $(INITRD) -S -s & \
	qemu_pid=$$!; \
	gdb-multiarch -q $(KERNEL_ELF) -ex 'target remote localhost:1234'; \
	kill $$qemu_pid 2>/dev/null || true

clippy:
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p kernel --target $(TARGET) -- -D warnings
	cargo clippy -p kernel --target $(TARGET) --features crash-hooks -- -D warnings
	cargo clippy --target $(USER_TARGET) -p zx -p libzircon -p init -p demo-child -p fuzz -p conformance-rust -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf $(BUILD)

FORCE:
