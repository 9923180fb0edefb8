//! Device-tree reader: tells the kernel what board it is on.
//!
//! [`BoardInfo::parse`] reads, from the DTB the boot loader passed, the RAM and reserved ranges
//! (and which of them are `no-map`), the initrd and command line, the console UART, the root interrupt controller, the generic
//! timer's interrupts, the CPUs and how to start them, and the PSCI conduit. Every address is a
//! CPU physical address: `reg` values are translated through each ancestor bus's `ranges` (the
//! Raspberry Pi peripherals sit at bus address 0x7e00_0000, which the CPU sees elsewhere).
//!
//! It is pure logic over a byte slice, with no allocation, and returns an error rather than
//! panicking for any input bytes. [`dtb_slice`] is the only `unsafe`: it turns the boot loader's
//! pointer into that slice after checking the header.

mod address;
mod blob;

use core::fmt;
use core::ops::ControlFlow;

use arrayvec::ArrayVec;

use address::{node_region, reg_entries, translate_region, BusRegion};
use blob::{Ancestors, Blob, Node};

pub use blob::HEADER_LEN;

/// A range of CPU physical addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size: u64,
}

/// Why a DTB could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// A null pointer or an empty buffer.
    NoDtb,
    /// The first word is not 0xd00dfeed.
    BadMagic,
    /// A format version this reader does not understand.
    UnsupportedVersion { version: u32, last_compatible: u32 },
    /// The header declares more bytes than are available.
    Truncated { needed: usize, available: usize },
    /// The header's offsets or sizes are inconsistent.
    BadHeader(&'static str),
    /// The structure, a property or a reference is malformed.
    Parse(&'static str),
    /// More entries of some kind than the fixed-size lists hold.
    TooMany(&'static str),
    /// A bus address has no CPU address.
    NotTranslatable(&'static str),
    /// The path given to a lookup helper names no node.
    NoSuchNode,
}

impl fmt::Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtbError::NoDtb => write!(
                f,
                "no device tree was provided (null pointer or empty buffer)"
            ),
            DtbError::BadMagic => {
                write!(
                    f,
                    "the device tree blob does not start with the magic number 0xd00dfeed"
                )
            }
            DtbError::UnsupportedVersion {
                version,
                last_compatible,
            } => write!(
                f,
                "the device tree blob is format version {version} (compatible back to \
                 {last_compatible}), but only version 17 is supported"
            ),
            DtbError::Truncated { needed, available } => write!(
                f,
                "the device tree blob needs {needed} bytes but only {available} are available"
            ),
            DtbError::BadHeader(what) => write!(f, "the device tree header is invalid: {what}"),
            DtbError::Parse(what) => write!(f, "the device tree is malformed: {what}"),
            DtbError::TooMany(what) => {
                write!(
                    f,
                    "the device tree lists more {what} than the kernel has room for"
                )
            }
            DtbError::NotTranslatable(what) => write!(
                f,
                "a device tree address cannot be translated to a CPU address: {what}"
            ),
            DtbError::NoSuchNode => write!(f, "the device tree has no node at the given path"),
        }
    }
}

/// Checks the header of the DTB at the start of `bytes_available` and returns its `totalsize`:
/// the magic, the version, that `totalsize` fits in the bytes available, and that every block
/// lies inside `totalsize`. The structure block itself is checked by [`BoardInfo::parse`].
pub fn validate_header(bytes_available: &[u8]) -> Result<usize, DtbError> {
    blob::parse_header(bytes_available).map(|h| h.totalsize)
}

/// Turns the DTB pointer the boot loader passed (x0 on arm64) into a byte slice covering
/// exactly the blob, after checking its header. `max_len` bounds the blob (the arm64 boot
/// protocol limits it to 2 MiB) and is how much the caller vouches is readable.
///
/// # Safety
///
/// `ptr` must be null or point to memory that is readable for [`HEADER_LEN`] bytes and, if
/// those hold a valid header whose `totalsize` is at most `max_len`, for `totalsize` bytes.
/// That memory must not be written while the returned slice is alive.
pub unsafe fn dtb_slice<'a>(ptr: *const u8, max_len: usize) -> Result<&'a [u8], DtbError> {
    if ptr.is_null() {
        return Err(DtbError::NoDtb);
    }
    if max_len < HEADER_LEN {
        return Err(DtbError::Truncated {
            needed: HEADER_LEN,
            available: max_len,
        });
    }
    // SAFETY: the caller guarantees `ptr` is readable for HEADER_LEN bytes and not written
    // while the slice lives; u8 needs no alignment.
    let header = unsafe { core::slice::from_raw_parts(ptr, HEADER_LEN) };
    // Check the magic and version before trusting totalsize, and bound it by max_len.
    let totalsize = blob::parse_header(header)
        .map(|h| h.totalsize)
        .or_else(|e| match e {
            DtbError::Truncated { needed, .. } if needed <= max_len => Ok(needed),
            DtbError::Truncated { needed, .. } => Err(DtbError::Truncated {
                needed,
                available: max_len,
            }),
            e => Err(e),
        })?;
    // SAFETY: the header is valid and totalsize <= max_len, so the caller guarantees these
    // totalsize bytes are readable and unchanging for 'a.
    let bytes = unsafe { core::slice::from_raw_parts(ptr, totalsize) };
    validate_header(bytes)?;
    Ok(bytes)
}

/// What a console UART is, by its `compatible`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleKind {
    /// "arm,pl011": QEMU virt's UART, the Pi's `uart0`.
    Pl011,
    /// "brcm,bcm2835-aux-uart": the Pi's mini UART (`uart1`).
    Bcm2835Aux,
    Other,
}

/// A UART: the one `/chosen/stdout-path` names, or one of the board's PL011s and mini UARTs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Console<'a> {
    /// For stdout-path's UART, the node's path: the alias's target if stdout-path names an
    /// alias, else stdout-path without its `:options`. For the others, the node's name.
    pub path: &'a str,
    /// The node's first `compatible` string.
    pub compatible: &'a str,
    pub kind: ConsoleKind,
    /// The first `reg` entry, translated.
    pub region: Region,
    /// The input clock, when the first `clocks` entry is a "fixed-clock"; on the Pi it is a
    /// firmware-controlled clock, so None.
    pub clock_hz: Option<u32>,
    /// The node's `status` is "okay" (or absent).
    pub enabled: bool,
}

/// Which UART a Raspberry Pi's firmware put on GPIO 14/15, the header's TX/RX pins (the
/// "primary UART"), as read from the GPIO function select register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderUart {
    /// Function ALT0: TXD0/RXD0, the first PL011 (`uart0`).
    Pl011,
    /// Function ALT5: TXD1/RXD1, the mini UART (`uart1`).
    MiniUart,
}

impl HeaderUart {
    /// Offset of GPFSEL1, which holds the function of GPIO 10-19, in the GPIO block.
    pub const GPFSEL1_OFFSET: u64 = 0x04;

    /// Decodes GPIO 14's 3-bit function field (bits 12-14 of GPFSEL1); None when the pin is
    /// an input, an output or another function (QEMU, which runs no firmware, leaves it an
    /// input).
    pub fn from_gpfsel1(gpfsel1: u32) -> Option<HeaderUart> {
        match (gpfsel1 >> 12) & 0b111 {
            0b100 => Some(HeaderUart::Pl011),
            0b010 => Some(HeaderUart::MiniUart),
            _ => None,
        }
    }
}

/// The root interrupt controller: the one the tree's interrupts end up at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptController {
    GicV2 {
        distributor: Region,
        cpu_interface: Region,
    },
    /// `redistributors` is the first redistributor region.
    GicV3 {
        distributor: Region,
        redistributors: Region,
    },
    /// Raspberry Pi 3: the per-core "brcm,bcm2836-l1-intc" at the root, with the BCM2835
    /// peripheral controller ("brcm,bcm2836-armctrl-ic") chained to it.
    Bcm2836 {
        local: Region,
        peripheral: Option<Region>,
    },
}

/// The ARM generic timer's interrupts, numbered as the root interrupt controller numbers them:
/// GIC INTIDs (PPI n is n + 16), or the BCM2836 local controller's inputs (0 CNTPS, 1 CNTPNS,
/// 2 CNTHP, 3 CNTV).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    pub secure_phys: u32,
    pub nonsecure_phys: u32,
    pub virt: u32,
    pub hyp: u32,
    /// `clock-frequency`, which only broken firmware needs; otherwise read CNTFRQ_EL0.
    pub frequency: Option<u32>,
}

/// How a secondary CPU is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableMethod {
    /// PSCI CPU_ON.
    Psci,
    /// Write the entry point to `release_addr` and send an event (the Pi's firmware stub).
    SpinTable { release_addr: u64 },
    /// Some other enable-method string.
    Other,
    /// No enable-method (QEMU omits it with a single CPU).
    Absent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// `reg`: the MPIDR affinity fields.
    pub mpidr: u64,
    pub enable_method: EnableMethod,
}

/// The PSCI conduit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    Smc,
    Hvc,
}

/// What the kernel needs to know about the board, read from its DTB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardInfo<'a> {
    pub model: Option<&'a str>,
    /// The root's first `compatible` string.
    pub compatible: Option<&'a str>,
    /// RAM: every `reg` entry of every enabled node with device_type "memory", translated,
    /// zero-size entries dropped. Empty if the firmware has not filled in a placeholder.
    pub memory: ArrayVec<Region, 8>,
    /// `/memreserve/` entries, then `/reserved-memory` children with a `reg` (translated).
    /// Size-only (dynamically placed) reservations are not listed.
    pub reserved: ArrayVec<Region, 16>,
    /// The `/reserved-memory` children among those marked `no-map`: memory the OS must not
    /// map at all (firmware may use it with attributes a cacheable alias would break).
    pub no_map: ArrayVec<Region, 16>,
    /// `/chosen` linux,initrd-start .. linux,initrd-end.
    pub initrd: Option<Region>,
    pub bootargs: Option<&'a str>,
    /// `/chosen/rng-seed` and `/chosen/kaslr-seed`: random bytes the firmware or the
    /// emulator put there for the kernel's generator (QEMU's virt fills both, fresh each boot).
    pub rng_seed: Option<&'a [u8]>,
    pub kaslr_seed: Option<&'a [u8]>,
    /// The UART `/chosen/stdout-path` names (whatever its status).
    pub console: Option<Console<'a>>,
    /// Every PL011 and BCM2835 mini UART node, enabled or not, in document order (at most 8).
    pub uarts: ArrayVec<Console<'a>, 8>,
    /// The Raspberry Pi GPIO block ("brcm,bcm2835-gpio" or "brcm,bcm2711-gpio"), whose
    /// function select registers tell which UART the firmware put on the header.
    pub pi_gpio: Option<Region>,
    pub interrupt_controller: Option<InterruptController>,
    pub timer: Option<Timer>,
    pub cpus: ArrayVec<Cpu, 8>,
    pub psci: Option<PsciMethod>,
}

const GIC_V2: &[&str] = &[
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
    "arm,cortex-a5-gic",
    "arm,arm11mp-gic",
    "arm,pl390",
    "arm,gic-v2",
];
const GIC_V3: &[&str] = &["arm,gic-v3"];
const BCM2836_LOCAL: &[&str] = &["brcm,bcm2836-l1-intc"];
const BCM2836_ARMCTRL: &[&str] = &["brcm,bcm2836-armctrl-ic", "brcm,bcm2835-armctrl-ic"];
const TIMER: &[&str] = &["arm,armv8-timer", "arm,armv7-timer"];
const PL011: &[&str] = &["arm,pl011"];
const MINI_UART: &[&str] = &["brcm,bcm2835-aux-uart"];
const PI_GPIO: &[&str] = &["brcm,bcm2835-gpio", "brcm,bcm2711-gpio"];
const PSCI: &[&str] = &["arm,psci", "arm,psci-0.2", "arm,psci-1.0"];

/// Bound on interrupt-parent hops, so a cycle in a corrupt tree cannot loop forever.
const MAX_INTERRUPT_HOPS: usize = 8;

impl<'a> BoardInfo<'a> {
    /// Reads `dtb`, which must start with a DTB (it may extend past `totalsize`).
    pub fn parse(dtb: &'a [u8]) -> Result<BoardInfo<'a>, DtbError> {
        let blob = Blob::new(dtb)?;
        let root = blob
            .root()
            .ok_or(DtbError::Parse("the structure block has no root node"))?;
        let chosen = root.children().find(|c| c.name == "chosen");
        let root_ic = root_interrupt_controller(&blob, &root)?;
        let (reserved, no_map) = reserved(&blob, &root)?;
        Ok(BoardInfo {
            model: root.prop_str("model")?,
            compatible: root.strings("compatible").next(),
            memory: memory(&blob)?,
            reserved,
            no_map,
            initrd: chosen.as_ref().map(initrd).transpose()?.flatten(),
            bootargs: chosen
                .as_ref()
                .map(|c| c.prop_str("bootargs"))
                .transpose()?
                .flatten(),
            rng_seed: chosen.as_ref().and_then(|c| c.prop("rng-seed")),
            kaslr_seed: chosen.as_ref().and_then(|c| c.prop("kaslr-seed")),
            console: chosen
                .as_ref()
                .map(|c| console(&blob, c))
                .transpose()?
                .flatten(),
            uarts: uarts(&blob)?,
            pi_gpio: match blob.find(|n, _| n.is_compatible(PI_GPIO) && n.is_enabled()) {
                Some((node, ancestors)) => node_region(&node, &ancestors, 0)?,
                None => None,
            },
            interrupt_controller: root_ic
                .as_ref()
                .map(|(n, a)| interrupt_controller(&blob, n, a))
                .transpose()?
                .flatten(),
            timer: timer(&blob)?,
            cpus: cpus(&root)?,
            psci: psci(&blob, &root)?,
        })
    }
}

impl<'a> BoardInfo<'a> {
    /// The UART the kernel should print on. `header` is what a Raspberry Pi's GPIO 14 is set
    /// to (see [`HeaderUart`]), read by the caller from the block at [`BoardInfo::pi_gpio`].
    ///
    /// 1. On a Pi, the UART the firmware put on the header pins, whatever the device tree
    ///    says: that is where a user's serial cable is. The mainline DTBs name the mini UART
    ///    in stdout-path, while `dtoverlay=disable-bt` gives the header to the PL011.
    /// 2. Otherwise stdout-path's UART, if it is enabled and a PL011 or mini UART.
    /// 3. Otherwise the first enabled PL011, then the first enabled mini UART.
    pub fn choose_console(&self, header: Option<HeaderUart>) -> Option<Console<'a>> {
        let first = |kind: ConsoleKind, enabled_only: bool| {
            self.uarts
                .iter()
                .filter(|u| u.kind == kind && (u.enabled || !enabled_only))
                .min_by_key(|u| if enabled_only { 0 } else { u.region.base })
                .copied()
        };
        // The header's PL011 is UART0, the one at the lowest address (the Pi 4's UART2-5
        // follow it); the firmware may have enabled it even where the tree says disabled.
        let from_header = match header {
            Some(HeaderUart::Pl011) => first(ConsoleKind::Pl011, false),
            Some(HeaderUart::MiniUart) => first(ConsoleKind::Bcm2835Aux, false),
            None => None,
        };
        let from_stdout = self
            .console
            .filter(|c| c.enabled && c.kind != ConsoleKind::Other);
        from_header
            .or(from_stdout)
            .or_else(|| first(ConsoleKind::Pl011, true))
            .or_else(|| first(ConsoleKind::Bcm2835Aux, true))
    }
}

/// Translates `addr`, an address on the bus that contains the node at `path` (that is, as
/// written in that node's `reg`), to a CPU physical address through every ancestor's `ranges`.
/// `path` is absolute (`/soc/serial@7e201000`) or starts with an alias (`serial0`).
pub fn translate(dtb: &[u8], path: &str, addr: u64) -> Result<u64, DtbError> {
    let blob = Blob::new(dtb)?;
    let (_, ancestors) = blob.find_path(path).ok_or(DtbError::NoSuchNode)?;
    address::translate(
        &ancestors,
        BusRegion {
            base: addr.into(),
            size: 0,
        },
    )
}

/// The `index`th `reg` entry of the node at `path` (as for [`translate`]), translated to CPU
/// addresses; `Ok(None)` if the node has fewer entries.
pub fn reg(dtb: &[u8], path: &str, index: usize) -> Result<Option<Region>, DtbError> {
    let blob = Blob::new(dtb)?;
    let (node, ancestors) = blob.find_path(path).ok_or(DtbError::NoSuchNode)?;
    node_region(&node, &ancestors, index)
}

fn memory(blob: &Blob<'_>) -> Result<ArrayVec<Region, 8>, DtbError> {
    let mut out = ArrayVec::new();
    let result = blob.walk(|node, ancestors| {
        if !(node.is_device_type("memory") && node.is_enabled()) {
            return ControlFlow::Continue(());
        }
        match push_regions(&mut out, &node, ancestors, "memory regions") {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    });
    match result {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Appends every non-empty `reg` entry of `node`, translated.
fn push_regions<const N: usize>(
    out: &mut ArrayVec<Region, N>,
    node: &Node<'_>,
    ancestors: &Ancestors<'_>,
    what: &'static str,
) -> Result<(), DtbError> {
    let parent = ancestors
        .last()
        .ok_or(DtbError::Parse("the root node has a reg property"))?;
    for entry in reg_entries(node, &parent)?.filter(|r| r.size != 0) {
        out.try_push(translate_region(ancestors, entry)?)
            .map_err(|_| DtbError::TooMany(what))?;
    }
    Ok(())
}

/// Reserved ranges (`/memreserve/`, then `/reserved-memory` children with a `reg`), and the
/// subset of the latter marked `no-map`.
type Reserved = (ArrayVec<Region, 16>, ArrayVec<Region, 16>);

fn reserved(blob: &Blob<'_>, root: &Node<'_>) -> Result<Reserved, DtbError> {
    let mut out = ArrayVec::new();
    let mut no_map = ArrayVec::new();
    const WHAT: &str = "reserved memory regions";
    for entry in blob.reservations() {
        let (base, size) = entry?;
        if size != 0 {
            out.try_push(Region { base, size })
                .map_err(|_| DtbError::TooMany(WHAT))?;
        }
    }
    if let Some(rm) = root.children().find(|c| c.name == "reserved-memory") {
        let ancestors =
            Ancestors::of(&[*root, rm]).ok_or(DtbError::Parse("nodes are nested too deeply"))?;
        for child in rm.children().filter(|c| c.is_enabled()) {
            if child.has_prop("no-map") {
                push_regions(&mut no_map, &child, &ancestors, WHAT)?;
            }
            push_regions(&mut out, &child, &ancestors, WHAT)?;
        }
    }
    Ok((out, no_map))
}

fn initrd(chosen: &Node<'_>) -> Result<Option<Region>, DtbError> {
    let start = chosen.prop_u32_or_u64("linux,initrd-start")?;
    let end = chosen.prop_u32_or_u64("linux,initrd-end")?;
    match (start, end) {
        (None, None) => Ok(None),
        (Some(start), Some(end)) if end >= start => Ok(Some(Region {
            base: start,
            size: end - start,
        })),
        (Some(_), Some(_)) => Err(DtbError::Parse(
            "linux,initrd-end is below linux,initrd-start",
        )),
        _ => Err(DtbError::Parse(
            "only one of linux,initrd-start and linux,initrd-end is set",
        )),
    }
}

fn console<'a>(blob: &Blob<'a>, chosen: &Node<'a>) -> Result<Option<Console<'a>>, DtbError> {
    let stdout = match chosen.prop_str("stdout-path")? {
        Some(s) => s,
        None => match chosen.prop_str("linux,stdout-path")? {
            Some(s) => s,
            None => return Ok(None),
        },
    };
    let target = stdout.split(':').next().unwrap_or(stdout);
    // A stdout-path naming nothing (an alias of a board variant, say) is treated as no console:
    // the kernel can still boot, where an error would stop it with nowhere to print why.
    let Some((node, ancestors)) = blob.find_path(target) else {
        return Ok(None);
    };
    let path = if target.starts_with('/') || target.contains('/') {
        target
    } else {
        alias_target(blob, target).unwrap_or(target)
    };
    uart(blob, &node, &ancestors, path).map(Some)
}

fn uart<'a>(
    blob: &Blob<'a>,
    node: &Node<'a>,
    ancestors: &Ancestors<'a>,
    path: &'a str,
) -> Result<Console<'a>, DtbError> {
    let compatible = node.strings("compatible").next().unwrap_or("");
    let kind = if node.is_compatible(PL011) {
        ConsoleKind::Pl011
    } else if node.is_compatible(MINI_UART) {
        ConsoleKind::Bcm2835Aux
    } else {
        ConsoleKind::Other
    };
    let region = node_region(node, ancestors, 0)?
        .ok_or(DtbError::Parse("a UART node has no reg property"))?;
    Ok(Console {
        path,
        compatible,
        kind,
        region,
        clock_hz: fixed_clock_hz(blob, node)?,
        enabled: node.is_enabled(),
    })
}

/// Every PL011 and mini UART; any past the eighth are left out.
fn uarts<'a>(blob: &Blob<'a>) -> Result<ArrayVec<Console<'a>, 8>, DtbError> {
    let mut out = ArrayVec::new();
    let result = blob.walk(|node, ancestors| {
        if !(node.is_compatible(PL011) || node.is_compatible(MINI_UART)) || out.is_full() {
            return ControlFlow::Continue(());
        }
        match uart(blob, &node, ancestors, node.name) {
            Ok(found) => {
                out.push(found);
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(e),
        }
    });
    match result {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn alias_target<'a>(blob: &Blob<'a>, alias: &str) -> Option<&'a str> {
    let aliases = blob.root()?.children().find(|c| c.name == "aliases")?;
    aliases.prop_str(alias).ok()?
}

/// The frequency of `node`'s first clock, if that is a "fixed-clock".
fn fixed_clock_hz(blob: &Blob<'_>, node: &Node<'_>) -> Result<Option<u32>, DtbError> {
    let Some(clocks) = node.prop("clocks") else {
        return Ok(None);
    };
    let Some(phandle) = blob::read_cells(clocks, 0, 1) else {
        return Err(DtbError::Parse(
            "a clocks property is shorter than one cell",
        ));
    };
    let Some((clock, _)) = blob.find_phandle(phandle as u32) else {
        return Ok(None);
    };
    if !clock.is_compatible(&["fixed-clock"]) {
        return Ok(None);
    }
    match clock.prop_u32_or_u64("clock-frequency")? {
        Some(hz) => u32::try_from(hz)
            .map(Some)
            .map_err(|_| DtbError::Parse("a fixed-clock frequency does not fit in 32 bits")),
        None => Err(DtbError::Parse("a fixed-clock has no clock-frequency")),
    }
}

/// The node's interrupt parent: its own `interrupt-parent`, else its nearest ancestor's.
fn interrupt_parent<'a>(
    blob: &Blob<'a>,
    node: &Node<'a>,
    ancestors: &Ancestors<'a>,
) -> Result<Option<(Node<'a>, Ancestors<'a>)>, DtbError> {
    let holder = core::iter::once(*node)
        .chain(ancestors.nearest_first())
        .find_map(|n| {
            n.prop("interrupt-parent")
                .map(|v| (v.len() == 4).then(|| blob::read_cells(v, 0, 1)))
        });
    match holder {
        None => Ok(None),
        Some(Some(Some(phandle))) => {
            blob.find_phandle(phandle as u32)
                .map(Some)
                .ok_or(DtbError::Parse(
                    "an interrupt-parent names a phandle no node has",
                ))
        }
        Some(_) => Err(DtbError::Parse(
            "an interrupt-parent property is not one cell",
        )),
    }
}

/// Follows interrupt-parent links from the root node to the controller that has no parent
/// (or is its own parent). Without a root interrupt-parent, the first interrupt controller
/// that is its own root stands in.
fn root_interrupt_controller<'a>(
    blob: &Blob<'a>,
    root: &Node<'a>,
) -> Result<Option<(Node<'a>, Ancestors<'a>)>, DtbError> {
    let start = match interrupt_parent(blob, root, &Ancestors::of_root(root))? {
        Some(found) => found,
        None => {
            let mut error = None;
            let found = blob.find(|n, ancestors| {
                if !n.has_prop("interrupt-controller") {
                    return false;
                }
                match interrupt_parent(blob, n, ancestors) {
                    Ok(None) => true,
                    Ok(Some((p, _))) => p.same(n),
                    Err(e) => {
                        error.get_or_insert(e);
                        false
                    }
                }
            });
            if let Some(e) = error {
                return Err(e);
            }
            match found {
                Some(found) => found,
                None => return Ok(None),
            }
        }
    };
    let (mut node, mut ancestors) = start;
    for _ in 0..MAX_INTERRUPT_HOPS {
        match interrupt_parent(blob, &node, &ancestors)? {
            None => return Ok(Some((node, ancestors))),
            Some((parent, _)) if parent.same(&node) => return Ok(Some((node, ancestors))),
            Some((parent, parent_ancestors)) => (node, ancestors) = (parent, parent_ancestors),
        }
    }
    Err(DtbError::Parse("the interrupt-parent links form a cycle"))
}

fn interrupt_controller(
    blob: &Blob<'_>,
    node: &Node<'_>,
    ancestors: &Ancestors<'_>,
) -> Result<Option<InterruptController>, DtbError> {
    let region = |i: usize| -> Result<Region, DtbError> {
        node_region(node, ancestors, i)?.ok_or(DtbError::Parse(
            "an interrupt controller has too few reg entries",
        ))
    };
    if node.is_compatible(GIC_V3) {
        Ok(Some(InterruptController::GicV3 {
            distributor: region(0)?,
            redistributors: region(1)?,
        }))
    } else if node.is_compatible(GIC_V2) {
        Ok(Some(InterruptController::GicV2 {
            distributor: region(0)?,
            cpu_interface: region(1)?,
        }))
    } else if node.is_compatible(BCM2836_LOCAL) {
        let peripheral = match blob.find(|n, _| n.is_compatible(BCM2836_ARMCTRL)) {
            Some((n, a)) => node_region(&n, &a, 0)?,
            None => None,
        };
        Ok(Some(InterruptController::Bcm2836 {
            local: region(0)?,
            peripheral,
        }))
    } else {
        Ok(None)
    }
}

fn timer(blob: &Blob<'_>) -> Result<Option<Timer>, DtbError> {
    let Some((node, ancestors)) = blob.find(|n, _| n.is_compatible(TIMER) && n.is_enabled()) else {
        return Ok(None);
    };
    let (controller, _) = interrupt_parent(blob, &node, &ancestors)?
        .ok_or(DtbError::Parse("the timer has no interrupt parent"))?;
    let cells = controller
        .prop_u32("#interrupt-cells")?
        .ok_or(DtbError::Parse(
            "the timer's interrupt controller has no #interrupt-cells",
        ))?;
    let gic = controller.is_compatible(GIC_V2) || controller.is_compatible(GIC_V3);
    let min_cells = if gic {
        3
    } else if controller.is_compatible(BCM2836_LOCAL) {
        1
    } else {
        return Err(DtbError::Parse(
            "the timer's interrupt controller is not a supported kind",
        ));
    };
    if cells < min_cells || cells > 4 {
        return Err(DtbError::Parse(
            "the timer's interrupt controller has unusual #interrupt-cells",
        ));
    }
    let interrupts = node.prop("interrupts").unwrap_or(&[]);
    let stride = cells as usize * 4;
    if !interrupts.len().is_multiple_of(stride) || interrupts.len() / stride < 4 {
        return Err(DtbError::Parse(
            "the timer's interrupts property does not hold 4 interrupts",
        ));
    }
    let mut ids = [0u32; 4];
    for (id, spec) in ids.iter_mut().zip(interrupts.chunks_exact(stride)) {
        let cell = |i: usize| blob::read_cells(spec, i * 4, 1).unwrap_or(0) as u32;
        *id = if gic {
            // GIC specifier: type (0 SPI, 1 PPI), number, flags. INTIDs 0-15 are SGIs.
            let base = match cell(0) {
                0 => 32,
                1 => 16,
                _ => return Err(DtbError::Parse("a timer interrupt has an unknown GIC type")),
            };
            cell(1)
                .checked_add(base)
                .ok_or(DtbError::Parse("a timer interrupt number overflows"))?
        } else {
            cell(0)
        };
    }
    let [secure_phys, nonsecure_phys, virt, hyp] = ids;
    let frequency = node.prop_u32("clock-frequency")?;
    Ok(Some(Timer {
        secure_phys,
        nonsecure_phys,
        virt,
        hyp,
        frequency,
    }))
}

fn cpus(root: &Node<'_>) -> Result<ArrayVec<Cpu, 8>, DtbError> {
    let mut out = ArrayVec::new();
    let Some(cpus) = root.children().find(|c| c.name == "cpus") else {
        return Ok(out);
    };
    let ac = cpus.address_cells()?;
    if !(1..=2).contains(&ac) {
        return Err(DtbError::Parse(
            "/cpus has #address-cells other than 1 or 2",
        ));
    }
    let is_cpu =
        |n: &Node<'_>| n.is_device_type("cpu") || n.name == "cpu" || n.name.starts_with("cpu@");
    for cpu in cpus.children().filter(is_cpu) {
        let reg = cpu
            .prop("reg")
            .ok_or(DtbError::Parse("a CPU node has no reg property"))?;
        if reg.len() != ac as usize * 4 {
            return Err(DtbError::Parse(
                "a CPU node's reg is not one #address-cells address",
            ));
        }
        let mpidr = blob::read_cells(reg, 0, ac).unwrap_or(0) as u64;
        let enable_method = match cpu.prop_str("enable-method")? {
            None => EnableMethod::Absent,
            Some("psci") => EnableMethod::Psci,
            Some("spin-table") => EnableMethod::SpinTable {
                release_addr: cpu
                    .prop_u32_or_u64("cpu-release-addr")?
                    .ok_or(DtbError::Parse("a spin-table CPU has no cpu-release-addr"))?,
            },
            Some(_) => EnableMethod::Other,
        };
        out.try_push(Cpu {
            mpidr,
            enable_method,
        })
        .map_err(|_| DtbError::TooMany("CPUs"))?;
    }
    Ok(out)
}

fn psci(blob: &Blob<'_>, root: &Node<'_>) -> Result<Option<PsciMethod>, DtbError> {
    let node = match root.children().find(|c| c.name == "psci") {
        Some(n) => n,
        None => match blob.find(|n, _| n.is_compatible(PSCI)) {
            Some((n, _)) => n,
            None => return Ok(None),
        },
    };
    match node.prop_str("method")? {
        Some("smc") => Ok(Some(PsciMethod::Smc)),
        Some("hvc") => Ok(Some(PsciMethod::Hvc)),
        Some(_) => Err(DtbError::Parse(
            "the psci method is neither \"smc\" nor \"hvc\"",
        )),
        None => Err(DtbError::Parse("the psci node has no method property")),
    }
}
