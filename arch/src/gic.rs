//! Arm Generic Interrupt Controllers. GICv3 goes through the `arm-gic` crate. GICv2 has its
//! own small driver: `arm-gic`'s GICv2 setup and group-1 acknowledge use registers that only
//! Secure software can reach (GICD_CTLR.EnableGrp1, GICC_AIAR), while this kernel runs
//! Non-secure - on the Pi 4's GIC-400, which has the Security Extensions, those accesses
//! would do nothing.

use arm_gic::gicv3::registers::{Gicd, GicrSgi};
use arm_gic::gicv3::{GicCpuInterface, GicV3, SgiTarget, SgiTargetGroup};
use arm_gic::{IntId, InterruptGroup, Trigger, UniqueMmioPointer};
use core::ptr::NonNull;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    GicV2Distributor {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => _reserved0),
        (0x080 => igroupr: [ReadWrite<u32>; 32]),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => _reserved1),
        (0x400 => ipriorityr: [ReadWrite<u32>; 255]),
        (0x7fc => _reserved2),
        (0x800 => itargetsr: [ReadWrite<u32>; 255]),
        (0xbfc => _reserved3),
        (0xc00 => icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved4),
        (0xf00 => sgir: WriteOnly<u32>),
        (0xf04 => _reserved5),
        (0x1000 => @END),
    }
}

register_structs! {
    GicV2CpuInterface {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => pmr: ReadWrite<u32>),
        (0x008 => bpr: ReadWrite<u32>),
        (0x00c => iar: ReadOnly<u32>),
        (0x010 => eoir: WriteOnly<u32>),
        (0x014 => _reserved0),
        (0x1000 => @END),
    }
}

const SPURIOUS: u32 = 1023;
/// Priority given to every interrupt the kernel enables (lower is more urgent).
const DEFAULT_PRIORITY: u8 = 0xa0;

struct GicV2 {
    distributor: &'static GicV2Distributor,
    cpu: &'static GicV2CpuInterface,
    /// Each core's CPU interface bit (by MPIDR Aff0), read from its banked GICD_ITARGETSR0
    /// when it sets itself up; 0 until then.
    interface_bits: [u8; 8],
}

impl GicV2 {
    /// Notes the calling CPU's interface bit (`core`: its MPIDR Aff0): GICD_ITARGETSR0 is
    /// banked, and reads as the reading CPU's own bit in each byte, except on a GIC with one
    /// CPU interface, where it reads as zero: that CPU is interface 0.
    fn note_interface(&mut self, core: usize) {
        if let Some(bit) = self.interface_bits.get_mut(core) {
            let read = (self.distributor.itargetsr[0].get() & 0xff) as u8;
            *bit = if read == 0 { 1 } else { read };
        }
    }

    fn init(&mut self) {
        let lines = ((self.distributor.typer.get() & 0x1f) + 1) * 32;
        // Group 0 when the GIC has a single security state (QEMU virt); in the Non-secure
        // view of a GIC with Security Extensions these writes are ignored and the firmware's
        // group 1 assignment stands.
        for i in 0..(lines / 32) as usize {
            self.distributor.icenabler[i].set(u32::MAX);
            self.distributor.igroupr[i].set(0);
        }
        // Every SPI to CPU 0.
        for i in 8..(lines / 4) as usize {
            self.distributor.itargetsr[i].set(0x0101_0101);
        }
        self.distributor.ctlr.set(1);
        self.cpu.pmr.set(0xff);
        self.cpu.bpr.set(0);
        self.cpu.ctlr.set(1);
    }

    fn enable(&mut self, intid: u32, level_triggered: bool) {
        let index = intid as usize;
        let shift = (index % 4) * 8;
        let priority = &self.distributor.ipriorityr[index / 4];
        priority.set((priority.get() & !(0xff << shift)) | (u32::from(DEFAULT_PRIORITY) << shift));
        if intid >= 32 {
            let config = &self.distributor.icfgr[index / 16];
            let bit = 2 << ((index % 16) * 2);
            let value = if level_triggered {
                config.get() & !bit
            } else {
                config.get() | bit
            };
            config.set(value);
        }
        self.distributor.isenabler[index / 32].set(1 << (index % 32));
    }

    fn acknowledge(&mut self) -> Option<u32> {
        let iar = self.cpu.iar.get();
        let intid = iar & 0x3ff;
        (intid < 1020).then_some(iar)
    }

    fn end(&mut self, iar: u32) {
        self.cpu.eoir.set(iar);
    }
}

pub struct Gic {
    inner: Inner,
}

enum Inner {
    V2(GicV2),
    V3(GicV3<'static>),
}

// SAFETY: the GIC registers are only touched through `&mut Gic`, which the kernel keeps
// behind a lock.
unsafe impl Send for Gic {}

impl Gic {
    /// # Safety
    /// `distributor` and `cpu_interface` must be the virtual addresses of a GICv2's register
    /// frames, mapped as device memory, used by nothing else.
    pub unsafe fn new_v2(distributor: usize, cpu_interface: usize) -> Gic {
        // SAFETY: the caller vouches for the addresses and exclusivity.
        let (distributor, cpu) = unsafe {
            (
                &*(distributor as *const GicV2Distributor),
                &*(cpu_interface as *const GicV2CpuInterface),
            )
        };
        Gic {
            inner: Inner::V2(GicV2 {
                distributor,
                cpu,
                interface_bits: [0; 8],
            }),
        }
    }

    /// # Safety
    /// `distributor` and `redistributors` must be the virtual addresses of a GICv3's
    /// distributor and redistributor region, mapped as device memory, used by nothing else.
    pub unsafe fn new_v3(distributor: usize, redistributors: usize, cpus: usize) -> Option<Gic> {
        let gicd = NonNull::new(distributor as *mut Gicd)?;
        let gicr = NonNull::new(redistributors as *mut GicrSgi)?;
        // SAFETY: the caller vouches for the addresses and exclusivity.
        let gic = unsafe { GicV3::new(UniqueMmioPointer::new(gicd), gicr, cpus.max(1)) }.ok()?;
        Some(Gic {
            inner: Inner::V3(gic),
        })
    }

    pub fn version(&self) -> u8 {
        match self.inner {
            Inner::V2(_) => 2,
            Inner::V3(_) => 3,
        }
    }

    /// Resets the controller for this (the boot) CPU, `core` (its MPIDR Aff0), with every
    /// interrupt disabled.
    pub fn init(&mut self, core: usize) {
        match &mut self.inner {
            Inner::V2(gic) => {
                gic.init();
                gic.note_interface(core);
            }
            Inner::V3(gic) => {
                gic.setup(0);
                GicCpuInterface::set_priority_mask(0xff);
            }
        }
    }

    /// Sets up the CPU interface of the calling CPU, a secondary one (redistributor `cpu` for
    /// GICv3; the banked registers of the calling CPU for GICv2), with every interrupt of its
    /// own disabled; the distributor stays as [`Self::init`] left it.
    pub fn init_secondary(&mut self, cpu: usize) {
        match &mut self.inner {
            Inner::V2(gic) => {
                gic.cpu.pmr.set(0xff);
                gic.cpu.bpr.set(0);
                gic.cpu.ctlr.set(1);
                gic.note_interface(cpu);
            }
            Inner::V3(gic) => {
                gic.init_cpu(cpu);
                GicCpuInterface::enable_group1(true);
                GicCpuInterface::set_priority_mask(0xff);
            }
        }
    }

    /// Enables interrupt `intid` (a GIC INTID: PPIs 16-31, SPIs from 32).
    pub fn enable(&mut self, intid: u32, level_triggered: bool) {
        self.enable_on(intid, level_triggered, 0)
    }

    /// [`Self::enable`]; an SGI or PPI on CPU `cpu` (its redistributor for GICv3; for GICv2
    /// the banked registers of the calling CPU, which must be `cpu`).
    pub fn enable_on(&mut self, intid: u32, level_triggered: bool, cpu: usize) {
        match &mut self.inner {
            Inner::V2(gic) => gic.enable(intid, level_triggered),
            Inner::V3(gic) => {
                let id = if intid < 16 {
                    IntId::sgi(intid)
                } else if intid < 32 {
                    IntId::ppi(intid - 16)
                } else {
                    IntId::spi(intid - 32)
                };
                let cpu = Some(cpu);
                let trigger = if level_triggered {
                    Trigger::Level
                } else {
                    Trigger::Edge
                };
                // Fail only for a CPU without a redistributor, which then gets nothing.
                let _ = gic.set_interrupt_priority(id, cpu, DEFAULT_PRIORITY);
                if intid >= 16 {
                    // An SGI's trigger is fixed (edge).
                    let _ = gic.set_trigger(id, cpu, trigger);
                }
                let _ = gic.enable_interrupt(id, cpu, true);
            }
        }
    }

    /// Sends software-generated interrupt `sgi` (0..=15) to the CPU with MPIDR `mpidr`, which
    /// must have set itself up ([`Self::init`], [`Self::init_secondary`]). False if it cannot
    /// be reached that way.
    pub fn send_sgi(&mut self, sgi: u32, mpidr: u64) -> bool {
        if sgi > 15 {
            return false;
        }
        match &mut self.inner {
            Inner::V2(gic) => {
                let core = (mpidr & 0xff) as usize;
                let bit = gic.interface_bits.get(core).copied().unwrap_or(0);
                if bit == 0 {
                    return false;
                }
                // TargetListFilter 0: the CPUs of the list; NSATT 0; the SGI number.
                gic.distributor.sgir.set(u32::from(bit) << 16 | sgi);
                true
            }
            Inner::V3(_) => {
                let aff0 = (mpidr & 0xff) as u32;
                if aff0 > 15 {
                    return false;
                }
                let target = SgiTarget::List {
                    affinity3: ((mpidr >> 32) & 0xff) as u8,
                    affinity2: ((mpidr >> 16) & 0xff) as u8,
                    affinity1: ((mpidr >> 8) & 0xff) as u8,
                    target_list: 1 << aff0,
                };
                GicCpuInterface::send_sgi(IntId::sgi(sgi), target, SgiTargetGroup::CurrentGroup1)
                    .is_ok()
            }
        }
    }

    /// Takes the highest-priority pending interrupt; returns a token for `end` and its INTID.
    pub fn acknowledge(&mut self) -> Option<(u32, u32)> {
        match &mut self.inner {
            Inner::V2(gic) => gic.acknowledge().map(|iar| (iar, iar & 0x3ff)),
            Inner::V3(_) => GicCpuInterface::get_and_acknowledge_interrupt(InterruptGroup::Group1)
                .map(|id| (u32::from(id), u32::from(id))),
        }
    }

    /// Signals the end of the interrupt `acknowledge` returned `token` for.
    pub fn end(&mut self, token: u32) {
        match &mut self.inner {
            Inner::V2(gic) => gic.end(token),
            Inner::V3(_) => {
                if let Ok(id) = IntId::try_from(token) {
                    GicCpuInterface::end_interrupt(id, InterruptGroup::Group1);
                }
            }
        }
    }
}

/// The spurious INTID, for callers that want to recognise it.
pub const SPURIOUS_INTID: u32 = SPURIOUS;
