//! The kernel's random generator: one [`object::cprng::Cprng`] (ChaCha20 with key erasure),
//! seeded at boot and fed again as it runs; `zx_cprng_draw` and `zx_cprng_add_entropy` use
//! it (`syscall/misc.rs`).
//!
//! Seeds, all mixed in (none has to be there):
//! - `/chosen/rng-seed` and `/chosen/kaslr-seed` of the device tree. QEMU's virt fills both
//!   with fresh random bytes from the host at every boot, also under `-icount`, where
//!   everything the guest can measure is deterministic: this is what makes two boots of the
//!   same image draw different numbers there.
//! - RNDR, on a CPU with FEAT_RNG (`-cpu max`; not cortex-a53/a72).
//! - The generic counter's jitter: the low bits of the counter read around a loop whose
//!   timing depends on caches, the emulator and the host. Weak (and deterministic under
//!   `-icount`), but the only source on hardware with neither of the others.
//!
//! After boot, every [`RESEED_INTERVAL`]-th draw mixes in the counter and RNDR again; the
//! generator's key changes at every draw anyway, so its output never repeats within a boot.
//!
//! Locking: `GENERATOR` is a leaf, held only to mix or to fill one chunk of at most 256 bytes
//! in a kernel buffer (never across a user copy); taken with IRQs masked as the kernel runs,
//! never by an interrupt handler.

use core::sync::atomic::{AtomicU64, Ordering};
use object::cprng::Cprng;

static GENERATOR: spin::Mutex<Cprng> = spin::Mutex::new(Cprng::unseeded());

/// Draws between two mixes of fresh counter and RNDR bits.
const RESEED_INTERVAL: u64 = 64;
static DRAWS: AtomicU64 = AtomicU64::new(0);

/// Samples of the counter's jitter taken at boot.
const JITTER_SAMPLES: usize = 64;

/// Seeds the generator (boot CPU, before any user code).
pub fn seed_at_boot(rng_seed: Option<&[u8]>, kaslr_seed: Option<&[u8]>) {
    let mut generator = GENERATOR.lock();
    if let Some(seed) = rng_seed {
        generator.mix(seed);
    }
    if let Some(seed) = kaslr_seed {
        generator.mix(seed);
    }
    let mut hardware = [0u8; 32];
    let mut got_rndr = false;
    for chunk in hardware.chunks_mut(8) {
        if let Some(value) = arch::cpu::rndr() {
            chunk.copy_from_slice(&value.to_le_bytes());
            got_rndr = true;
        }
    }
    if got_rndr {
        generator.mix(&hardware);
    }
    let mut jitter = [0u8; JITTER_SAMPLES];
    let mut last = arch::cpu::counter();
    let mut work = last;
    for sample in jitter.iter_mut() {
        // Work whose duration varies with the caches and the emulator's translation.
        for _ in 0..(last & 0x3f) + 16 {
            work = work.rotate_left(7) ^ arch::cpu::counter();
        }
        let now = arch::cpu::counter();
        *sample = (now.wrapping_sub(last) ^ work) as u8;
        last = now;
    }
    generator.mix(&jitter);
    drop(generator);
    log::info!(
        "cprng: seeded from{}{}{} counter jitter",
        if rng_seed.is_some() { " rng-seed," } else { "" },
        if kaslr_seed.is_some() {
            " kaslr-seed,"
        } else {
            ""
        },
        if got_rndr { " RNDR," } else { "" },
    );
}

/// Fills `out` (at most 256 bytes) with random bytes.
pub fn draw(out: &mut [u8]) {
    if DRAWS.fetch_add(1, Ordering::Relaxed) % RESEED_INTERVAL == RESEED_INTERVAL - 1 {
        reseed();
    }
    GENERATOR.lock().draw(out);
}

/// Mixes `input` (what a program gave `zx_cprng_add_entropy`) in.
pub fn add_entropy(input: &[u8]) {
    GENERATOR.lock().mix(input);
}

/// Mixes the counter and, where there is one, RNDR in.
fn reseed() {
    let mut fresh = [0u8; 16];
    fresh[..8].copy_from_slice(&arch::cpu::counter().to_le_bytes());
    if let Some(value) = arch::cpu::rndr() {
        fresh[8..].copy_from_slice(&value.to_le_bytes());
    }
    GENERATOR.lock().mix(&fresh);
}
