//! The device-tree reader against real DTBs: QEMU virt dumps, Debian's Raspberry Pi DTBs and
//! QEMU's raspi dumps (qemu/dtb/, made by qemu/dump-dtbs.sh and qemu/fetch-pi-dtbs.sh).
//!
//! Every expected value was read from `dtc -I dtb -O dts` output of the fixture, not from this
//! reader; the comment by each group says which properties it comes from.

use arch::devicetree::{
    reg, translate, validate_header, BoardInfo, Console, ConsoleKind, Cpu, DtbError, EnableMethod,
    HeaderUart, InterruptController, PsciMethod, Region, Timer,
};

macro_rules! dtb {
    ($name:literal) => {
        include_bytes!(concat!("../../qemu/dtb/", $name, ".dtb")).as_slice()
    };
}

const MIB: u64 = 1 << 20;

fn r(base: u64, size: u64) -> Region {
    Region { base, size }
}

// ---------------------------------------------------------------------------------------------
// QEMU virt

struct Virt {
    bytes: &'static [u8],
    gic: u8,
    el2: bool,
    ram: u64,
}

/// All 24 combinations dumped with -smp 4. The CPU model does not change anything the reader
/// looks at; it is in the set to show that.
fn virt_fixtures() -> [Virt; 24] {
    macro_rules! v {
        ($name:literal, $gic:expr, $el2:expr, $ram:expr) => {
            Virt {
                bytes: dtb!($name),
                gic: $gic,
                el2: $el2,
                ram: $ram,
            }
        };
    }
    [
        v!("virt-gicv2-el1-a53-128M", 2, false, 128 * MIB),
        v!("virt-gicv2-el1-a53-2G", 2, false, 2048 * MIB),
        v!("virt-gicv2-el1-a72-128M", 2, false, 128 * MIB),
        v!("virt-gicv2-el1-a72-2G", 2, false, 2048 * MIB),
        v!("virt-gicv2-el1-max-128M", 2, false, 128 * MIB),
        v!("virt-gicv2-el1-max-2G", 2, false, 2048 * MIB),
        v!("virt-gicv2-el2-a53-128M", 2, true, 128 * MIB),
        v!("virt-gicv2-el2-a53-2G", 2, true, 2048 * MIB),
        v!("virt-gicv2-el2-a72-128M", 2, true, 128 * MIB),
        v!("virt-gicv2-el2-a72-2G", 2, true, 2048 * MIB),
        v!("virt-gicv2-el2-max-128M", 2, true, 128 * MIB),
        v!("virt-gicv2-el2-max-2G", 2, true, 2048 * MIB),
        v!("virt-gicv3-el1-a53-128M", 3, false, 128 * MIB),
        v!("virt-gicv3-el1-a53-2G", 3, false, 2048 * MIB),
        v!("virt-gicv3-el1-a72-128M", 3, false, 128 * MIB),
        v!("virt-gicv3-el1-a72-2G", 3, false, 2048 * MIB),
        v!("virt-gicv3-el1-max-128M", 3, false, 128 * MIB),
        v!("virt-gicv3-el1-max-2G", 3, false, 2048 * MIB),
        v!("virt-gicv3-el2-a53-128M", 3, true, 128 * MIB),
        v!("virt-gicv3-el2-a53-2G", 3, true, 2048 * MIB),
        v!("virt-gicv3-el2-a72-128M", 3, true, 128 * MIB),
        v!("virt-gicv3-el2-a72-2G", 3, true, 2048 * MIB),
        v!("virt-gicv3-el2-max-128M", 3, true, 128 * MIB),
        v!("virt-gicv3-el2-max-2G", 3, true, 2048 * MIB),
    ]
}

// From the virt dumps:
//   /pl011@9000000: reg = <0x00 0x9000000 0x00 0x1000>, clocks = <0x8000 0x8000>, and
//   /apb-pclk (phandle 0x8000): "fixed-clock", clock-frequency = <0x16e3600> (24 MHz);
//   /chosen: stdout-path = "/pl011@9000000".
const VIRT_CONSOLE: Console<'static> = Console {
    path: "/pl011@9000000",
    compatible: "arm,pl011",
    kind: ConsoleKind::Pl011,
    region: Region {
        base: 0x0900_0000,
        size: 0x1000,
    },
    clock_hz: Some(24_000_000),
    enabled: true,
};

// /timer: interrupts = <0x01 0x0d .. 0x01 0x0e .. 0x01 0x0b .. 0x01 0x0a ..>: PPIs 13, 14, 11,
// 10, i.e. INTIDs 29, 30, 27, 26; no clock-frequency. The Pi 4 has the same PPIs.
const GIC_TIMER: Timer = Timer {
    secure_phys: 29,
    nonsecure_phys: 30,
    virt: 27,
    hyp: 26,
    frequency: None,
};

#[test]
fn virt_all_variants() {
    for (i, v) in virt_fixtures().iter().enumerate() {
        let info = BoardInfo::parse(v.bytes).unwrap_or_else(|e| panic!("fixture {i}: {e}"));
        // / model and compatible = "linux,dummy-virt".
        assert_eq!(info.model, Some("linux,dummy-virt"), "fixture {i}");
        assert_eq!(info.compatible, Some("linux,dummy-virt"), "fixture {i}");
        // memory@40000000: reg = <0x00 0x40000000 0x00 (-m size)>.
        assert_eq!(
            info.memory.as_slice(),
            &[r(0x4000_0000, v.ram)],
            "fixture {i}"
        );
        // No /memreserve/ and no /reserved-memory.
        assert!(info.reserved.is_empty(), "fixture {i}");
        assert!(info.no_map.is_empty(), "fixture {i}");
        // /chosen has only stdout-path and the random seeds without -kernel.
        assert_eq!(info.initrd, None, "fixture {i}");
        assert_eq!(info.bootargs, None, "fixture {i}");
        assert_eq!(info.console, Some(VIRT_CONSOLE), "fixture {i}");
        // intc@8000000 reg: GICv2 <0x8000000 0x10000 0x8010000 0x10000 (+ GICH/GICV at EL2)>,
        // GICv3 <0x8000000 0x10000 0x80a0000 0xf60000>.
        let gic = if v.gic == 2 {
            InterruptController::GicV2 {
                distributor: r(0x0800_0000, 0x1_0000),
                cpu_interface: r(0x0801_0000, 0x1_0000),
            }
        } else {
            InterruptController::GicV3 {
                distributor: r(0x0800_0000, 0x1_0000),
                redistributors: r(0x080a_0000, 0xf6_0000),
            }
        };
        assert_eq!(info.interrupt_controller, Some(gic), "fixture {i}");
        assert_eq!(info.timer, Some(GIC_TIMER), "fixture {i}");
        // cpu@0..cpu@3: reg = <0..3>, enable-method = "psci".
        let cpus: Vec<Cpu> = (0..4)
            .map(|mpidr| Cpu {
                mpidr,
                enable_method: EnableMethod::Psci,
            })
            .collect();
        assert_eq!(info.cpus.as_slice(), cpus.as_slice(), "fixture {i}");
        // /psci method: "hvc" with virtualization=off, "smc" with virtualization=on (QEMU
        // emulates EL2 then, so the guest's PSCI calls go to the EL3 firmware QEMU models).
        let psci = if v.el2 {
            PsciMethod::Smc
        } else {
            PsciMethod::Hvc
        };
        assert_eq!(info.psci, Some(psci), "fixture {i}");
    }
}

#[test]
fn virt_booted_with_initrd() {
    // Dumped as QEMU wrote it (-smp 1 -kernel -initrd -append): totalsize is the whole 1 MiB
    // buffer QEMU builds the tree in.
    let dtb = dtb!("virt-gicv3-el1-a72-128M-initrd");
    assert_eq!(validate_header(dtb), Ok(0x10_0000));
    let info = BoardInfo::parse(dtb).unwrap();
    assert_eq!(info.memory.as_slice(), &[r(0x4000_0000, 128 * MIB)]);
    // /chosen: linux,initrd-start = <0x00 0x44000000>, linux,initrd-end = <0x00 0x44001000>
    // (the 4 KiB dummy initrd), bootargs = "console=ttyAMA0 test=1".
    assert_eq!(info.initrd, Some(r(0x4400_0000, 0x1000)));
    assert_eq!(info.bootargs, Some("console=ttyAMA0 test=1"));
    assert_eq!(info.console, Some(VIRT_CONSOLE));
    // A single cpu@0 without enable-method: QEMU only adds it when there are several CPUs.
    assert_eq!(
        info.cpus.as_slice(),
        &[Cpu {
            mpidr: 0,
            enable_method: EnableMethod::Absent
        }]
    );
    assert_eq!(info.psci, Some(PsciMethod::Hvc));
    assert_eq!(info.timer, Some(GIC_TIMER));
}

#[test]
fn virt_with_no_map_reserved_memory() {
    // QEMU's virt DTB with qemu/no-map.dtsi merged in (what run-tests.sh boots some virt
    // configurations with): /reserved-memory with 2-cell addresses and sizes, `ranges` empty;
    // no-map@42001000 reg = <0x00 0x42001000 0x00 0x3000>, no-map;
    // no-map@42200000 reg = <0x00 0x42200000 0x00 0x200000>, no-map;
    // reserved@42600000 reg = <0x00 0x42600000 0x00 0x1000> (no no-map).
    let info = BoardInfo::parse(dtb!("virt-gicv2-el1-a72-2G-no-map")).unwrap();
    assert_eq!(info.memory.as_slice(), &[r(0x4000_0000, 2048 * MIB)]);
    assert_eq!(
        info.reserved.as_slice(),
        &[
            r(0x4200_1000, 0x3000),
            r(0x4220_0000, 0x20_0000),
            r(0x4260_0000, 0x1000)
        ]
    );
    assert_eq!(
        info.no_map.as_slice(),
        &[r(0x4200_1000, 0x3000), r(0x4220_0000, 0x20_0000)]
    );
    assert_eq!(info.console, Some(VIRT_CONSOLE));
}

#[test]
fn virt_translate_is_identity_at_root() {
    let dtb = dtb!("virt-gicv2-el1-a53-128M");
    assert_eq!(
        translate(dtb, "/pl011@9000000", 0x0900_0000),
        Ok(0x0900_0000)
    );
    assert_eq!(reg(dtb, "serial0", 0), Ok(Some(r(0x0900_0000, 0x1000))));
    assert_eq!(reg(dtb, "serial0", 1), Ok(None));
    // intc@8000000 has empty `ranges`, so its v2m@8020000 child maps 1:1.
    assert_eq!(
        reg(dtb, "/intc/v2m@8020000", 0),
        Ok(Some(r(0x0802_0000, 0x1000)))
    );
    // /cpus has no ranges: a CPU's reg is an MPIDR, not an address.
    assert!(matches!(
        translate(dtb, "/cpus/cpu@1", 1),
        Err(DtbError::NotTranslatable(_))
    ));
    assert_eq!(
        translate(dtb, "/no-such-node", 0),
        Err(DtbError::NoSuchNode)
    );
}

// ---------------------------------------------------------------------------------------------
// Raspberry Pi 3 family (BCM2837)

// /soc: #address-cells = <1>, ranges = <0x7e000000 0x3f000000 0x1000000
// 0x40000000 0x40000000 0x1000>.
// local_intc@40000000 ("brcm,bcm2836-l1-intc", reg = <0x40000000 0x100>, interrupt-parent is
// itself) is the root controller; / interrupt-parent -> interrupt-controller@7e00b200
// ("brcm,bcm2836-armctrl-ic", reg = <0x7e00b200 0x200>) -> local_intc.
const PI3_INTC: InterruptController = InterruptController::Bcm2836 {
    local: Region {
        base: 0x4000_0000,
        size: 0x100,
    },
    peripheral: Some(Region {
        base: 0x3f00_b200,
        size: 0x200,
    }),
};
// /timer: interrupt-parent = local_intc, interrupts = <0 4 1 4 3 4 2 4>.
const PI3_TIMER: Timer = Timer {
    secure_phys: 0,
    nonsecure_phys: 1,
    virt: 3,
    hyp: 2,
    frequency: None,
};

/// cpu@0..3: reg = <0..3>, enable-method = "spin-table", cpu-release-addr = <0x00 0xd8>,
/// 0xe0, 0xe8, 0xf0. Same on every Pi DTB.
fn pi_cpus() -> Vec<Cpu> {
    [0xd8, 0xe0, 0xe8, 0xf0]
        .iter()
        .enumerate()
        .map(|(i, &a)| Cpu {
            mpidr: i as u64,
            enable_method: EnableMethod::SpinTable { release_addr: a },
        })
        .collect()
}

/// stdout-path = "serial1:115200n8" on every Pi DTB; aliases: serial1 =
/// "/soc/serial@7e215040" (the mini UART, reg = <0x7e215040 0x40>, clocked by the aux block,
/// not a fixed-clock); serial0 = "/soc/serial@7e201000" (the PL011, reg = <0x7e201000 0x200>).
fn pi_console(peripheral_base: u64) -> Console<'static> {
    Console {
        path: "/soc/serial@7e215040",
        compatible: "brcm,bcm2835-aux-uart",
        kind: ConsoleKind::Bcm2835Aux,
        region: r(peripheral_base + 0x21_5040, 0x40),
        clock_hz: None,
        enabled: true,
    }
}

fn check_pi(dtb: &[u8], model: &str, compatible: &str, memory: &[Region], peripherals: u64) {
    let info = BoardInfo::parse(dtb).unwrap_or_else(|e| panic!("{model}: {e}"));
    assert_eq!(info.model, Some(model));
    assert_eq!(info.compatible, Some(compatible));
    assert_eq!(info.memory.as_slice(), memory, "{model}");
    // /memreserve/ 0x0 0x1000 (the firmware's spin-table stub); /reserved-memory only has the
    // size-only linux,cma pool (and on the Pi 4 a disabled, zero-size, no-map nvram@0): so
    // nothing is no-map.
    assert_eq!(info.reserved.as_slice(), &[r(0, 0x1000)], "{model}");
    assert!(info.no_map.is_empty(), "{model}");
    assert_eq!(info.initrd, None);
    assert_eq!(info.bootargs, None);
    assert_eq!(info.console, Some(pi_console(peripherals)), "{model}");
    assert_eq!(info.cpus.as_slice(), pi_cpus().as_slice(), "{model}");
    assert_eq!(info.psci, None, "{model}");
    check_pi_console_choice(&info, model, peripherals);

    // The PL011 (uart0) is not the console in these DTBs; check its translation anyway since
    // it is the UART QEMU's raspi machines connect to -serial.
    assert_eq!(
        translate(dtb, "serial0", 0x7e20_1000),
        Ok(peripherals + 0x20_1000),
        "{model}"
    );
    assert_eq!(
        translate(dtb, "/soc/serial@7e201000", 0x7e20_1000),
        Ok(peripherals + 0x20_1000)
    );
    assert_eq!(
        reg(dtb, "serial0", 0),
        Ok(Some(r(peripherals + 0x20_1000, 0x200))),
        "{model}"
    );
    // serial0/bluetooth is a child of the UART without reg; the UART node has no ranges.
    assert!(matches!(
        reg(dtb, "serial0/bluetooth", 0),
        Ok(None) | Err(DtbError::NoSuchNode)
    ));
    // The bus address 0x80000000 is outside every soc ranges window.
    assert!(matches!(
        translate(dtb, "/soc/serial@7e201000", 0x8000_0000),
        Err(DtbError::NotTranslatable(_))
    ));
}

/// The UARTs and the console choice. gpio@7e200000 (reg = <0x7e200000 0xb4>) is the GPIO block;
/// serial@7e201000 (uart0, PL011) and serial@7e215040 (uart1, mini UART) are enabled; the Pi 4
/// adds PL011s uart2-5 at 0x7e201400, 0x7e201600, 0x7e201800 and 0x7e201a00, all disabled.
fn check_pi_console_choice(info: &BoardInfo<'_>, model: &str, peripherals: u64) {
    assert_eq!(
        info.pi_gpio,
        Some(r(peripherals + 0x20_0000, 0xb4)),
        "{model}"
    );
    let pl011 = info
        .uarts
        .iter()
        .find(|u| u.region.base == peripherals + 0x20_1000)
        .copied()
        .unwrap_or_else(|| panic!("{model}: uart0 missing from {:?}", info.uarts));
    assert_eq!(pl011.kind, ConsoleKind::Pl011);
    assert_eq!(pl011.region.size, 0x200);
    assert!(pl011.enabled);
    assert_eq!(pl011.clock_hz, None, "a firmware clock, not a fixed-clock");
    let mini = pi_console(peripherals);
    assert!(info
        .uarts
        .iter()
        .any(|u| u.region == mini.region && u.kind == ConsoleKind::Bcm2835Aux && u.enabled));
    let extra: Vec<_> = info
        .uarts
        .iter()
        .filter(|u| u.region != mini.region && u.region != pl011.region)
        .collect();
    if peripherals == 0xfe00_0000 {
        let bases: Vec<u64> = extra.iter().map(|u| u.region.base).collect();
        let expected: Vec<u64> = [0x20_1400, 0x20_1600, 0x20_1800, 0x20_1a00]
            .iter()
            .map(|o| peripherals + o)
            .collect();
        assert_eq!(bases, expected, "{model}");
        assert!(extra
            .iter()
            .all(|u| !u.enabled && u.kind == ConsoleKind::Pl011));
    } else {
        assert!(extra.is_empty(), "{model}: {extra:?}");
    }

    // GPIO 14 at ALT0: the firmware gave the header to the PL011 (dtoverlay=disable-bt).
    let console = info.choose_console(Some(HeaderUart::Pl011)).unwrap();
    assert_eq!(
        (console.kind, console.region),
        (ConsoleKind::Pl011, pl011.region)
    );
    // At ALT5: the mini UART, the mainline DTBs' stdout-path.
    let console = info.choose_console(Some(HeaderUart::MiniUart)).unwrap();
    assert_eq!(console.region, mini.region, "{model}");
    // No firmware (QEMU): stdout-path.
    assert_eq!(info.choose_console(None), Some(mini), "{model}");
}

fn check_pi3(dtb: &[u8], model: &str, compatible: &str, memory: &[Region]) {
    check_pi(dtb, model, compatible, memory, 0x3f00_0000);
    let info = BoardInfo::parse(dtb).unwrap();
    assert_eq!(info.interrupt_controller, Some(PI3_INTC), "{model}");
    assert_eq!(info.timer, Some(PI3_TIMER), "{model}");
}

#[test]
fn pi3b() {
    // memory@0: reg = <0x00 0x40000000>.
    check_pi3(
        dtb!("rpi/bcm2837-rpi-3-b"),
        "Raspberry Pi 3 Model B",
        "raspberrypi,3-model-b",
        &[r(0, 0x4000_0000)],
    );
}

#[test]
fn pi3b_plus() {
    check_pi3(
        dtb!("rpi/bcm2837-rpi-3-b-plus"),
        "Raspberry Pi 3 Model B+",
        "raspberrypi,3-model-b-plus",
        &[r(0, 0x4000_0000)],
    );
}

#[test]
fn pi3a_plus() {
    // memory@0: reg = <0x00 0x20000000> (512 MiB board).
    check_pi3(
        dtb!("rpi/bcm2837-rpi-3-a-plus"),
        "Raspberry Pi 3 Model A+",
        "raspberrypi,3-model-a-plus",
        &[r(0, 0x2000_0000)],
    );
}

#[test]
fn pi_zero_2_w() {
    check_pi3(
        dtb!("rpi/bcm2837-rpi-zero-2-w"),
        "Raspberry Pi Zero 2 W",
        "raspberrypi,model-zero-2-w",
        &[r(0, 0x2000_0000)],
    );
}

#[test]
fn qemu_raspi3b() {
    // QEMU rewrote memory@0 as reg = <0x00 0x3c000000>: 1 GiB less the 64 MiB it gives the
    // VideoCore. Everything else the reader uses is unchanged.
    check_pi3(
        dtb!("raspi3b-qemu"),
        "Raspberry Pi 3 Model B",
        "raspberrypi,3-model-b",
        &[r(0, 0x3c00_0000)],
    );
}

// ---------------------------------------------------------------------------------------------
// Raspberry Pi 4 family (BCM2711)

// /soc ranges = <0x7e000000 0x00 0xfe000000 0x1800000 0x7c000000 0x00 0xfc000000 0x2000000
// 0x40000000 0x00 0xff800000 0x800000>; interrupt-controller@40041000 ("arm,gic-400",
// reg = <0x40041000 0x1000 0x40042000 0x2000 ...>) is / interrupt-parent.
const PI4_GIC: InterruptController = InterruptController::GicV2 {
    distributor: Region {
        base: 0xff84_1000,
        size: 0x1000,
    },
    cpu_interface: Region {
        base: 0xff84_2000,
        size: 0x2000,
    },
};

fn check_pi4(dtb: &[u8], model: &str, compatible: &str, memory: &[Region]) {
    check_pi(dtb, model, compatible, memory, 0xfe00_0000);
    let info = BoardInfo::parse(dtb).unwrap();
    assert_eq!(info.interrupt_controller, Some(PI4_GIC), "{model}");
    // /timer: interrupts = <0x01 0x0d 0xf08 0x01 0x0e 0xf08 0x01 0x0b 0xf08 0x01 0x0a 0xf08>.
    assert_eq!(info.timer, Some(GIC_TIMER), "{model}");
    // local_intc@40000000 exists (reg only, not an interrupt controller here) at 0xff800000.
    assert_eq!(
        reg(dtb, "/soc/local_intc", 0),
        Ok(Some(r(0xff80_0000, 0x100)))
    );
}

// The mainline Pi 4 DTBs carry a placeholder memory@0 with reg = <0x00 0x00 0x00> for the
// firmware to fill in, so the reader reports no RAM for them.
#[test]
fn pi4b() {
    check_pi4(
        dtb!("rpi/bcm2711-rpi-4-b"),
        "Raspberry Pi 4 Model B",
        "raspberrypi,4-model-b",
        &[],
    );
}

#[test]
fn pi400() {
    check_pi4(
        dtb!("rpi/bcm2711-rpi-400"),
        "Raspberry Pi 400",
        "raspberrypi,400",
        &[],
    );
}

#[test]
fn pi_cm4_io() {
    check_pi4(
        dtb!("rpi/bcm2711-rpi-cm4-io"),
        "Raspberry Pi Compute Module 4 IO Board",
        "raspberrypi,4-compute-module",
        &[],
    );
}

#[test]
fn qemu_raspi4b() {
    // QEMU filled memory@0 with reg = <0x00 0x00 0x3c000000> (only the low GiB less the
    // VideoCore's share, although the machine has 2 GiB), and dropped PCIe, GENET, RNG and
    // thermal nodes it does not model.
    check_pi4(
        dtb!("raspi4b-qemu"),
        "Raspberry Pi 4 Model B",
        "raspberrypi,4-model-b",
        &[r(0, 0x3c00_0000)],
    );
}

// ---------------------------------------------------------------------------------------------
// Header checks and errors on real blobs

#[test]
fn header_totalsize() {
    // totalsize from the headers (`fdtdump`/od): the repacked virt dumps are their file size.
    let dtb = dtb!("virt-gicv2-el1-a53-128M");
    assert_eq!(validate_header(dtb), Ok(dtb.len()));
    let pi = dtb!("rpi/bcm2837-rpi-3-b");
    assert_eq!(validate_header(pi), Ok(pi.len()));
    // Bytes after totalsize are fine: the kernel passes a window larger than the blob.
    let mut padded = pi.to_vec();
    padded.extend_from_slice(&[0xff; 4096]);
    assert_eq!(validate_header(&padded), Ok(pi.len()));
    assert_eq!(BoardInfo::parse(&padded), BoardInfo::parse(pi));
}

#[test]
fn errors_on_missing_or_corrupt_blobs() {
    let dtb = dtb!("rpi/bcm2711-rpi-4-b");
    assert_eq!(BoardInfo::parse(&[]), Err(DtbError::NoDtb));
    assert_eq!(validate_header(&[]), Err(DtbError::NoDtb));
    assert_eq!(BoardInfo::parse(&[0u8; 64]), Err(DtbError::BadMagic));
    assert_eq!(
        BoardInfo::parse(&dtb[..2]).unwrap_err(),
        DtbError::Truncated {
            needed: 40,
            available: 2
        }
    );
    assert_eq!(
        BoardInfo::parse(&dtb[..39]),
        Err(DtbError::Truncated {
            needed: 40,
            available: 39
        })
    );
    assert_eq!(
        BoardInfo::parse(&dtb[..1000]),
        Err(DtbError::Truncated {
            needed: dtb.len(),
            available: 1000
        })
    );

    let mut bad = dtb.to_vec();
    bad[0] ^= 1;
    assert_eq!(BoardInfo::parse(&bad), Err(DtbError::BadMagic));

    // version (offset 20) 16: no size_dt_struct field, not supported.
    let mut old = dtb.to_vec();
    old[20..24].copy_from_slice(&16u32.to_be_bytes());
    assert_eq!(
        BoardInfo::parse(&old),
        Err(DtbError::UnsupportedVersion {
            version: 16,
            last_compatible: 16
        })
    );

    // totalsize (offset 4) below the header size.
    let mut tiny = dtb.to_vec();
    tiny[4..8].copy_from_slice(&8u32.to_be_bytes());
    assert!(matches!(
        BoardInfo::parse(&tiny),
        Err(DtbError::BadHeader(_))
    ));

    // size_dt_struct (offset 36) running past totalsize.
    let mut long = dtb.to_vec();
    long[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        BoardInfo::parse(&long),
        Err(DtbError::BadHeader(_))
    ));

    // Cutting the structure block short (size_dt_struct - 4 drops the FDT_END token).
    let mut cut = dtb.to_vec();
    let size = u32::from_be_bytes(cut[36..40].try_into().unwrap());
    cut[36..40].copy_from_slice(&(size - 4).to_be_bytes());
    assert!(matches!(BoardInfo::parse(&cut), Err(DtbError::Parse(_))));

    // Every error has a one-sentence message.
    for e in [
        DtbError::NoDtb,
        DtbError::BadMagic,
        DtbError::TooMany("CPUs"),
    ] {
        let msg = e.to_string();
        assert!(!msg.is_empty() && !msg.contains('\n'), "{msg}");
    }
}

#[test]
fn dtb_slice_from_pointer() {
    use arch::devicetree::dtb_slice;
    let dtb = dtb!("rpi/bcm2837-rpi-3-b");
    let mut window = dtb.to_vec();
    window.resize(2 * MIB as usize, 0);
    // SAFETY: `window` is readable for its whole length and not written while `slice` lives.
    let slice = unsafe { dtb_slice(window.as_ptr(), window.len()) }.unwrap();
    assert_eq!(slice, dtb);
    // SAFETY: the null pointer is rejected before any read.
    assert_eq!(
        unsafe { dtb_slice(core::ptr::null(), 1 << 21) },
        Err(DtbError::NoDtb)
    );
    // SAFETY: as above; max_len is smaller than the window, so nothing past it is read.
    let short = unsafe { dtb_slice(window.as_ptr(), 4096) };
    assert_eq!(
        short,
        Err(DtbError::Truncated {
            needed: dtb.len(),
            available: 4096
        })
    );
    let zeros = [0u8; 64];
    // SAFETY: 64 readable bytes, and a bad magic stops the read at the header.
    assert_eq!(
        unsafe { dtb_slice(zeros.as_ptr(), zeros.len()) },
        Err(DtbError::BadMagic)
    );
}

#[test]
fn header_uart_from_gpio_function() {
    // GPFSEL1 bits 12-14 are GPIO 14's function: 0b100 ALT0 (TXD0), 0b010 ALT5 (TXD1).
    assert_eq!(
        HeaderUart::from_gpfsel1(0b100 << 12),
        Some(HeaderUart::Pl011)
    );
    assert_eq!(
        HeaderUart::from_gpfsel1(0b010 << 12),
        Some(HeaderUart::MiniUart)
    );
    // GPIO 15 (bits 15-17) and the other pins do not matter.
    assert_eq!(
        HeaderUart::from_gpfsel1(!(0b111 << 12) | 0b100 << 12),
        Some(HeaderUart::Pl011)
    );
    for other in [0b000, 0b001, 0b011, 0b101, 0b110, 0b111] {
        assert_eq!(HeaderUart::from_gpfsel1(other << 12), None, "{other:#b}");
    }
}

#[test]
fn virt_console_choice_is_stdout_path() {
    for fixture in virt_fixtures() {
        let info = BoardInfo::parse(fixture.bytes).unwrap();
        assert_eq!(info.pi_gpio, None);
        assert_eq!(info.choose_console(None), Some(VIRT_CONSOLE));
        // A header reading cannot happen without a Pi GPIO block, but would not pick a UART
        // the board lacks.
        assert_eq!(
            info.choose_console(Some(HeaderUart::MiniUart)),
            Some(VIRT_CONSOLE)
        );
    }
}
