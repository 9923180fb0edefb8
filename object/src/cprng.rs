//! The kernel's cryptographically secure generator (`zx_cprng_draw`, `zx_cprng_add_entropy`).
//!
//! The cipher is ChaCha20 from RustCrypto's `chacha20` crate (its `rng` feature, default
//! features off: no_std, no allocation, a constant-time portable core). Chosen because it is
//! the maintained home of ChaCha for Rust (`rand_chacha` now re-exports it) and is already
//! in the project's lock file through `proptest`'s `rand`: no new code to trust.
//!
//! Construction: a 32-byte key is all the state. Each draw of at most
//! [`ZX_CPRNG_DRAW_MAX_LEN`] bytes runs ChaCha20 under the key from block 0 and takes the
//! first 32 bytes of the stream as the next key before handing out the rest (fast key
//! erasure): a later capture of the state tells nothing of what was drawn before, and since
//! every draw uses a fresh key the output does not repeat within a boot. Mixing in entropy
//! ([`Cprng::mix`]) also rekeys: the new key is the next 32 bytes of the stream XORed with
//! each 32-byte block of the input in turn, so the result is unpredictable to anyone who does
//! not know both the old key and the input.
//!
//! Seeding is the kernel's (`src/cprng.rs`): the device tree's `rng-seed` and `kaslr-seed`,
//! RNDR where the CPU has it, and the generic counter's jitter.
//!
//! Locking: none here; the kernel keeps one generator under a lock.

use abi::ZX_CPRNG_DRAW_MAX_LEN;
use chacha20::rand_core::{Rng, SeedableRng};
use chacha20::ChaCha20Rng;

/// A ChaCha20 generator with key erasure after every draw.
pub struct Cprng {
    key: [u8; 32],
    /// How many times entropy was mixed in (the kernel reports whether seeding happened).
    mixes: u64,
}

impl Cprng {
    /// A generator with an all-zero key: predictable until entropy is mixed in.
    pub const fn unseeded() -> Self {
        Cprng {
            key: [0; 32],
            mixes: 0,
        }
    }

    pub fn mixes(&self) -> u64 {
        self.mixes
    }

    /// Mixes `input` (any length) into the key.
    pub fn mix(&mut self, input: &[u8]) {
        let mut rng = ChaCha20Rng::from_seed(self.key);
        // A stream of its own (1) for mixing, apart from the draws' (0).
        rng.set_stream(1);
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        for block in input.chunks(32) {
            for (k, b) in key.iter_mut().zip(block) {
                *k ^= b;
            }
            // Every block goes through the cipher before the next is XORed in, so two inputs
            // that differ anywhere give unrelated keys.
            let mut next = ChaCha20Rng::from_seed(key);
            next.set_stream(1);
            next.fill_bytes(&mut key);
        }
        self.key = key;
        self.mixes += 1;
    }

    /// Fills `out` (at most [`ZX_CPRNG_DRAW_MAX_LEN`] bytes; longer asks are cut there and the
    /// rest left as it was) and moves to a new key.
    pub fn draw(&mut self, out: &mut [u8]) {
        let len = out.len().min(ZX_CPRNG_DRAW_MAX_LEN);
        let mut rng = ChaCha20Rng::from_seed(self.key);
        rng.fill_bytes(&mut self.key);
        rng.fill_bytes(&mut out[..len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_and_depend_on_mixing() {
        let mut a = Cprng::unseeded();
        let mut b = Cprng::unseeded();
        a.mix(b"seed one");
        b.mix(b"seed two");
        let (mut x, mut y, mut z) = ([0u8; 32], [0u8; 32], [0u8; 32]);
        a.draw(&mut x);
        a.draw(&mut y);
        b.draw(&mut z);
        assert_ne!(x, y);
        assert_ne!(x, z);
        // Same seed, same stream: the generator is deterministic given its inputs.
        let mut c = Cprng::unseeded();
        c.mix(b"seed one");
        let mut w = [0u8; 32];
        c.draw(&mut w);
        assert_eq!(w, x);
        // Inputs longer than a block matter in every block.
        let mut d = Cprng::unseeded();
        let mut e = Cprng::unseeded();
        d.mix(&[0u8; 100]);
        let mut long = [0u8; 100];
        long[99] = 1;
        e.mix(&long);
        let (mut p, mut q) = ([0u8; 32], [0u8; 32]);
        d.draw(&mut p);
        e.draw(&mut q);
        assert_ne!(p, q);
    }

    #[test]
    fn long_draws_stop_at_the_chunk() {
        let mut a = Cprng::unseeded();
        let mut out = [0u8; 300];
        a.draw(&mut out);
        assert!(out[256..].iter().all(|&b| b == 0));
        assert!(out[..256].iter().any(|&b| b != 0));
    }
}
