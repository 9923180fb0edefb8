//! The device-tree reader must return an error, never panic or hang, whatever the bytes: the DTB
//! comes from firmware, and a panic that early has no console to report it.
//!
//! Deterministic mutations of every real fixture (truncation, truncation with a patched header,
//! bit flips, token and length overwrites) plus random blobs. Set DTB_FUZZ_ROUNDS to run more
//! rounds than the default (e.g. 20 for a long local run).

use arch::devicetree::{reg, translate, validate_header, BoardInfo};

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_bytes!(concat!("../../qemu/dtb/", $name, ".dtb")).as_slice())),*]
    };
}

fn all_fixtures() -> [(&'static str, &'static [u8]); 26] {
    fixtures![
        "virt-gicv2-el1-a53-128M",
        "virt-gicv2-el1-a53-2G",
        "virt-gicv2-el1-a72-128M",
        "virt-gicv2-el1-a72-2G",
        "virt-gicv2-el2-a53-128M",
        "virt-gicv2-el2-a53-2G",
        "virt-gicv2-el2-a72-128M",
        "virt-gicv2-el2-a72-2G",
        "virt-gicv3-el1-a53-128M",
        "virt-gicv3-el1-a53-2G",
        "virt-gicv3-el1-a72-128M",
        "virt-gicv3-el1-a72-2G",
        "virt-gicv3-el2-a53-128M",
        "virt-gicv3-el2-a53-2G",
        "virt-gicv3-el2-a72-128M",
        "virt-gicv3-el2-a72-2G",
        "virt-gicv3-el1-a72-128M-initrd",
        "raspi3b-qemu",
        "raspi4b-qemu",
        "rpi/bcm2837-rpi-3-b",
        "rpi/bcm2837-rpi-3-b-plus",
        "rpi/bcm2837-rpi-3-a-plus",
        "rpi/bcm2837-rpi-zero-2-w",
        "rpi/bcm2711-rpi-4-b",
        "rpi/bcm2711-rpi-400",
        "rpi/bcm2711-rpi-cm4-io",
    ]
}

/// xorshift64*: small, deterministic, good enough to pick bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn rounds() -> usize {
    std::env::var("DTB_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

fn put32(b: &mut [u8], at: usize, v: usize) {
    b[at..at + 4].copy_from_slice(&(v as u32).to_be_bytes());
}

/// Everything the kernel may call on a blob; the results do not matter, only that they return.
fn exercise(bytes: &[u8]) {
    let _ = validate_header(bytes);
    if let Ok(info) = BoardInfo::parse(bytes) {
        // Formatting walks every field, catching a bad &str.
        let _ = format!("{info:?}");
    }
    let _ = translate(bytes, "serial0", 0x7e20_1000);
    let _ = reg(bytes, "/soc/serial@7e201000", 0);
    let _ = reg(bytes, "/intc", 1);
}

/// End of the used part of a fixture (QEMU's raw dump is mostly free space after this).
fn used_len(dtb: &[u8]) -> usize {
    let strings_end = be32(dtb, 12) + be32(dtb, 32);
    strings_end.min(dtb.len())
}

#[test]
fn fixtures_parse() {
    for (name, dtb) in all_fixtures() {
        assert!(BoardInfo::parse(dtb).is_ok(), "{name}");
    }
}

#[test]
fn truncated_blobs_are_rejected() {
    for (name, dtb) in all_fixtures() {
        let total = validate_header(dtb).unwrap();
        let lens = (0..total.min(256)).chain((256..total).step_by(61));
        for len in lens {
            let cut = &dtb[..len];
            assert!(
                BoardInfo::parse(cut).is_err(),
                "{name} cut to {len} bytes parsed"
            );
            exercise(cut);
        }
    }
}

#[test]
fn truncated_blobs_with_consistent_header_do_not_panic() {
    // Patch totalsize and the block sizes to the cut, so the header passes and the structure
    // walker meets the cut instead.
    for (_, dtb) in all_fixtures() {
        let used = used_len(dtb);
        for len in (40..used).step_by(13) {
            let mut b = dtb[..len].to_vec();
            put32(&mut b, 4, len);
            for (off, size) in [(8, 36), (12, 32)] {
                let start = be32(&b, off);
                let clipped = len.saturating_sub(start).min(be32(&b, size));
                put32(&mut b, size, clipped);
            }
            exercise(&b);
        }
    }
}

#[test]
fn bit_flips_do_not_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (_, dtb) in all_fixtures() {
        let used = used_len(dtb);
        let mut b = dtb.to_vec();
        for _ in 0..400 * rounds() {
            let flips = 1 + rng.below(8);
            let mut at = Vec::new();
            for _ in 0..flips {
                let i = rng.below(used);
                let bit = 1 << rng.below(8);
                b[i] ^= bit;
                at.push((i, bit));
            }
            exercise(&b);
            for (i, bit) in at {
                b[i] ^= bit;
            }
        }
    }
}

#[test]
fn token_and_length_overwrites_do_not_panic() {
    // Words of the structure block hold tokens, property lengths and name offsets: overwrite
    // aligned words with values that are plausible there.
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let interesting = [
        0,
        1,
        2,
        3,
        4,
        9,
        0xff,
        0x1000,
        0x7fff_ffff,
        0xffff_fffc,
        0xffff_ffff,
    ];
    for (_, dtb) in all_fixtures() {
        let off = be32(dtb, 8);
        let words = be32(dtb, 36) / 4;
        let mut b = dtb.to_vec();
        for _ in 0..400 * rounds() {
            let at = off + 4 * rng.below(words);
            let old = be32(&b, at);
            let v = if rng.below(4) == 0 {
                rng.next() as usize & 0xffff_ffff
            } else {
                interesting[rng.below(interesting.len())]
            };
            put32(&mut b, at, v);
            exercise(&b);
            put32(&mut b, at, old);
        }
    }
}

#[test]
fn header_field_overwrites_do_not_panic() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for (_, dtb) in all_fixtures() {
        let used = used_len(dtb);
        let mut b = dtb[..used.max(40)].to_vec();
        for _ in 0..200 * rounds() {
            // Fields 1..=9: totalsize, the offsets, versions, sizes.
            let at = 4 * (1 + rng.below(9));
            let old = be32(&b, at);
            let v = match rng.below(3) {
                0 => rng.below(used + 64),
                1 => old.wrapping_add(rng.below(16)).wrapping_sub(8) & 0xffff_ffff,
                _ => rng.next() as usize & 0xffff_ffff,
            };
            put32(&mut b, at, v);
            exercise(&b);
            put32(&mut b, at, old);
        }
    }
}

#[test]
fn random_bytes_do_not_panic() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for i in 0..3000 * rounds() {
        let len = rng.below(2048);
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Give most a plausible header so the structure walker is reached.
        if len >= 40 && i % 4 != 0 {
            let words = [
                0xd00d_feed,
                len,
                40 + 4 * rng.below(len / 8),
                40 + rng.below(len - 40),
                40,
                17,
                16,
                0,
                rng.below(len / 2),
                rng.below(len / 2),
            ];
            for (k, w) in words.iter().enumerate() {
                put32(&mut b, 4 * k, *w);
            }
            // Start the structure block with a root node so the walk goes somewhere.
            let s = be32(&b, 8);
            if s + 8 <= len {
                put32(&mut b, s, 1);
                put32(&mut b, s + 4, 0);
            }
        }
        exercise(&b);
    }
}
