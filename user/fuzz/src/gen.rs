//! What the fuzzer draws its arguments from: a seeded generator, the handle pool, and the
//! arena of memory its pointers point into.

use alloc::vec::Vec;
use zx::sys::{self, zx_handle_t};

pub const PAGE: usize = 4096;

/// xorshift64* seeded through splitmix64: small, fast and the same on every run of a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A length or count: the edges (0, 1, a page and its neighbours, huge, near 2^64) as
    /// often as small and random ones, and sizes of memory (1 MiB to 256 MiB: a commit of
    /// those runs a small machine out of pages).
    pub fn len(&mut self) -> u64 {
        match self.below(13) {
            11 => 1 << (20 + self.below(9)),
            0 => 0,
            1 => 1,
            2 => PAGE as u64 - 1,
            3 => PAGE as u64,
            4 => PAGE as u64 + 1,
            5 => self.below(4 * PAGE as u64),
            6 => self.below(64) * PAGE as u64,
            7 => self.pick(&[1 << 32, 1 << 48, 1 << 62, u64::MAX / 2 + 1]),
            8 => u64::MAX - self.below(2 * PAGE as u64),
            9 => self.below(256),
            10 => self.next(),
            _ => self.below(16) * PAGE as u64 + self.below(2),
        }
    }

    /// Option or flag bits: none, a few of `known`, all of them, unknown ones.
    pub fn bits(&mut self, known: u32) -> u32 {
        match self.below(8) {
            0 => 0,
            1 => known,
            2 => self.next() as u32,
            3 => u32::MAX,
            4 => (self.next() as u32 & known) | (1 << self.below(32)),
            _ => self.next() as u32 & known,
        }
    }

    /// A deadline that never blocks a thread for long: zero, the past, or a few
    /// microseconds ahead. A wait that could sleep for ever is not a kernel bug.
    pub fn deadline(&mut self) -> i64 {
        // SAFETY: no arguments.
        let now = unsafe { sys::zx_clock_get_monotonic() };
        match self.below(5) {
            0 => 0,
            1 => i64::MIN,
            2 => now - self.below(1_000_000) as i64,
            _ => now + self.below(50_000) as i64,
        }
    }
}

/// What the fuzzer knows about a handle it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Vmo,
    Vmar,
    Channel,
    Thread,
    Process,
    Socket,
    Job,
    Other,
}

impl Kind {
    pub fn of_type(obj_type: u32) -> Kind {
        match obj_type {
            sys::ZX_OBJ_TYPE_VMO => Kind::Vmo,
            sys::ZX_OBJ_TYPE_VMAR => Kind::Vmar,
            sys::ZX_OBJ_TYPE_CHANNEL => Kind::Channel,
            sys::ZX_OBJ_TYPE_THREAD => Kind::Thread,
            sys::ZX_OBJ_TYPE_PROCESS => Kind::Process,
            sys::ZX_OBJ_TYPE_SOCKET => Kind::Socket,
            sys::ZX_OBJ_TYPE_JOB => Kind::Job,
            _ => Kind::Other,
        }
    }
}

/// Handles this thread made and may do anything with, plus values that are no longer (or
/// never were) handles. The startup handles, the playground and the arena are not here:
/// they are never closed, moved, replaced or killed.
pub struct Pool {
    pub live: Vec<(zx_handle_t, Kind)>,
    /// Values of handles closed or moved away: stale (their slot's generation moved on).
    pub stale: Vec<zx_handle_t>,
    /// Values no call may be given where it could close, move or destroy them.
    pub protected: Vec<zx_handle_t>,
}

/// Live handles kept at most: beyond it new ones replace old ones (closed).
pub const POOL_LIMIT: usize = 48;
const STALE_LIMIT: usize = 64;

impl Pool {
    pub fn new(protected: Vec<zx_handle_t>) -> Self {
        Pool {
            live: Vec::with_capacity(POOL_LIMIT + 8),
            stale: Vec::with_capacity(STALE_LIMIT + 1),
            protected,
        }
    }

    /// Adds a handle the kernel just gave; the oldest goes when the pool is full.
    pub fn add(&mut self, handle: zx_handle_t, kind: Kind) {
        if handle == sys::ZX_HANDLE_INVALID || self.protected.contains(&handle) {
            return;
        }
        if self.live.len() >= POOL_LIMIT {
            let (old, _) = self.live.remove(0);
            // SAFETY: a handle of the pool.
            unsafe { sys::zx_handle_close(old) };
            self.forget(old);
        }
        self.live.push((handle, kind));
    }

    /// `handle` is gone (closed, moved, replaced): it becomes a stale value.
    pub fn forget(&mut self, handle: zx_handle_t) {
        if let Some(i) = self.live.iter().position(|&(h, _)| h == handle) {
            self.live.swap_remove(i);
        }
        if self.stale.len() >= STALE_LIMIT {
            self.stale.swap_remove(0);
        }
        self.stale.push(handle);
    }

    /// A live handle of `kind`, if the pool has one.
    pub fn of(&mut self, rng: &mut Rng, kind: Kind) -> Option<zx_handle_t> {
        let count = self.live.iter().filter(|&&(_, k)| k == kind).count();
        if count == 0 {
            return None;
        }
        let nth = rng.below(count as u64) as usize;
        self.live
            .iter()
            .filter(|&&(_, k)| k == kind)
            .nth(nth)
            .map(|&(h, _)| h)
    }

    /// A handle value for a call that wants `kind`: mostly a live one of that kind, else
    /// any live one, a stale one, invalid, or random bits. Never a protected value.
    pub fn handle(&mut self, rng: &mut Rng, kind: Kind) -> zx_handle_t {
        match rng.below(16) {
            0..=10 => match self.of(rng, kind) {
                Some(h) => h,
                None => self.any(rng),
            },
            11 | 12 => self.any(rng),
            13 => match self.stale.len() {
                0 => sys::ZX_HANDLE_INVALID,
                n => self.stale[rng.below(n as u64) as usize],
            },
            14 => sys::ZX_HANDLE_INVALID,
            _ => self.random(rng),
        }
    }

    fn any(&mut self, rng: &mut Rng) -> zx_handle_t {
        match self.live.len() {
            0 => sys::ZX_HANDLE_INVALID,
            n => self.live[rng.below(n as u64) as usize].0,
        }
    }

    /// Random bits that are not a protected handle (a random value that happened to name
    /// one could close the fuzzer's own address space).
    fn random(&mut self, rng: &mut Rng) -> zx_handle_t {
        loop {
            let value = rng.next() as u32;
            if !self.protected.contains(&value) {
                return value;
            }
        }
    }

    pub fn kind(&self, handle: zx_handle_t) -> Option<Kind> {
        self.live
            .iter()
            .find(|&&(h, _)| h == handle)
            .map(|&(_, k)| k)
    }

    /// Closes every live handle.
    pub fn close_all(&mut self) {
        for (handle, _) in core::mem::take(&mut self.live) {
            // SAFETY: a handle of the pool.
            unsafe { sys::zx_handle_close(handle) };
            self.forget(handle);
        }
    }
}

/// The kernel's type of `handle` (None: not a handle of this process).
pub fn kind_of(handle: zx_handle_t) -> Option<Kind> {
    let mut info = sys::zx_info_handle_basic_t::default();
    let (mut actual, mut avail) = (0usize, 0usize);
    // SAFETY: the buffer is a local record of the size passed.
    let status = unsafe {
        sys::zx_object_get_info(
            handle,
            sys::ZX_INFO_HANDLE_BASIC,
            (&mut info as *mut sys::zx_info_handle_basic_t).cast(),
            core::mem::size_of::<sys::zx_info_handle_basic_t>(),
            &mut actual,
            &mut avail,
        )
    };
    (status == sys::ZX_OK).then(|| Kind::of_type(info.type_))
}

/// The koid of `handle`, 0 if it names nothing.
pub fn koid_of(handle: zx_handle_t) -> u64 {
    let mut info = sys::zx_info_handle_basic_t::default();
    let (mut actual, mut avail) = (0usize, 0usize);
    // SAFETY: the buffer is a local record of the size passed.
    let status = unsafe {
        sys::zx_object_get_info(
            handle,
            sys::ZX_INFO_HANDLE_BASIC,
            (&mut info as *mut sys::zx_info_handle_basic_t).cast(),
            core::mem::size_of::<sys::zx_info_handle_basic_t>(),
            &mut actual,
            &mut avail,
        )
    };
    if status == sys::ZX_OK {
        info.koid
    } else {
        0
    }
}

/// Pages of an arena: scratch memory the kernel may read and write (records first, the
/// out handles and counts the fuzzer reads back, then buffers, so that a buffer the kernel
/// writes past its end runs into the read-only page, not into a record), a read-only page,
/// then a page with nothing mapped.
const RECORD_PAGES: usize = 2;
const SCRATCH_PAGES: usize = 8;
const ARENA_PAGES: usize = SCRATCH_PAGES + 2;

/// Memory the pointers of one thread's calls point into, a sub-VMAR of the root VMAR that
/// no call may unmap or change: the only user memory the kernel is ever given as a valid
/// buffer, so no call can write over the fuzzer's own data or stack.
pub struct Arena {
    pub vmar: zx_handle_t,
    pub base: usize,
    /// Bytes of the record pages handed out for the current call.
    records_used: core::cell::Cell<usize>,
}

impl Arena {
    pub fn new() -> Result<Arena, sys::zx_status_t> {
        let root = zx::startup::vmar_root_self();
        let (mut vmar, mut base) = (0u32, 0usize);
        let rights =
            sys::ZX_VM_CAN_MAP_READ | sys::ZX_VM_CAN_MAP_WRITE | sys::ZX_VM_CAN_MAP_SPECIFIC;
        // SAFETY: out pointers to locals.
        check(unsafe {
            sys::zx_vmar_allocate(root, rights, 0, ARENA_PAGES * PAGE, &mut vmar, &mut base)
        })?;
        let mut vmo = 0u32;
        // SAFETY: out pointer to a local.
        check(unsafe { sys::zx_vmo_create((SCRATCH_PAGES * PAGE) as u64, 0, &mut vmo) })?;
        let mut at = 0usize;
        let rw = sys::ZX_VM_PERM_READ
            | sys::ZX_VM_PERM_WRITE
            | sys::ZX_VM_SPECIFIC
            | sys::ZX_VM_MAP_RANGE;
        // SAFETY: maps fresh memory into the arena's own region.
        check(unsafe { sys::zx_vmar_map(vmar, rw, 0, vmo, 0, SCRATCH_PAGES * PAGE, &mut at) })?;
        let mut ro = 0u32;
        // SAFETY: out pointer to a local.
        check(unsafe { sys::zx_vmo_create(PAGE as u64, 0, &mut ro) })?;
        let r = sys::ZX_VM_PERM_READ | sys::ZX_VM_SPECIFIC | sys::ZX_VM_MAP_RANGE;
        // SAFETY: as above.
        check(unsafe { sys::zx_vmar_map(vmar, r, SCRATCH_PAGES * PAGE, ro, 0, PAGE, &mut at) })?;
        // SAFETY: the mappings keep the VMOs alive.
        unsafe {
            sys::zx_handle_close(vmo);
            sys::zx_handle_close(ro);
        }
        Ok(Arena {
            vmar,
            base,
            records_used: core::cell::Cell::new(0),
        })
    }

    fn buffers(&self) -> usize {
        self.base + RECORD_PAGES * PAGE
    }

    fn scratch_end(&self) -> usize {
        self.base + SCRATCH_PAGES * PAGE
    }

    /// The start of a call: its records are drawn afresh.
    pub fn next_call(&self) {
        self.records_used.set(0);
    }

    /// A pointer the kernel may write `len` bytes through, most of the time; else one of
    /// the pointers it must refuse: NULL, unaligned, read-only, straddling the end of the
    /// writable memory, unmapped, kernel, non-canonical.
    pub fn out_ptr(&self, rng: &mut Rng, len: u64) -> u64 {
        if rng.below(8) < 5 {
            return self.valid(rng, len);
        }
        self.bad(rng, len, true)
    }

    /// Like [`Self::out_ptr`] for memory the kernel only reads (the read-only page is fine).
    pub fn in_ptr(&self, rng: &mut Rng, len: u64) -> u64 {
        if rng.below(8) < 5 {
            return self.valid(rng, len);
        }
        self.bad(rng, len, false)
    }

    /// A pointer for a record of `len` bytes the fuzzer reads back after the call (an out
    /// handle, a count), and whether it is one: then it is in the record pages, apart from
    /// every other record of the call, and sometimes unaligned (still memory the kernel must
    /// write); else a pointer no byte of which the kernel can write, so that a call that
    /// returns OK with it is wrong.
    pub fn record(&self, rng: &mut Rng, len: usize) -> (u64, bool) {
        let used = self.records_used.get();
        let slot = ((len + 7) & !7) + 8;
        if rng.below(8) < 6 && used + slot <= RECORD_PAGES * PAGE {
            self.records_used.set(used + slot);
            // SAFETY: the slot is in the record pages, which only this thread uses; cleared so
            // that a call that says OK without writing it is seen.
            unsafe { core::ptr::write_bytes((self.base + used) as *mut u8, 0, slot) };
            let skew = if rng.one_in(4) { 1 + rng.below(7) } else { 0 };
            return ((self.base + used) as u64 + skew, true);
        }
        let ro = self.scratch_end() as u64;
        let unwritable = match rng.below(6) {
            0 => 0,
            1 => ro + rng.below(PAGE as u64 - len as u64),
            // Starts in the read-only page and runs into the hole.
            2 => ro + PAGE as u64 - (len as u64).div_ceil(2),
            3 => ro + PAGE as u64 + rng.below(PAGE as u64 - len as u64),
            4 => 0xffff_0000_0000_0000 | (rng.next() & 0x0000_ffff_ffff_f000),
            _ => 0x0001_0000_0000_0000 | rng.next(),
        };
        (unwritable, false)
    }

    /// A buffer the kernel can write whole: its address and a length of at most `len` (cut
    /// to the room there is). For a call whose bad pointer would end the fuzzer's own
    /// process (`zx_cprng_draw`).
    pub fn writable(&self, rng: &mut Rng, len: u64) -> (u64, u64) {
        let room = ((SCRATCH_PAGES - RECORD_PAGES) * PAGE) as u64;
        let len = len.min(room);
        (self.valid(rng, len), len)
    }

    fn valid(&self, rng: &mut Rng, len: u64) -> u64 {
        let room = ((SCRATCH_PAGES - RECORD_PAGES) * PAGE) as u64;
        let len = len.min(room);
        let offset = rng.below(room - len + 1) & !7;
        self.buffers() as u64 + offset
    }

    fn bad(&self, rng: &mut Rng, len: u64, writing: bool) -> u64 {
        let ro = self.scratch_end() as u64;
        let hole = ro + PAGE as u64;
        let short = len.clamp(1, PAGE as u64);
        match rng.below(8) {
            0 => 0,
            1 => self.valid(rng, len) + 1 + rng.below(7),
            2 if writing => ro + rng.below(PAGE as u64),
            // Straddles the end of the scratch memory (writing) or of the read-only page.
            2 | 3 => {
                if writing {
                    ro - short.div_ceil(2)
                } else {
                    hole - short.div_ceil(2)
                }
            }
            4 => hole + rng.below(PAGE as u64),
            5 => 0xffff_0000_0000_0000 | (rng.next() & 0x0000_ffff_ffff_f000),
            6 => 0x0001_0000_0000_0000 | rng.next(),
            _ => rng.next(),
        }
    }

    /// Reads back a record (from [`Self::record`]).
    pub fn get_u32(&self, ptr: u64) -> u32 {
        // SAFETY: `ptr` is in the record pages (the caller checked `record`'s flag), maybe
        // unaligned.
        unsafe { core::ptr::read_unaligned(ptr as *const u32) }
    }

    /// An array of handle values at the start of the buffers, for handle-taking calls.
    pub fn handles(&self, values: &[zx_handle_t]) -> u64 {
        let at = self.buffers();
        for (i, &value) in values.iter().enumerate() {
            // SAFETY: at most 64 values, in the buffer pages.
            unsafe { core::ptr::write_volatile((at as *mut u32).add(i), value) };
        }
        at as u64
    }
}

pub fn check(status: sys::zx_status_t) -> Result<(), sys::zx_status_t> {
    if status == sys::ZX_OK {
        Ok(())
    } else {
        Err(status)
    }
}
