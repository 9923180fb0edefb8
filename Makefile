# Build, run and test the kernel. Every target installs what it needs first
# (qemu/install-deps.sh: QEMU 10, the aarch64 cross binutils, rustup targets).

TARGET     := aarch64-unknown-none-softfloat
BUILD      := build
KERNEL_ELF := target/$(TARGET)/release/kernel
KERNEL_IMG := $(BUILD)/Image
TEST_ELF   := target/ktest/$(TARGET)/release/kernel
TEST_IMG   := $(BUILD)/Image-ktest
OBJCOPY    := aarch64-linux-gnu-objcopy

# `make run` options: GIC=2|3, EL=1|2 (EL=2 enters at EL2 like a Pi), CPU, MEM.
GIC ?= 2
EL  ?= 1
CPU ?= cortex-a72
MEM ?= 1G
comma := ,
VIRT_OPTS := virt,gic-version=$(GIC)$(if $(filter 2,$(EL)),$(comma)virtualization=on)
QEMU_RUN := qemu-system-aarch64 -M $(VIRT_OPTS) -cpu $(CPU) -m $(MEM) -nographic -semihosting

.PHONY: all deps kernel run test test-host test-qemu gdb clippy fmt clean FORCE

all: kernel

deps:
	@bash qemu/install-deps.sh

$(KERNEL_IMG): FORCE
	cargo build --release -p kernel --target $(TARGET)
	@mkdir -p $(BUILD)
	$(OBJCOPY) -O binary $(KERNEL_ELF) $@

$(TEST_IMG): FORCE
	cargo build --release -p kernel --target $(TARGET) --features ktest --target-dir target/ktest
	@mkdir -p $(BUILD)
	$(OBJCOPY) -O binary $(TEST_ELF) $@

kernel: deps $(KERNEL_IMG)

run: deps $(KERNEL_IMG)
	$(QEMU_RUN) -kernel $(KERNEL_IMG)

# Host tests, then the in-kernel tests across the QEMU matrix. Ends with "N passed, N failed".
test: deps
	@bash qemu/run-tests.sh

test-host: deps
	cargo test

test-qemu: deps
	@bash qemu/run-tests.sh --qemu-only

# Starts QEMU halted with its gdbstub on :1234 and attaches gdb-multiarch with symbols.
gdb: deps $(KERNEL_IMG)
	$(QEMU_RUN) -kernel $(KERNEL_IMG) -S -s & \
	qemu_pid=$$!; \
	gdb-multiarch -q $(KERNEL_ELF) -ex 'target remote localhost:1234'; \
	kill $$qemu_pid 2>/dev/null || true

clippy:
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p kernel --target $(TARGET) -- -D warnings
	cargo clippy -p kernel --target $(TARGET) --features ktest -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf $(BUILD)

FORCE:
