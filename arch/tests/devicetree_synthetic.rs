//! The device-tree reader on small hand-built trees, for shapes the real fixtures lack: nested
//! buses, missing `ranges`, odd cell sizes, capacity limits, broken references.

use arch::devicetree::{
    reg, translate, BoardInfo, ConsoleKind, DtbError, EnableMethod, InterruptController, Region,
};

/// Builds a version-17 DTB in the layout dtc uses: header, reservations, structure, strings.
#[derive(Default)]
struct Builder {
    structs: Vec<u8>,
    strings: Vec<u8>,
    reserve: Vec<(u64, u64)>,
    open: usize,
}

impl Builder {
    fn token(&mut self, t: u32) {
        self.structs.extend_from_slice(&t.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    fn begin(&mut self, name: &str) -> &mut Self {
        self.token(1);
        self.open += 1;
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    fn end(&mut self) -> &mut Self {
        self.token(2);
        self.open = self.open.saturating_sub(1);
        self
    }

    fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let off = match self
            .strings
            .windows(name.len() + 1)
            .position(|w| w[..name.len()] == *name.as_bytes() && w[name.len()] == 0)
        {
            Some(off) => off,
            None => {
                let off = self.strings.len();
                self.strings.extend_from_slice(name.as_bytes());
                self.strings.push(0);
                off
            }
        };
        self.token(3);
        self.structs
            .extend_from_slice(&(value.len() as u32).to_be_bytes());
        self.structs.extend_from_slice(&(off as u32).to_be_bytes());
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &bytes)
    }

    fn str(&mut self, name: &str, value: &str) -> &mut Self {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.prop(name, &bytes)
    }

    /// Closes the nodes still open, then serialises.
    fn build(&mut self) -> Vec<u8> {
        while self.open > 0 {
            self.end();
        }
        self.build_as_is()
    }

    fn build_as_is(&mut self) -> Vec<u8> {
        self.token(9);
        let rsv_off = 40;
        let struct_off = rsv_off + (self.reserve.len() + 1) * 16;
        let strings_off = struct_off + self.structs.len();
        let total = strings_off + self.strings.len();
        let mut out = Vec::new();
        for v in [
            0xd00d_feed,
            total as u32,
            struct_off as u32,
            strings_off as u32,
            rsv_off as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structs.len() as u32,
        ] {
            out.extend_from_slice(&u32::to_be_bytes(v));
        }
        for &(a, s) in self.reserve.iter().chain(&[(0, 0)]) {
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&s.to_be_bytes());
        }
        out.extend_from_slice(&self.structs);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// A root with 1-cell addresses and sizes, and a GICv2 so interrupt lookups have a target.
fn root(b: &mut Builder) -> &mut Builder {
    b.begin("")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .cells("interrupt-parent", &[1])
        .str("model", "synthetic")
        .prop("compatible", b"test,board\0test,family\0")
        .begin("gic@1000")
        .str("compatible", "arm,gic-400")
        .prop("interrupt-controller", &[])
        .cells("#interrupt-cells", &[3])
        .cells("phandle", &[1])
        .cells("reg", &[0x1000, 0x1000, 0x2000, 0x2000])
        .end()
}

fn r(base: u64, size: u64) -> Region {
    Region { base, size }
}

#[test]
fn minimal_tree() {
    let dtb = Builder::default().begin("").end().build();
    let info = BoardInfo::parse(&dtb).unwrap();
    assert_eq!(info.model, None);
    assert_eq!(info.compatible, None);
    assert!(info.memory.is_empty() && info.reserved.is_empty() && info.cpus.is_empty());
    assert_eq!(info.console, None);
    assert_eq!(info.interrupt_controller, None);
    assert_eq!(info.timer, None);
    assert_eq!(info.psci, None);
}

#[test]
fn nested_bus_translation() {
    let mut b = Builder::default();
    root(&mut b)
        // A 2-cell bus under the 1-cell root, and a 1-cell bus under that, each with an offset.
        .begin("outer")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[1])
        // child 0x1_0000_0000 -> parent 0x8000_0000, 16 MiB.
        .cells("ranges", &[1, 0, 0x8000_0000, 0x100_0000])
        .begin("inner")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        // child 0x100 -> parent 0x1_0020_0000, 64 KiB.
        .cells("ranges", &[0x100, 1, 0x20_0000, 0x1_0000])
        .begin("uart@100")
        .str("compatible", "ns16550a")
        .cells("reg", &[0x100, 0x100])
        .end()
        .begin("nobus")
        // No ranges: its children's addresses are local only.
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .begin("dev@0")
        .cells("reg", &[0, 0x10])
        .end()
        .end()
        .end()
        .end()
        .begin("chosen")
        .str("stdout-path", "/outer/inner/uart@100:115200")
        .end();
    let dtb = b.build();
    let info = BoardInfo::parse(&dtb).unwrap();
    let console = info.console.unwrap();
    assert_eq!(console.path, "/outer/inner/uart@100");
    assert_eq!(console.kind, ConsoleKind::Other);
    assert_eq!(console.compatible, "ns16550a");
    assert_eq!(console.region, r(0x8020_0000, 0x100));
    assert_eq!(console.clock_hz, None);
    assert_eq!(
        translate(&dtb, "/outer/inner/uart@100", 0x180),
        Ok(0x8020_0080)
    );
    assert_eq!(translate(&dtb, "/outer/inner/uart", 0x100), Ok(0x8020_0000));
    // Outside the inner window.
    assert!(matches!(
        translate(&dtb, "/outer/inner/uart@100", 0x1_0100),
        Err(DtbError::NotTranslatable(_))
    ));
    // A bus without ranges on the way up.
    assert!(matches!(
        reg(&dtb, "/outer/inner/nobus/dev@0", 0),
        Err(DtbError::NotTranslatable(_))
    ));
    // And the GIC at the root is not translated at all.
    assert_eq!(
        BoardInfo::parse(&dtb).unwrap().interrupt_controller,
        Some(InterruptController::GicV2 {
            distributor: r(0x1000, 0x1000),
            cpu_interface: r(0x2000, 0x2000)
        })
    );
}

#[test]
fn region_straddling_a_window_is_rejected() {
    let mut b = Builder::default();
    root(&mut b)
        .begin("bus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .cells("ranges", &[0, 0x4000_0000, 0x1000])
        .begin("memory@f00")
        .str("device_type", "memory")
        .cells("reg", &[0xf00, 0x200])
        .end()
        .end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::NotTranslatable(_))
    ));
}

#[test]
fn memory_and_reservations() {
    let mut b = Builder {
        reserve: vec![(0x1000, 0x2000), (0x9000, 0)],
        ..Default::default()
    };
    root(&mut b)
        .begin("memory@0")
        .str("device_type", "memory")
        // Two banks and a zero-size placeholder, which is dropped.
        .cells(
            "reg",
            &[0, 0x1000_0000, 0x4000_0000, 0, 0x8000_0000, 0x2000_0000],
        )
        .end()
        .begin("memory@c0000000")
        .str("device_type", "memory")
        .str("status", "disabled")
        .cells("reg", &[0xc000_0000, 0x1000])
        .end()
        .begin("reserved-memory")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .prop("ranges", &[])
        .begin("fw@100000")
        .cells("reg", &[0x10_0000, 0x1_0000])
        .end()
        .begin("pool")
        .cells("size", &[0x100_0000])
        .end()
        .begin("off@200000")
        .str("status", "disabled")
        .cells("reg", &[0x20_0000, 0x1000])
        .end()
        .end()
        .begin("chosen")
        // 1-cell initrd properties, as 32-bit boot loaders write them.
        .cells("linux,initrd-start", &[0x200_0000])
        .cells("linux,initrd-end", &[0x280_0000])
        .str("bootargs", "")
        .end();
    let dtb = b.build();
    let info = BoardInfo::parse(&dtb).unwrap();
    assert_eq!(
        info.memory.as_slice(),
        &[r(0, 0x1000_0000), r(0x8000_0000, 0x2000_0000)]
    );
    assert_eq!(
        info.reserved.as_slice(),
        &[r(0x1000, 0x2000), r(0x10_0000, 0x1_0000)]
    );
    assert!(info.no_map.is_empty());
    assert_eq!(info.initrd, Some(r(0x200_0000, 0x80_0000)));
    assert_eq!(info.bootargs, Some(""));
    assert_eq!(info.model, Some("synthetic"));
    assert_eq!(info.compatible, Some("test,board"));
}

/// `/reserved-memory` children marked `no-map` are listed in `no_map` as well as in
/// `reserved`; disabled and size-only ones are not, and `/memreserve/` entries never are.
#[test]
fn reserved_memory_no_map_is_recorded() {
    let mut b = Builder {
        reserve: vec![(0x1000, 0x1000)],
        ..Default::default()
    };
    root(&mut b)
        .begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0, 0x1000_0000])
        .end()
        .begin("reserved-memory")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .prop("ranges", &[])
        .begin("secure@100000")
        .cells("reg", &[0x10_0000, 0x3000])
        .prop("no-map", &[])
        .end()
        .begin("shared@200000")
        .cells("reg", &[0x20_0000, 0x1000])
        .end()
        .begin("off@300000")
        .str("status", "disabled")
        .cells("reg", &[0x30_0000, 0x1000])
        .prop("no-map", &[])
        .end()
        .begin("dynamic")
        .cells("size", &[0x10_0000])
        .prop("no-map", &[])
        .end()
        .begin("two@400000")
        .cells("reg", &[0x40_0000, 0x1000, 0x50_0000, 0x2000])
        .prop("no-map", &[])
        .end()
        .end();
    let dtb = b.build();
    let info = BoardInfo::parse(&dtb).unwrap();
    assert_eq!(
        info.reserved.as_slice(),
        &[
            r(0x1000, 0x1000),
            r(0x10_0000, 0x3000),
            r(0x20_0000, 0x1000),
            r(0x40_0000, 0x1000),
            r(0x50_0000, 0x2000)
        ]
    );
    assert_eq!(
        info.no_map.as_slice(),
        &[
            r(0x10_0000, 0x3000),
            r(0x40_0000, 0x1000),
            r(0x50_0000, 0x2000)
        ]
    );
}

#[test]
fn too_many_memory_regions() {
    let mut b = Builder::default();
    let reg: Vec<u32> = (0..9).flat_map(|i| [i * 0x1000_0000, 0x1000]).collect();
    root(&mut b)
        .begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &reg)
        .end();
    let err = BoardInfo::parse(&b.build()).unwrap_err();
    assert_eq!(err, DtbError::TooMany("memory regions"));
    assert_eq!(
        err.to_string(),
        "the device tree lists more memory regions than the kernel has room for"
    );
}

#[test]
fn too_many_cpus() {
    let mut b = Builder::default();
    root(&mut b)
        .begin("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0]);
    for i in 0..9 {
        b.begin(&format!("cpu@{i}"))
            .str("device_type", "cpu")
            .cells("reg", &[i])
            .end();
    }
    b.end();
    assert_eq!(BoardInfo::parse(&b.build()), Err(DtbError::TooMany("CPUs")));
}

#[test]
fn cpus_with_two_cell_mpidr_and_mixed_methods() {
    let mut b = Builder::default();
    root(&mut b)
        .begin("cpus")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[0])
        .begin("cpu-map")
        .end()
        .begin("cpu@100")
        .str("device_type", "cpu")
        .cells("reg", &[0, 0x100])
        .str("enable-method", "spin-table")
        .cells("cpu-release-addr", &[0x1, 0x8000])
        .end()
        .begin("cpu@10000000000")
        .str("device_type", "cpu")
        .cells("reg", &[0x1, 0])
        .str("enable-method", "brcm,bcm2836-smp")
        .end()
        .end()
        .begin("psci")
        .str("compatible", "arm,psci-1.0")
        .str("method", "smc")
        .end();
    let dtb = b.build();
    let info = BoardInfo::parse(&dtb).unwrap();
    assert_eq!(info.cpus.len(), 2);
    assert_eq!(info.cpus[0].mpidr, 0x100);
    assert_eq!(
        info.cpus[0].enable_method,
        EnableMethod::SpinTable {
            release_addr: 0x1_0000_8000
        }
    );
    assert_eq!(info.cpus[1].mpidr, 0x1_0000_0000);
    assert_eq!(info.cpus[1].enable_method, EnableMethod::Other);
    assert_eq!(info.psci, Some(arch::devicetree::PsciMethod::Smc));
}

#[test]
fn spin_table_without_release_address_is_an_error() {
    let mut b = Builder::default();
    root(&mut b)
        .begin("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0])
        .begin("cpu@0")
        .str("device_type", "cpu")
        .cells("reg", &[0])
        .str("enable-method", "spin-table")
        .end()
        .end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));
}

#[test]
fn console_via_alias_and_linux_stdout_path() {
    let mut b = Builder::default();
    root(&mut b)
        .begin("aliases")
        .str("serial3", "/bus/uart@2000")
        .end()
        .begin("bus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .cells("ranges", &[0, 0x7000_0000, 0x1_0000])
        .begin("uart@2000")
        .prop("compatible", b"vendor,uart\0arm,pl011\0arm,primecell\0")
        .cells("reg", &[0x2000, 0x1000])
        .cells("clocks", &[7])
        .end()
        .end()
        .begin("clk")
        .str("compatible", "fixed-clock")
        .cells("clock-frequency", &[48_000_000])
        .cells("phandle", &[7])
        .end()
        .begin("chosen")
        .str("linux,stdout-path", "serial3:115200n8")
        .end();
    let dtb = b.build();
    let info = BoardInfo::parse(&dtb).unwrap();
    let console = info.console.unwrap();
    assert_eq!(console.path, "/bus/uart@2000");
    assert_eq!(console.compatible, "vendor,uart");
    assert_eq!(console.kind, ConsoleKind::Pl011);
    assert_eq!(console.region, r(0x7000_2000, 0x1000));
    assert_eq!(console.clock_hz, Some(48_000_000));
}

#[test]
fn stdout_path_naming_nothing_means_no_console() {
    let mut b = Builder::default();
    root(&mut b)
        .begin("chosen")
        .str("stdout-path", "serial9:115200n8")
        .end();
    assert_eq!(BoardInfo::parse(&b.build()).unwrap().console, None);
}

#[test]
fn interrupt_parent_cycle_is_an_error() {
    let mut b = Builder::default();
    b.begin("")
        .cells("interrupt-parent", &[1])
        .begin("a")
        .prop("interrupt-controller", &[])
        .cells("phandle", &[1])
        .cells("interrupt-parent", &[2])
        .end()
        .begin("b")
        .prop("interrupt-controller", &[])
        .cells("phandle", &[2])
        .cells("interrupt-parent", &[1])
        .end()
        .end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));
}

#[test]
fn dangling_interrupt_parent_is_an_error() {
    let mut b = Builder::default();
    b.begin("").cells("interrupt-parent", &[42]).end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));
}

#[test]
fn root_controller_found_without_root_interrupt_parent() {
    let mut b = Builder::default();
    b.begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .begin("intc@8000000")
        .str("compatible", "arm,gic-v3")
        .prop("interrupt-controller", &[])
        .cells("#interrupt-cells", &[3])
        .cells("phandle", &[5])
        .cells(
            "reg",
            &[0, 0x800_0000, 0, 0x1_0000, 0, 0x80a_0000, 0, 0xf6_0000],
        )
        .end()
        .begin("timer")
        .str("compatible", "arm,armv8-timer")
        .cells("interrupt-parent", &[5])
        // An SPI as the hyp timer, to see SPI numbering (n + 32).
        .cells("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 0, 7, 4])
        .cells("clock-frequency", &[62_500_000])
        .end()
        .end();
    let dtb = b.build();
    let info = BoardInfo::parse(&dtb).unwrap();
    assert_eq!(
        info.interrupt_controller,
        Some(InterruptController::GicV3 {
            distributor: r(0x800_0000, 0x1_0000),
            redistributors: r(0x80a_0000, 0xf6_0000)
        })
    );
    let timer = info.timer.unwrap();
    assert_eq!(
        (
            timer.secure_phys,
            timer.nonsecure_phys,
            timer.virt,
            timer.hyp
        ),
        (29, 30, 27, 39)
    );
    assert_eq!(timer.frequency, Some(62_500_000));
}

#[test]
fn timer_with_three_interrupts_is_an_error() {
    let mut b = Builder::default();
    root(&mut b)
        .begin("timer")
        .str("compatible", "arm,armv7-timer")
        .cells("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4])
        .end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));
}

#[test]
fn malformed_properties_are_errors() {
    // #address-cells of 5 cannot be handled.
    let mut b = Builder::default();
    b.begin("")
        .cells("#address-cells", &[5])
        .begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0; 6])
        .end()
        .end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));

    // reg not a whole number of entries.
    let mut b = Builder::default();
    root(&mut b)
        .begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0, 1, 2])
        .end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));

    // model not NUL-terminated.
    let mut b = Builder::default();
    b.begin("").prop("model", b"abc").end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));

    // initrd end below start.
    let mut b = Builder::default();
    b.begin("")
        .begin("chosen")
        .cells("linux,initrd-start", &[0x2000])
        .cells("linux,initrd-end", &[0x1000])
        .end()
        .end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));

    // psci with an unknown method.
    let mut b = Builder::default();
    b.begin("").begin("psci").str("method", "svc").end().end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));
}

#[test]
fn malformed_structure_is_an_error() {
    // Missing FDT_END_NODE for the root.
    let mut b = Builder::default();
    b.begin("");
    assert!(matches!(
        BoardInfo::parse(&b.build_as_is()),
        Err(DtbError::Parse(_))
    ));

    // An FDT_END_NODE too many.
    let mut b = Builder::default();
    b.begin("").end().end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));

    // Two roots.
    let mut b = Builder::default();
    b.begin("").end().begin("").end();
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));

    // Too deep.
    let mut b = Builder::default();
    for _ in 0..17 {
        b.begin("n");
    }
    for _ in 0..17 {
        b.end();
    }
    assert!(matches!(
        BoardInfo::parse(&b.build()),
        Err(DtbError::Parse(_))
    ));

    // 16 levels are fine.
    let mut b = Builder::default();
    for _ in 0..16 {
        b.begin("n");
    }
    for _ in 0..16 {
        b.end();
    }
    assert!(BoardInfo::parse(&b.build()).is_ok());

    // A property name offset outside the strings block.
    let mut b = Builder::default();
    b.begin("").prop("model", b"x\0").end();
    let mut dtb = b.build();
    let struct_off = u32::from_be_bytes(dtb[8..12].try_into().unwrap()) as usize;
    // begin token + empty name (4) + prop token (4) + len (4) -> nameoff.
    let nameoff = struct_off + 12;
    dtb[nameoff..nameoff + 4].copy_from_slice(&0x1000u32.to_be_bytes());
    assert!(matches!(BoardInfo::parse(&dtb), Err(DtbError::Parse(_))));
}
