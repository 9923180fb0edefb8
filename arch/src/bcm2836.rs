//! Raspberry Pi 3 interrupts (BCM2837): the per-core "ARM local" controller of the BCM2836
//! (`brcm,bcm2836-l1-intc`), which takes the generic timers, mailboxes and PMU of each core,
//! with the BCM2835 peripheral controller (`brcm,bcm2836-armctrl-ic`) cascaded into its "GPU"
//! input.
//!
//! Interrupt numbers, chosen to match the device tree's specifiers:
//! - 0..=11: the local controller's sources, as its DT binding numbers them (0 CNTPS, 1 CNTPNS,
//!   2 CNTHP, 3 CNTV, 4-7 mailboxes, 9 PMU); 8 is the cascade and is not a number of its own.
//! - 32 + 32 * bank + n: the peripheral controller's `<bank n>` specifier (bank 0 the "basic"
//!   ARM sources, banks 1 and 2 the 64 GPU sources).
//!
//! Every source is level triggered: a device clears its own request, so there is no
//! end-of-interrupt write.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    LocalRegisters {
        (0x00 => _reserved0),
        (0x0c => gpu_routing: ReadWrite<u32>),
        (0x10 => pmu_routing_set: ReadWrite<u32>),
        (0x14 => pmu_routing_clear: ReadWrite<u32>),
        (0x18 => _reserved1),
        (0x34 => local_timer_control: ReadWrite<u32>),
        (0x38 => _reserved2),
        (0x40 => timer_control: [ReadWrite<u32>; 4]),
        (0x50 => mailbox_control: [ReadWrite<u32>; 4]),
        (0x60 => irq_source: [ReadOnly<u32>; 4]),
        (0x70 => _reserved3),
        // Core n's mailbox m: write-set at 0x80 + 16n + 4m, read and write-clear at
        // 0xc0 + 16n + 4m.
        (0x80 => mailbox_set: [[ReadWrite<u32>; 4]; 4]),
        (0xc0 => mailbox_clear: [[ReadWrite<u32>; 4]; 4]),
        (0x100 => @END),
    }
}

register_structs! {
    PeripheralRegisters {
        (0x00 => pending: [ReadOnly<u32>; 3]),
        (0x0c => fiq_control: ReadWrite<u32>),
        (0x10 => enable: [ReadWrite<u32>; 3]),
        (0x1c => disable: [ReadWrite<u32>; 3]),
        (0x28 => @END),
    }
}

/// Where bank N sits among the enable and disable registers: banks 1 and 2 come first there
/// (the pending registers are in bank order).
const BANK_REGISTER: [usize; 3] = [2, 0, 1];
/// The local source that carries the peripheral controller's output.
const GPU_CASCADE: u32 = 8;
/// In the basic bank only bits 0-7 are sources of their own; the rest mirror banks 1 and 2.
const BASIC_SOURCES: u32 = 0xff;
/// The first number of the peripheral controller's interrupts.
pub const PERIPHERAL_BASE: u32 = 32;
const LAST_PERIPHERAL: u32 = PERIPHERAL_BASE + 3 * 32 - 1;

pub struct Bcm2836 {
    local: &'static LocalRegisters,
    peripheral: Option<&'static PeripheralRegisters>,
    /// The core interrupts are taken on (MPIDR affinity 0: cores 0-3).
    core: usize,
    /// Enabled peripheral sources per bank, so a pending bit of a disabled source is ignored.
    enabled: [u32; 3],
}

// SAFETY: the registers are only reached through `&mut Bcm2836`, which the kernel keeps
// behind a lock.
unsafe impl Send for Bcm2836 {}

impl Bcm2836 {
    /// # Safety
    /// `local` must be the virtual address of the ARM local registers (0x100 bytes)
    /// and `peripheral`, if given, that of the BCM2835 interrupt registers (0x28 bytes), both
    /// mapped as device memory and used by nothing else.
    pub unsafe fn new(local: usize, peripheral: Option<usize>, core: usize) -> Option<Bcm2836> {
        if local == 0 || peripheral == Some(0) || core > 3 {
            return None;
        }
        // SAFETY: the caller vouches for the addresses and exclusivity.
        let (local, peripheral) = unsafe {
            (
                &*(local as *const LocalRegisters),
                peripheral.map(|p| &*(p as *const PeripheralRegisters)),
            )
        };
        Some(Bcm2836 {
            local,
            peripheral,
            core,
            enabled: [0; 3],
        })
    }

    /// Starts with every source disabled and peripheral interrupts routed to this core. The
    /// timer prescaler and clock source are left as the firmware set them: they define the
    /// counter frequency the firmware wrote to CNTFRQ_EL0.
    pub fn init(&mut self) {
        for core in 0..4 {
            self.local.timer_control[core].set(0);
            self.local.mailbox_control[core].set(0);
        }
        self.local.pmu_routing_clear.set(0xff);
        // Bit 28 enables the local timer, bit 29 its interrupt.
        self.local.local_timer_control.set(0);
        // IRQ to this core (bits 1:0); FIQ to core 0 (bits 3:2), unused.
        self.local.gpu_routing.set(self.core as u32);
        if let Some(peripheral) = self.peripheral {
            peripheral.fiq_control.set(0);
            for disable in &peripheral.disable {
                disable.set(u32::MAX);
            }
        }
        self.enabled = [0; 3];
    }

    /// Enables interrupt `irq` (numbered as in the module comment). Numbers this controller
    /// does not have are ignored; the result says whether it was enabled.
    pub fn enable(&mut self, irq: u32) -> bool {
        self.enable_on(irq, self.core)
    }

    /// [`Self::enable`] for core `core` (0..=3): a local source (timers, mailboxes) of that
    /// core; the peripheral controller's sources go to the core `init` chose whatever `core`.
    pub fn enable_on(&mut self, irq: u32, core: usize) -> bool {
        if core > 3 {
            return false;
        }
        match irq {
            0..=3 => {
                let control = &self.local.timer_control[core];
                control.set(control.get() | 1 << irq);
                true
            }
            4..=7 => {
                let control = &self.local.mailbox_control[core];
                control.set(control.get() | 1 << (irq - 4));
                true
            }
            9 => {
                self.local.pmu_routing_set.set(1 << self.core);
                true
            }
            PERIPHERAL_BASE..=LAST_PERIPHERAL => {
                let Some(peripheral) = self.peripheral else {
                    return false;
                };
                let bank = ((irq - PERIPHERAL_BASE) / 32) as usize;
                let bit = 1 << ((irq - PERIPHERAL_BASE) % 32);
                if bank == 0 && bit & BASIC_SOURCES == 0 {
                    return false;
                }
                self.enabled[bank] |= bit;
                peripheral.enable[BANK_REGISTER[bank]].set(bit);
                true
            }
            _ => false,
        }
    }

    /// Sets the bits `bits` of mailbox `mailbox` (0..=3) of core `core` (0..=3): its
    /// interrupt (local source 4 + `mailbox`) stays pending on that core until they are
    /// cleared. False for a core or mailbox that does not exist.
    pub fn send_mailbox(&mut self, core: usize, mailbox: usize, bits: u32) -> bool {
        match self
            .local
            .mailbox_set
            .get(core)
            .and_then(|m| m.get(mailbox))
        {
            Some(register) => {
                register.set(bits);
                true
            }
            None => false,
        }
    }

    /// Clears every bit of mailbox `mailbox` of core `core` (its interrupt is then no longer
    /// pending).
    pub fn clear_mailbox(&mut self, core: usize, mailbox: usize) {
        if let Some(register) = self
            .local
            .mailbox_clear
            .get(core)
            .and_then(|m| m.get(mailbox))
        {
            register.set(u32::MAX);
        }
    }

    /// The pending interrupt to handle first, if any: local sources (the timers first), then
    /// the peripheral controller's.
    pub fn pending(&mut self) -> Option<u32> {
        self.pending_on(self.core)
    }

    /// [`Self::pending`] as core `core` (0..=3) sees it: its own local sources, and the
    /// peripheral controller's if they are routed to it.
    pub fn pending_on(&mut self, core: usize) -> Option<u32> {
        let source = self.local.irq_source.get(core)?.get() & 0xfff;
        let local = source & !(1 << GPU_CASCADE);
        if local != 0 {
            return Some(local.trailing_zeros());
        }
        if source & (1 << GPU_CASCADE) == 0 {
            return None;
        }
        let peripheral = self.peripheral?;
        (0..3).find_map(|bank| {
            let pending = peripheral.pending[bank].get() & self.enabled[bank];
            (pending != 0).then(|| PERIPHERAL_BASE + 32 * bank as u32 + pending.trailing_zeros())
        })
    }
}
