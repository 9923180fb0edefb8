//! Issue 14, item 6: cases that race on purpose. Several threads of this process call into
//! the same objects at once for a few hundred milliseconds while the data is checked; each
//! case then checks that the kernel's heap and free pages came back (a warm-up run first, so
//! that caches and this process's own heap have grown already).
//!
//! On one CPU only preemption interleaves the threads; with several they really overlap.
//! `make stress` boots `only=race_` again and again on four vCPUs under MTTCG.
//!
//! A thread never fails the case itself: it records the first thing it saw go wrong in a
//! shared [`Failure`] and the starter reports it after joining every thread.

use crate::harness::Case;
use crate::util::*;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

pub const CASES: &[Case] = &[
    (
        "race_vmo_writes_resizes_faults_and_reads_see_only_written_data",
        || expect_no_kernel_leak(1, 1, vmo_hammer),
    ),
    ("race_handle_close_versus_use_is_ok_or_bad_handle", || {
        expect_no_kernel_leak(1, 1, close_versus_use)
    }),
    (
        "race_channel_many_writers_many_readers_each_message_once",
        || expect_no_kernel_leak(1, 1, channel_many_to_many),
    ),
    ("race_kill_a_running_thread_many_times", || {
        expect_no_kernel_leak(1, 1, kill_running_threads)
    }),
    ("race_processes_spawned_and_killed_in_parallel", || {
        expect_no_kernel_leak(1, 1, processes_in_parallel)
    }),
    ("race_wait_one_wakes_every_waiter_once_per_signal", || {
        expect_no_kernel_leak(1, 1, wait_one_wakes_all)
    }),
    (
        "race_a_page_replaced_under_a_reading_thread_is_gone_from_its_tlb",
        || expect_no_kernel_leak(1, 1, replace_under_a_reader),
    ),
];

/// How long each racing run lasts (the case runs it twice: warm-up and measured).
const RUN: i64 = 250 * MS;

// ---- running closures on threads ----------------------------------------------------------

/// The first failure any thread saw.
struct Failure {
    taken: AtomicBool,
    ready: AtomicBool,
    why: UnsafeCell<String>,
}

// SAFETY: `why` is written once, by the thread that won `taken`, and read only after `ready`
// (Release/Acquire) says the write is done.
unsafe impl Sync for Failure {}

impl Failure {
    fn new() -> Failure {
        Failure {
            taken: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            why: UnsafeCell::new(String::new()),
        }
    }

    /// Records `why` unless something was recorded before.
    fn set(&self, why: String) {
        if !self.taken.swap(true, Ordering::AcqRel) {
            // SAFETY: only the thread that took the slot writes, once; readers wait for `ready`.
            unsafe {
                *self.why.get() = why;
            }
            self.ready.store(true, Ordering::Release);
        }
    }

    fn failed(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }

    /// `Err` with the recorded failure, if any (after every thread was joined).
    fn result(&self) -> R {
        if self.ready.load(Ordering::Acquire) {
            // SAFETY: the writer is done (`ready`), nobody writes again.
            Err(unsafe { (*self.why.get()).clone() })
        } else if self.failed() {
            Err(String::from("a thread failed but its message is missing"))
        } else {
            Ok(())
        }
    }
}

/// Records a failure when `status` is not one of `allowed`; true if it was allowed.
fn status_in(fail: &Failure, what: &str, status: i32, allowed: &[i32]) -> bool {
    if allowed.contains(&status) {
        return true;
    }
    let names: Vec<String> = allowed.iter().map(|s| sname(*s)).collect();
    fail.set(format!(
        "{what}: expected {}, got {}",
        names.join("/"),
        sname(status)
    ));
    false
}

/// What one thread of [`in_threads`] runs: `f(i)` for its index `i`.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
}

extern "C" fn job_entry(job: usize, i: usize) -> ! {
    // SAFETY: `in_threads` keeps the job alive until this thread has terminated.
    let job = unsafe { &*(job as *const Job) };
    (job.f)(i);
    thread_exit()
}

/// Runs `f(0)` .. `f(n - 1)` on `n` new threads of this process and `f(n)` on this one, then
/// joins them all (a thread still running after 10 s is killed and fails the case).
fn in_threads(n: usize, f: &(dyn Fn(usize) + Sync)) -> R {
    let job = Job { f };
    let mut threads = Vec::new();
    for i in 0..n {
        threads.push(start_thread(job_entry, &job as *const Job as usize, i)?);
    }
    f(n);
    let mut first = Ok(());
    for (i, t) in threads.into_iter().enumerate() {
        if let Err(e) = t.join(10_000 * MS) {
            if first.is_ok() {
                first = Err(format!("thread {i}: {e}"));
            }
        }
    }
    first
}

fn poke_u64(addr: usize, v: u64) {
    // SAFETY: callers pass aligned addresses of live writable mappings.
    unsafe { core::ptr::write_volatile(addr as *mut u64, v) }
}

/// Sleeps a little now and then so that, on one CPU, a thread polling a flag lets the others
/// run instead of burning its whole time slice.
fn pause(i: u64) {
    if i.is_multiple_of(64) {
        sleep_ns(100_000);
    } else {
        core::hint::spin_loop();
    }
}

// ---- 1: one VMO written, resized, decommitted and faulted on at once ------------------------

/// Pages that are never resized away (the mapping covers only these: a fault past the end of
/// a shrunk VMO would end this process).
const BASE: u64 = 8;
/// Pages above `BASE` the resizer drops and brings back.
const TAIL: u64 = 8;
/// Top 16 bits of every word written to the VMO under test.
const MAGIC: u64 = 0xC0DE;
/// Top 16 bits of the words written to a second VMO at the same time: never seen in the first.
const DECOY: u64 = 0xDEC0;
/// Writer id of the resizer's tail words (their "sequence" is the resize round).
const TAIL_WRITER: u64 = 0xFF;

/// One word: who wrote it (`writer`), into which page, as which of its writes.
fn tag(magic: u64, writer: u64, page: u64, seq: u64) -> u64 {
    magic << 48 | (writer & 0xFF) << 40 | (page & 0xFF) << 32 | (seq & 0xFFFF_FFFF)
}

/// Why `word`, read at page `page`, is not something a writer put there (0 is the content of a
/// page never written, decommitted or newly exposed by growth). `round` is the range of resize
/// rounds a tail word may come from.
fn bad_word(word: u64, page: u64, writers: u64, round: (u64, u64)) -> Option<String> {
    if word == 0 {
        return None;
    }
    let magic = word >> 48;
    let writer = (word >> 40) & 0xFF;
    let wpage = (word >> 32) & 0xFF;
    let seq = word & 0xFFFF_FFFF;
    if magic == DECOY {
        return Some(format!(
            "page {page} holds {word:#x}, a word written to another VMO"
        ));
    }
    if magic != MAGIC || wpage != page {
        return Some(format!(
            "page {page} holds {word:#x}, which no writer wrote there (torn or foreign)"
        ));
    }
    if page < BASE {
        if writer >= writers {
            return Some(format!(
                "page {page} holds {word:#x}: writer {writer} never wrote it"
            ));
        }
    } else if writer != TAIL_WRITER || seq < round.0 || seq > round.1 {
        return Some(format!(
            "tail page {page} holds {word:#x} while resize rounds {}..={} ran: data from before a shrink came back",
            round.0, round.1
        ));
    }
    None
}

/// Issue 14, item 4: writes (zx_vmo_write, two threads), stores through a mapping (one
/// thread), decommits and resizes (one thread) and reads (this thread, by call and through
/// the mapping) of one VMO at once. Every aligned word read is 0 or a word some writer wrote
/// at that very page (no torn words, no data of another VMO written meanwhile, no tail data
/// from before a shrink); at the end the committed bytes match the content.
fn vmo_hammer() -> R {
    let v = vmo_opts((BASE + TAIL) * PAGE, 0)?;
    let decoy = vmo_opts(BASE * PAGE, ZX_VMO_NON_RESIZABLE)?;
    let m = map(v.raw(), 0, (BASE * PAGE) as usize, RW)?;
    let h = Hammer {
        vmo: v.raw(),
        decoy: decoy.raw(),
        addr: m.addr,
        round: AtomicU64::new(0),
        counts: Default::default(),
        fail: Failure::new(),
        deadline: now() + RUN,
    };
    in_threads(4, &|i| {
        let mut buf: Vec<u64> = alloc::vec![0; WORDS];
        let mut seq = 0u64;
        while now() < h.deadline && !h.fail.failed() {
            seq += 1;
            h.counts[i].fetch_add(1, Ordering::Relaxed);
            let ok = match i {
                0 | 1 => h.write(i as u64, seq, &mut buf),
                2 => h.fault(seq),
                3 => h.resize(seq, &mut buf),
                _ => h.check(&mut buf),
            };
            if !ok {
                return;
            }
        }
    })?;
    h.fail.result()?;
    for (i, c) in h.counts.iter().enumerate() {
        let c = c.load(Ordering::Relaxed);
        ensure!(c >= 2, "thread {i} ran only {c} rounds: nothing overlapped");
    }
    // The resizer ends shrunk: only the base is left, and what is committed is what was
    // written (a page holding data is committed; no more pages than the size).
    eq!(get_size(h.vmo)?, BASE * PAGE);
    let mut buf: Vec<u64> = alloc::vec![0; WORDS];
    let mut with_data = 0u64;
    for page in 0..BASE {
        zx_ok!(vmo_read(h.vmo, page * PAGE, bytes_of_mut(&mut buf)));
        for w in buf.iter() {
            if let Some(why) = bad_word(*w, page, WRITERS, (0, 0)) {
                fail!("after the race: {why}");
            }
        }
        if buf.iter().any(|w| *w != 0) {
            with_data += 1;
        }
    }
    let committed = committed(h.vmo)?;
    ensure!(
        committed >= with_data * PAGE && committed <= BASE * PAGE,
        "{committed:#x} bytes committed with {with_data} pages holding data in a {BASE}-page VMO"
    );
    drop(m);
    drop(v);
    drop(decoy);
    Ok(())
}

const WORDS: usize = PAGEZ / 8;
/// Writers 0 and 1 by call, 2 through the mapping.
const WRITERS: u64 = 3;

struct Hammer {
    vmo: u32,
    decoy: u32,
    addr: usize,
    /// The resize round the tail holds data of (published after each growth).
    round: AtomicU64,
    counts: [AtomicU64; 5],
    fail: Failure,
    deadline: i64,
}

impl Hammer {
    /// A run of whole words of one writer at an aligned offset of one base page; writer 0
    /// writes the same shape into the decoy VMO too.
    fn write(&self, writer: u64, seq: u64, buf: &mut [u64]) -> bool {
        let r = rand_u64();
        let page = r % BASE;
        let first = ((r >> 8) as usize) % WORDS;
        let len = 1 + ((r >> 20) as usize) % (WORDS - first);
        let offset = page * PAGE + first as u64 * 8;
        buf[..len].fill(tag(MAGIC, writer, page, seq));
        let s = vmo_write(self.vmo, offset, bytes_of(&buf[..len]));
        if !status_in(&self.fail, "zx_vmo_write", s, &[ZX_OK]) {
            return false;
        }
        if writer == 0 {
            buf[..len].fill(tag(DECOY, 0, page, seq));
            let s = vmo_write(self.decoy, offset, bytes_of(&buf[..len]));
            return status_in(&self.fail, "zx_vmo_write(decoy)", s, &[ZX_OK]);
        }
        true
    }

    /// A store and a load through the mapping at random words of random base pages (each a
    /// fault when the page is not mapped yet or was decommitted).
    fn fault(&self, seq: u64) -> bool {
        let r = rand_u64();
        let page = r % BASE;
        let word = ((r >> 8) as usize) % WORDS;
        poke_u64(
            self.addr + page as usize * PAGEZ + word * 8,
            tag(MAGIC, 2, page, seq),
        );
        let page = (r >> 24) % BASE;
        let word = ((r >> 32) as usize) % WORDS;
        let got = peek_u64(self.addr + page as usize * PAGEZ + word * 8);
        if let Some(why) = bad_word(got, page, WRITERS, (0, 0)) {
            self.fail.set(format!("through the mapping: {why}"));
            return false;
        }
        true
    }

    /// Grows the VMO, publishes the round, fills the tail with this round's words, shrinks it
    /// again; every fourth round decommits a base page too (it reads zero, faults commit it
    /// again).
    fn resize(&self, rd: u64, buf: &mut [u64]) -> bool {
        // SAFETY: no pointers.
        let s = unsafe { sys::zx_vmo_set_size(self.vmo, (BASE + TAIL) * PAGE) };
        if !status_in(&self.fail, "zx_vmo_set_size(grow)", s, &[ZX_OK]) {
            return false;
        }
        self.round.store(rd, Ordering::SeqCst);
        for p in BASE..BASE + TAIL {
            buf.fill(tag(MAGIC, TAIL_WRITER, p, rd));
            let s = vmo_write(self.vmo, p * PAGE, bytes_of(buf));
            if !status_in(&self.fail, "zx_vmo_write(tail)", s, &[ZX_OK]) {
                return false;
            }
        }
        // SAFETY: no pointers.
        let s = unsafe { sys::zx_vmo_set_size(self.vmo, BASE * PAGE) };
        if !status_in(&self.fail, "zx_vmo_set_size(shrink)", s, &[ZX_OK]) {
            return false;
        }
        if rd.is_multiple_of(4) {
            let page = rand_u64() % BASE;
            let s = op(self.vmo, ZX_VMO_OP_DECOMMIT, page * PAGE, PAGE);
            return status_in(&self.fail, "ZX_VMO_OP_DECOMMIT", s, &[ZX_OK]);
        }
        true
    }

    /// Reads one page by call (a tail page fails with OUT_OF_RANGE while shrunk, else holds
    /// zeros or words of the round that was current during the read) and one through the
    /// mapping, and checks every word.
    fn check(&self, buf: &mut [u64]) -> bool {
        let r = rand_u64();
        let page = r % (BASE + TAIL);
        let before = self.round.load(Ordering::SeqCst);
        let s = vmo_read(self.vmo, page * PAGE, bytes_of_mut(buf));
        let after = self.round.load(Ordering::SeqCst);
        let allowed: &[i32] = if page < BASE {
            &[ZX_OK]
        } else {
            &[ZX_OK, ZX_ERR_OUT_OF_RANGE]
        };
        if !status_in(&self.fail, "zx_vmo_read", s, allowed) {
            return false;
        }
        if s == ZX_OK {
            for w in buf.iter() {
                if let Some(why) = bad_word(*w, page, WRITERS, (before, after)) {
                    self.fail.set(format!("zx_vmo_read: {why}"));
                    return false;
                }
            }
        }
        let page = (r >> 16) % BASE;
        for i in 0..WORDS {
            let got = peek_u64(self.addr + page as usize * PAGEZ + i * 8);
            if let Some(why) = bad_word(got, page, WRITERS, (0, 0)) {
                self.fail.set(format!("read through the mapping: {why}"));
                return false;
            }
        }
        true
    }
}

/// The bytes of a slice of words.
fn bytes_of(words: &[u64]) -> &[u8] {
    // SAFETY: u64s have no padding and every byte is a valid u8; the same memory and length.
    unsafe { core::slice::from_raw_parts(words.as_ptr().cast(), words.len() * 8) }
}

fn bytes_of_mut(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: as `bytes_of`, and every byte pattern is a valid u64.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), words.len() * 8) }
}

// ---- 2: one handle closed and replaced while other threads use it --------------------------

/// Issue 14, item 4: one thread closes the VMO handle the others use and puts a new one in
/// its place, again and again; the users write, read, get info, duplicate, map and wait on
/// whatever value they last saw. Each call either works on the object (the old one or the
/// new one) or fails with BAD_HANDLE (a wait also with CANCELED: the handle was closed under
/// it); nothing else, and the data read is always data written.
fn close_versus_use() -> R {
    let first = vmo(PAGE)?;
    let shared = AtomicU32::new(first.into_raw());
    let counts: [AtomicU64; 4] = Default::default();
    let bad_handle = AtomicU64::new(0);
    let fail = Failure::new();
    let deadline = now() + RUN;
    in_threads(3, &|i| {
        let mut seq = 0u64;
        while now() < deadline && !fail.failed() {
            seq += 1;
            counts[i].fetch_add(1, Ordering::Relaxed);
            let h = shared.load(Ordering::SeqCst);
            let ok = match i {
                0 => {
                    // The closer: a new VMO in, the old one closed (only this thread
                    // closes the shared value, so the close must work).
                    let new = match vmo(PAGE) {
                        Ok(v) => v.into_raw(),
                        Err(e) => {
                            fail.set(e);
                            return;
                        }
                    };
                    let old = shared.swap(new, Ordering::SeqCst);
                    // SAFETY: closing a handle value has no memory-safety requirements.
                    let s = unsafe { sys::zx_handle_close(old) };
                    status_in(&fail, "zx_handle_close of the replaced handle", s, &[ZX_OK])
                }
                1 => use_by_call(&fail, h, i as u64, seq, &bad_handle),
                2 => use_by_map(&fail, h, &bad_handle),
                _ => {
                    // A short wait: it times out, or the handle is closed under it, or
                    // it was closed already.
                    let (s, _) = wait(h, ZX_USER_SIGNAL_0, 200_000);
                    status_in(
                        &fail,
                        "zx_object_wait_one",
                        s,
                        &[ZX_ERR_TIMED_OUT, ZX_ERR_CANCELED, ZX_ERR_BAD_HANDLE],
                    )
                }
            };
            if !ok {
                return;
            }
        }
    })?;
    // SAFETY: closing the last value; nothing uses it any more.
    zx_ok!(unsafe { sys::zx_handle_close(shared.load(Ordering::SeqCst)) });
    fail.result()?;
    for (i, c) in counts.iter().enumerate() {
        let c = c.load(Ordering::Relaxed);
        ensure!(c >= 2, "thread {i} ran only {c} rounds: nothing overlapped");
    }
    Ok(())
}

const USE_ALLOWED: &[i32] = &[ZX_OK, ZX_ERR_BAD_HANDLE];

/// Write, read back, info, duplicate (and use and close the duplicate) on `h`.
fn use_by_call(fail: &Failure, h: u32, me: u64, seq: u64, bad: &AtomicU64) -> bool {
    let word = tag(MAGIC, me, 0, seq);
    let s = vmo_write(h, 8 * me, &word.to_le_bytes());
    if !status_in(fail, "zx_vmo_write", s, USE_ALLOWED) {
        return false;
    }
    let mut got = [0u8; 8];
    let s = vmo_read(h, 8 * me, &mut got);
    if !status_in(fail, "zx_vmo_read", s, USE_ALLOWED) {
        return false;
    }
    let got = u64::from_le_bytes(got);
    if s == ZX_OK && got != 0 && (got >> 48 != MAGIC || (got >> 40) & 0xFF != me) {
        fail.set(format!("zx_vmo_read gave {got:#x}, never written there"));
        return false;
    }
    let mut info = [0u8; zx_info_handle_basic_t::SIZE];
    let (mut actual, mut avail) = (0usize, 0usize);
    // SAFETY: valid buffer and out pointers.
    let s = unsafe {
        sys::zx_object_get_info(
            h,
            ZX_INFO_HANDLE_BASIC,
            info.as_mut_ptr().cast(),
            info.len(),
            &mut actual,
            &mut avail,
        )
    };
    if !status_in(fail, "zx_object_get_info(HANDLE_BASIC)", s, USE_ALLOWED) {
        return false;
    }
    if s == ZX_OK {
        match zx_info_handle_basic_t::from_bytes(&info) {
            Some(b) if b.type_ == ZX_OBJ_TYPE_VMO => {}
            other => {
                fail.set(format!(
                    "ZX_INFO_HANDLE_BASIC: type {:?}",
                    other.map(|b| b.type_)
                ));
                return false;
            }
        }
    } else {
        bad.fetch_add(1, Ordering::Relaxed);
    }
    let mut d = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_handle_duplicate(h, ZX_RIGHT_SAME_RIGHTS, &mut d) };
    if !status_in(fail, "zx_handle_duplicate", s, USE_ALLOWED) {
        return false;
    }
    if s == ZX_OK {
        // The duplicate keeps the object alive whatever happens to `h`.
        let d = Owned::from_raw(d);
        if get_size(d.raw()).ok() != Some(PAGE) {
            fail.set(String::from("the duplicate's size is not one page"));
            return false;
        }
        // SAFETY: we own the duplicate.
        let s = unsafe { sys::zx_handle_close(d.into_raw()) };
        return status_in(fail, "zx_handle_close(duplicate)", s, &[ZX_OK]);
    }
    bad.fetch_add(1, Ordering::Relaxed);
    true
}

/// Maps `h`, reads through the mapping (the mapping keeps the VMO alive), unmaps.
fn use_by_map(fail: &Failure, h: u32, bad: &AtomicU64) -> bool {
    match map_raw(root_vmar(), ZX_VM_PERM_READ, 0, h, 0, PAGEZ) {
        Ok(addr) => {
            let got = peek_u64(addr);
            // SAFETY: our own mapping of one page; nothing else uses it.
            let s = unsafe { sys::zx_vmar_unmap(root_vmar(), addr, PAGEZ) };
            if got != 0 && got >> 48 != MAGIC {
                fail.set(format!("a fresh mapping reads {got:#x}"));
                return false;
            }
            status_in(fail, "zx_vmar_unmap", s, &[ZX_OK])
        }
        Err(s) => {
            bad.fetch_add(1, Ordering::Relaxed);
            status_in(fail, "zx_vmar_map", s, USE_ALLOWED)
        }
    }
}

// ---- 3: many writers and many readers on one channel -------------------------------------

const CH_WRITERS: usize = 3;
const CH_READERS: usize = 3;
/// Most messages per writer (the record of what was seen is this large).
const CH_MAX: usize = 2048;
/// Most messages in flight: far below the endpoint's limit, which would end this process.
const CH_IN_FLIGHT: u64 = 512;

/// Issue 14, item 4: three threads write tagged messages (writer, sequence) into one end of a
/// channel while three read the other end; every message is read exactly once, whole, and
/// each reader sees each writer's messages in the order they were written.
fn channel_many_to_many() -> R {
    let (a, b) = channel()?;
    let (wh, rh) = (a.raw(), b.raw());
    let seen: Vec<AtomicU8> = (0..CH_WRITERS * CH_MAX).map(|_| AtomicU8::new(0)).collect();
    let written = AtomicU64::new(0);
    let read = AtomicU64::new(0);
    let writers_done = AtomicUsize::new(0);
    let per_reader: [AtomicU64; CH_READERS] = Default::default();
    let fail = Failure::new();
    let deadline = now() + RUN;
    in_threads(CH_WRITERS + CH_READERS - 1, &|i| {
        if i < CH_WRITERS {
            let mut seq = 0usize;
            let mut k = 0u64;
            while seq < CH_MAX && now() < deadline && !fail.failed() {
                if written.load(Ordering::SeqCst) >= read.load(Ordering::SeqCst) + CH_IN_FLIGHT {
                    k += 1;
                    pause(k);
                    continue;
                }
                let mut msg = [0u8; 16];
                msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
                msg[8..].copy_from_slice(&(seq as u64).to_le_bytes());
                written.fetch_add(1, Ordering::SeqCst);
                let s = ch_write(wh, &msg, &[]);
                if !status_in(&fail, "zx_channel_write", s, &[ZX_OK]) {
                    break;
                }
                seq += 1;
            }
            writers_done.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let me = i - CH_WRITERS;
        let mut last = [None::<u64>; CH_WRITERS];
        loop {
            if fail.failed() {
                return;
            }
            let m = ch_read(rh, 16, 0);
            if m.status == ZX_ERR_SHOULD_WAIT {
                // Done once every writer is and nothing is left (the last check comes after
                // the writers finished, so no message can still arrive).
                if writers_done.load(Ordering::SeqCst) == CH_WRITERS
                    && read.load(Ordering::SeqCst) == written.load(Ordering::SeqCst)
                {
                    return;
                }
                wait(rh, ZX_CHANNEL_READABLE, 2 * MS);
                continue;
            }
            if !status_in(&fail, "zx_channel_read", m.status, &[ZX_OK]) {
                return;
            }
            if m.bytes.len() != 16 || m.actual_handles != 0 {
                fail.set(format!(
                    "a message of {} bytes and {} handles, 16 and 0 were written",
                    m.bytes.len(),
                    m.actual_handles
                ));
                return;
            }
            let w = u64::from_le_bytes(m.bytes[..8].try_into().unwrap_or_default()) as usize;
            let seq = u64::from_le_bytes(m.bytes[8..].try_into().unwrap_or_default());
            if w >= CH_WRITERS || seq as usize >= CH_MAX {
                fail.set(format!("message ({w}, {seq}) was never written"));
                return;
            }
            if last[w].is_some_and(|l| l >= seq) {
                fail.set(format!(
                    "reader {me} got writer {w}'s message {seq} after its message {:?}",
                    last[w]
                ));
                return;
            }
            last[w] = Some(seq);
            if seen[w * CH_MAX + seq as usize].fetch_add(1, Ordering::SeqCst) != 0 {
                fail.set(format!("message ({w}, {seq}) was read twice"));
                return;
            }
            per_reader[me].fetch_add(1, Ordering::Relaxed);
            read.fetch_add(1, Ordering::SeqCst);
        }
    })?;
    fail.result()?;
    let total = written.load(Ordering::SeqCst);
    eq!(read.load(Ordering::SeqCst), total);
    // Every message written was read once: the written ones are a prefix per writer.
    let mut count = 0u64;
    for w in 0..CH_WRITERS {
        let mut ended = false;
        for seq in 0..CH_MAX {
            let n = seen[w * CH_MAX + seq].load(Ordering::SeqCst);
            ensure!(n <= 1, "message ({w}, {seq}) read {n} times");
            if n == 0 {
                ended = true;
            } else {
                ensure!(
                    !ended,
                    "message ({w}, {seq}) read but an earlier one never was"
                );
                count += 1;
            }
        }
    }
    eq!(count, total);
    ensure!(total >= 100, "only {total} messages in {RUN} ns");
    // Nothing is left.
    eq!(sname(ch_read(rh, 16, 0).status), sname(ZX_ERR_SHOULD_WAIT));
    Ok(())
}

// ---- 4: killing a thread while it runs ---------------------------------------------------

extern "C" fn spin_entry(counter: usize, with_calls: usize) -> ! {
    // SAFETY: the starter keeps the counter alive until the thread is gone.
    let c = unsafe { &*(counter as *const AtomicU64) };
    loop {
        c.fetch_add(1, Ordering::Relaxed);
        if with_calls != 0 && c.load(Ordering::Relaxed).is_multiple_of(16) {
            // Also in and out of the kernel, so that the kill meets it there sometimes.
            let _ = now();
        }
    }
}

/// Issue 14, item 4: a thread spinning in user mode (some also calling into the kernel) is
/// killed by another thread of the process while it runs; it terminates, stops running, and
/// everything it held comes back. Two at once, killed by two killers, many rounds.
fn kill_running_threads() -> R {
    let deadline = now() + RUN;
    let fail = Failure::new();
    let rounds: [AtomicU64; 2] = Default::default();
    in_threads(1, &|i| {
        let counter = AtomicU64::new(0);
        while now() < deadline && !fail.failed() {
            counter.store(0, Ordering::SeqCst);
            let t = match start_thread(spin_entry, &counter as *const AtomicU64 as usize, i) {
                Ok(t) => t,
                Err(e) => return fail.set(e),
            };
            // Until it runs (on one CPU the starter gives way while it sleeps).
            let wait_until = now() + 2000 * MS;
            let mut k = 0u64;
            while counter.load(Ordering::SeqCst) == 0 && now() < wait_until {
                k += 1;
                pause(k);
            }
            if counter.load(Ordering::SeqCst) == 0 {
                return fail.set(String::from("the spinning thread never ran"));
            }
            // SAFETY: no pointers.
            let s = unsafe { sys::zx_task_kill(t.raw()) };
            if !status_in(&fail, "zx_task_kill", s, &[ZX_OK]) {
                return;
            }
            let (s, obs) = wait(t.raw(), ZX_THREAD_TERMINATED, 5000 * MS);
            if !status_in(&fail, "waiting for THREAD_TERMINATED", s, &[ZX_OK]) {
                return;
            }
            if obs & ZX_THREAD_TERMINATED == 0 {
                return fail.set(format!("observed {obs:#x} lacks THREAD_TERMINATED"));
            }
            let n = rounds[i].fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(8) {
                // Terminated means it runs no more.
                let c1 = counter.load(Ordering::SeqCst);
                sleep_ns(2 * MS);
                let c2 = counter.load(Ordering::SeqCst);
                if c1 != c2 {
                    return fail.set(format!("a terminated thread still ran ({c1} -> {c2})"));
                }
            }
            if let Err(e) = t.join(0) {
                return fail.set(e);
            }
        }
    })?;
    fail.result()?;
    for (i, r) in rounds.iter().enumerate() {
        let r = r.load(Ordering::Relaxed);
        ensure!(r >= 3, "killer {i} did only {r} rounds");
    }
    Ok(())
}

// ---- 5: processes started and killed from several threads at once ------------------------

/// Issue 14, item 4: two threads each start child processes and kill them (at once, after a
/// while, or not at all: one exits by itself), in parallel; each ends with the code the
/// contract gives it, and (the case's leak check) every page and heap byte comes back.
fn processes_in_parallel() -> R {
    let deadline = now() + RUN;
    let fail = Failure::new();
    let counts: [AtomicU64; 2] = Default::default();
    in_threads(1, &|i| {
        let mut n = 0u64;
        while now() < deadline && !fail.failed() {
            n += 1;
            let way = (n + i as u64) % 3;
            let mode: &[&str] = if way == 2 { &["exit", "7"] } else { &["sleep"] };
            let p = match spawn_child(mode, Vec::new()) {
                Ok(p) => p,
                Err(e) => return fail.set(e),
            };
            if way == 1 {
                sleep_ns(((rand_u64() % 3) as i64) * MS);
            }
            if way != 2 {
                // SAFETY: no pointers.
                let s = unsafe { sys::zx_task_kill(p.raw()) };
                if !status_in(&fail, "zx_task_kill(process)", s, &[ZX_OK]) {
                    return;
                }
            }
            let code = match wait_child(&p, 10_000 * MS) {
                Ok(c) => c,
                Err(e) => return fail.set(e),
            };
            let want = if way == 2 {
                7
            } else {
                ZX_TASK_RETCODE_SYSCALL_KILL
            };
            if code != want {
                return fail.set(format!(
                    "child {mode:?} (way {way}) ended with {code}, expected {want}"
                ));
            }
            counts[i].fetch_add(1, Ordering::Relaxed);
        }
    })?;
    fail.result()?;
    for (i, c) in counts.iter().enumerate() {
        let c = c.load(Ordering::Relaxed);
        ensure!(c >= 2, "thread {i} ended only {c} children");
    }
    Ok(())
}

// ---- 6: one signal wakes every waiter, once ---------------------------------------------------

const WAITERS: usize = 3;

/// Issue 14, item 4: three threads wait on one object's USER_SIGNAL_0; one zx_object_signal
/// wakes each of them exactly once with the signal observed, none before it (every other
/// round the signal is raised while they are still on their way into the wait).
fn wait_one_wakes_all() -> R {
    let (a, _b) = channel()?;
    let h = a.raw();
    // Round r starts when `round` is r; `signaled` is the last round whose signal was raised.
    let round = AtomicU64::new(0);
    let signaled = AtomicU64::new(0);
    let ready = AtomicU64::new(0);
    let woken = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let fail = Failure::new();
    let deadline = now() + RUN;
    let rounds = AtomicU64::new(0);
    in_threads(WAITERS, &|i| {
        if i < WAITERS {
            let mut mine = 0u64;
            loop {
                // The next round (or the end).
                let mut k = 0u64;
                while round.load(Ordering::SeqCst) == mine && !stop.load(Ordering::SeqCst) {
                    k += 1;
                    pause(k);
                }
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                mine = round.load(Ordering::SeqCst);
                ready.fetch_add(1, Ordering::SeqCst);
                let (s, obs) = wait(h, ZX_USER_SIGNAL_0, 5000 * MS);
                if !status_in(&fail, "zx_object_wait_one", s, &[ZX_OK]) {
                    return;
                }
                if obs & ZX_USER_SIGNAL_0 == 0 || signaled.load(Ordering::SeqCst) != mine {
                    return fail.set(format!(
                        "round {mine}: woken with {obs:#x} before the signal (last raised in round {})",
                        signaled.load(Ordering::SeqCst)
                    ));
                }
                woken.fetch_add(1, Ordering::SeqCst);
            }
        }
        // This thread drives the rounds.
        let mut r = 0u64;
        while now() < deadline && !fail.failed() {
            r += 1;
            // SAFETY: no pointers.
            let s = unsafe { sys::zx_object_signal(h, ZX_USER_SIGNAL_0, 0) };
            if !status_in(&fail, "zx_object_signal(clear)", s, &[ZX_OK]) {
                break;
            }
            round.store(r, Ordering::SeqCst);
            let want = r * WAITERS as u64;
            let mut k = 0u64;
            while ready.load(Ordering::SeqCst) < want && !fail.failed() {
                k += 1;
                pause(k);
            }
            if r.is_multiple_of(2) {
                // Most of them are inside the wait by now.
                sleep_ns(MS);
            }
            signaled.store(r, Ordering::SeqCst);
            // SAFETY: no pointers.
            let s = unsafe { sys::zx_object_signal(h, 0, ZX_USER_SIGNAL_0) };
            if !status_in(&fail, "zx_object_signal(set)", s, &[ZX_OK]) {
                break;
            }
            let until = now() + 5000 * MS;
            let mut k = 0u64;
            while woken.load(Ordering::SeqCst) < want && !fail.failed() && now() < until {
                k += 1;
                pause(k);
            }
            let got = woken.load(Ordering::SeqCst);
            if got != want && !fail.failed() {
                fail.set(format!(
                    "round {r}: {} of {WAITERS} waiters woke",
                    got + WAITERS as u64 - want
                ));
            }
        }
        stop.store(true, Ordering::SeqCst);
        rounds.store(r, Ordering::SeqCst);
    })?;
    fail.result()?;
    let rounds = rounds.load(Ordering::SeqCst);
    ensure!(rounds >= 3, "only {rounds} rounds");
    Ok(())
}

// ---- 7: a mapping replaced while another thread reads through it -------------------------------

/// One thread reads a word through a mapping of VMO `old` in a tight loop (no system call, so
/// with several CPUs it stays in user mode on its own CPU, its TLB holding the translation)
/// while this one maps VMO `new` over it (SPECIFIC_OVERWRITE) and then keeps writing a third
/// value into `old`'s page. The reader must come to see `new`'s word and, from then on, never
/// `old`'s page again: the replacement's TLB invalidation reached its CPU.
fn replace_under_a_reader() -> R {
    const OLD: u64 = 0x01d_01d;
    const NEW: u64 = 0x0e_e0e;
    const STALE: u64 = 0x57a1e;
    let old = vmo(PAGE)?;
    let new = vmo(PAGE)?;
    write_all(old.raw(), 0, &OLD.to_le_bytes())?;
    write_all(new.raw(), 0, &NEW.to_le_bytes())?;
    let sub = allocate(
        root_vmar(),
        ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_SPECIFIC,
        0,
        PAGEZ,
    )?;
    let addr = map_raw(
        sub.h.raw(),
        ZX_VM_PERM_READ | ZX_VM_SPECIFIC,
        0,
        old.raw(),
        0,
        PAGEZ,
    )
    .map_err(|s| format!("zx_vmar_map setup: {}", sname(s)))?;
    let reads = AtomicU64::new(0);
    let seen_new = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let fail = Failure::new();
    in_threads(1, &|i| {
        if i == 0 {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let word = peek_u64(addr);
                reads.fetch_add(1, Ordering::Relaxed);
                match word {
                    OLD if seen_new.load(Ordering::Relaxed) => {
                        return fail.set("read the replaced page after the new one".into())
                    }
                    OLD => {}
                    NEW => seen_new.store(true, Ordering::Relaxed),
                    STALE => {
                        return fail
                            .set("read the replaced VMO's page through a stale translation".into())
                    }
                    other => return fail.set(format!("read {other:#x}")),
                }
                k += 1;
                // Only on one CPU does the reader need to let the other thread run.
                if k.is_multiple_of(4096) {
                    sleep_ns(100_000);
                }
            }
            return;
        }
        // The reader's translation is in its TLB by now.
        let until = now() + 2000 * MS;
        while reads.load(Ordering::Relaxed) < 10_000 && now() < until {
            sleep_ns(MS);
        }
        let s = map_raw(
            sub.h.raw(),
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC_OVERWRITE,
            0,
            new.raw(),
            0,
            PAGEZ,
        );
        if let Err(s) = s {
            fail.set(format!("zx_vmar_map(SPECIFIC_OVERWRITE): {}", sname(s)));
        }
        // The old page changes: a stale translation would show it.
        let end = now() + RUN;
        while now() < end && !fail.failed() {
            if vmo_write(old.raw(), 0, &STALE.to_le_bytes()) != ZX_OK {
                fail.set("zx_vmo_write(old)".into());
            }
            sleep_ns(MS);
        }
        if !seen_new.load(Ordering::Relaxed) && !fail.failed() {
            fail.set("the reader never saw the new page".into());
        }
        stop.store(true, Ordering::Relaxed);
    })?;
    fail.result()
}
