//! `fuzz`: the kernel's own system-call fuzzer.
//!
//! `fuzz [SEED [CALLS [ROUNDS]]]` makes CALLS system calls (default 100,000) in ROUNDS
//! rounds (default 4) with arguments drawn from SEED (default 1): from a pool of live handles
//! of every object type, closed and stale handle values and random bits; NULL, unaligned,
//! read-only, straddling, unmapped, kernel and non-canonical pointers; lengths at 0, 1, a page
//! and its neighbours, sizes of memory, huge and near 2^64; known and unknown option bits;
//! unknown call numbers. Each round is a process of its own (`fuzz round SEED CALLS`) in which
//! three threads fuzz at once on objects they share, one of them spawning child processes
//! (`fuzz child SEED CALLS`) that also touch their mappings and start threads anywhere, and
//! killing them mid-call.
//!
//! What it checks:
//! - **Leaks.** At the end of a round its process closes and destroys everything it made,
//!   kills and waits for its children and exits; the first process waits for it and then
//!   compares the kernel's figures (`ZX_INFO_KMEM_STATS`: heap in use, pages in use) with
//!   those after the first round, which warms the kernel's caches. Running the round in its
//!   own process makes the figures exact even where the fuzzer lost track of a handle (one a
//!   call wrote where it could not be read back).
//! - **Liveness.** A watchdog thread in each round fails the run when no call completes for
//!   [`STALL_SECONDS`] of guest time, naming each thread's last call.
//! - **Contract.** A call that says OK but did not do what OK means (an out handle not
//!   written, or written through a pointer no byte of which was writable) is reported.
//!
//! A kernel panic or hang ends the boot instead: the seed printed at the start and the call
//! the watchdog or the kernel names reproduce it. Prints `fuzz: N passed, M failed` (N and M
//! count rounds) for the test runner, and exits with 0 only if nothing failed.
#![no_std]
#![no_main]

extern crate alloc;

mod calls;
mod gen;
mod sweep;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use zx::println;
use zx::sys::{self, zx_handle_t};

use calls::{Fuzzer, CALLS, LAST_CALL, NO_MEMORY, OKS};
use gen::{check, Arena, Kind, Pool, Rng, PAGE};

zx::entry!(main);

/// Contract violations seen by any thread.
pub static FAILURES: AtomicU64 = AtomicU64::new(0);
/// The fewest free pages the watchdog saw during the round: how close it came to running
/// the machine out of memory.
static LOWEST_FREE_PAGES: AtomicU64 = AtomicU64::new(u64::MAX);
/// Tells a round's worker threads to stop early.
static STOP: AtomicBool = AtomicBool::new(false);

/// Seconds of guest time without a completed call that count as a hang.
const STALL_SECONDS: i64 = 5;
/// The watchdog's period.
const WATCH_TICK: i64 = 10_000_000;
/// How late the watchdog may wake. Other threads' time slices (10 ms each, a few threads and
/// child processes) make it tens of ms late on virt; on the raspi machines, whose four vCPUs
/// QEMU interleaves, and on a loaded host (guest time is host time without -icount) it is
/// hundreds of ms. So this catches only a call that keeps the CPU for seconds; the ~1 ms
/// rule is checked by the long_* conformance cases and by measurement under -icount.
const LATE_LIMIT: i64 = 2 * SECOND;
/// The most the watchdog woke late this round, in ns.
static MAX_LATE: AtomicU64 = AtomicU64::new(0);
/// Extra fuzzing threads in the main process.
const WORKERS: usize = 2;
/// Size of a round's playground region.
const PLAYGROUND: usize = 64 * 1024 * 1024;
/// Slack of the leak check: kernel heap bytes and free pages that may differ between
/// rounds (the kernel's per-size block caches, a handle table grown by one step).
const HEAP_SLACK: u64 = 8 * 1024;
const PAGE_SLACK: u64 = 16;
/// The sweep's: one run of its script against another (no pages: those must come back).
const SWEEP_HEAP_SLACK: u64 = 1024;
const SECOND: i64 = 1_000_000_000;

fn main(args: &[&str]) -> i32 {
    let number =
        |i: usize, default: u64| -> u64 { args.get(i).and_then(|a| parse(a)).unwrap_or(default) };
    match args.get(1) {
        Some(&"child") => return child(number(2, 1), number(3, 1000)),
        Some(&"round") => return round_process(number(2, 1), number(3, 1000)),
        Some(&"sweep") => return sweep::sweep(),
        _ => {}
    }
    let seed = number(1, 1);
    let calls = number(2, 100_000);
    let rounds = number(3, 4).max(2);
    run(seed, calls, rounds)
}

fn parse(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn now() -> i64 {
    // SAFETY: no arguments.
    unsafe { sys::zx_clock_get_monotonic() }
}

fn sleep(ns: i64) {
    // SAFETY: no memory.
    unsafe { sys::zx_nanosleep(now().saturating_add(ns)) };
}

/// The handles no call may close, move or destroy: the startup handles.
fn startup_handles() -> Vec<zx_handle_t> {
    let mut handles = Vec::with_capacity(16);
    handles.push(zx::startup::process_self());
    handles.push(zx::startup::vmar_root_self());
    handles.push(zx::startup::bootfs());
    // The fuzzer's own job: never killed (only looked at and created in).
    handles.push(zx::startup::job_default());
    handles
}

/// A round's playground: a region of the root VMAR that every VMAR and mapping of the
/// round lives in, destroyed at the end of the round.
fn playground() -> Result<(zx_handle_t, usize, usize), sys::zx_status_t> {
    let (mut vmar, mut base) = (0u32, 0usize);
    let rights = sys::ZX_VM_CAN_MAP_READ
        | sys::ZX_VM_CAN_MAP_WRITE
        | sys::ZX_VM_CAN_MAP_EXECUTE
        | sys::ZX_VM_CAN_MAP_SPECIFIC;
    // SAFETY: out pointers to locals.
    check(unsafe {
        sys::zx_vmar_allocate(
            zx::startup::vmar_root_self(),
            rights,
            0,
            PLAYGROUND,
            &mut vmar,
            &mut base,
        )
    })?;
    Ok((vmar, base, PLAYGROUND))
}

fn kmem() -> sys::zx_info_kmem_stats_t {
    let mut stats = sys::zx_info_kmem_stats_t::default();
    let (mut actual, mut avail) = (0usize, 0usize);
    // SAFETY: a local record of the size passed.
    unsafe {
        sys::zx_object_get_info(
            zx::startup::process_self(),
            sys::ZX_INFO_KMEM_STATS,
            (&mut stats as *mut sys::zx_info_kmem_stats_t).cast(),
            core::mem::size_of::<sys::zx_info_kmem_stats_t>(),
            &mut actual,
            &mut avail,
        )
    };
    stats
}

/// Pages neither free nor the heap's: the heap keeps what it grew to at its peak (that is
/// its own cache, not a leak; what it holds is checked as heap in use).
fn pages_held(k: &sys::zx_info_kmem_stats_t) -> u64 {
    k.total_bytes
        .saturating_sub(k.free_bytes + k.total_heap_bytes)
        / PAGE as u64
}

fn heap_used(k: &sys::zx_info_kmem_stats_t) -> u64 {
    k.total_heap_bytes.saturating_sub(k.free_heap_bytes)
}

/// Runs `calls` calls on `fuzzer`, stopping early when `stop` is set.
fn fuzz(fuzzer: &mut Fuzzer, calls: u64, stop: &AtomicBool) {
    for _ in 0..calls {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        fuzzer.step();
    }
}

fn new_fuzzer(
    seed: u64,
    slot: usize,
    protected: Vec<zx_handle_t>,
    playground: (zx_handle_t, usize, usize),
    reckless: bool,
) -> Result<Fuzzer, sys::zx_status_t> {
    let arena = Arena::new()?;
    let mut protected = protected;
    protected.push(arena.vmar);
    protected.push(playground.0);
    Ok(Fuzzer {
        rng: Rng::new(seed),
        pool: Pool::new(protected),
        arena,
        playground,
        reckless,
        slot,
        calls: 0,
    })
}

/// Gives `fuzzer` a few objects to start from (and to share with the other threads).
fn seed_pool(fuzzer: &mut Fuzzer) {
    for size in [PAGE as u64, 16 * PAGE as u64] {
        let mut vmo = 0u32;
        // SAFETY: out pointer to a local.
        if unsafe { sys::zx_vmo_create(size, 0, &mut vmo) } == sys::ZX_OK {
            fuzzer.pool.add(vmo, Kind::Vmo);
        }
    }
    let (mut a, mut b) = (0u32, 0u32);
    // SAFETY: out pointers to locals.
    if unsafe { sys::zx_channel_create(0, &mut a, &mut b) } == sys::ZX_OK {
        fuzzer.pool.add(a, Kind::Channel);
        fuzzer.pool.add(b, Kind::Channel);
    }
}

/// Duplicates of some of `from`'s handles, for another thread to share.
fn share(from: &mut Fuzzer, to: &mut Fuzzer) {
    let handles: Vec<(zx_handle_t, Kind)> = from.pool.live.iter().take(4).copied().collect();
    for (handle, kind) in handles {
        let mut copy = 0u32;
        // SAFETY: out pointer to a local.
        if unsafe { sys::zx_handle_duplicate(handle, sys::ZX_RIGHT_SAME_RIGHTS, &mut copy) }
            == sys::ZX_OK
        {
            to.pool.add(copy, kind);
        }
    }
}

/// What the watchdog shares with the main thread.
struct Watch {
    stop: AtomicBool,
}

/// Fails the run when no call completes for [`STALL_SECONDS`]: prints each thread's last
/// call and ends the process (a call that never returns cannot be waited out).
fn watchdog(watch: &'static Watch) {
    let mut seen = CALLS.load(Ordering::Relaxed);
    let mut since = now();
    let mut ticks = 0u64;
    while !watch.stop.load(Ordering::Relaxed) {
        let before = now();
        sleep(WATCH_TICK);
        // Late beyond the other threads' turns: a call held the CPU (no preemption point).
        let late = (now() - before - WATCH_TICK).max(0);
        if late > MAX_LATE.load(Ordering::Relaxed) as i64 {
            MAX_LATE.store(late as u64, Ordering::Relaxed);
            if late > LATE_LIMIT {
                println!(
                    "fuzz: FAILED: the watchdog did not run for {} ms; last calls:",
                    late / 1_000_000
                );
                print_last_calls();
            }
        }
        ticks += 1;
        if !ticks.is_multiple_of(20) {
            continue;
        }
        LOWEST_FREE_PAGES.fetch_min(kmem().free_bytes / PAGE as u64, Ordering::Relaxed);
        let calls = CALLS.load(Ordering::Relaxed);
        if calls != seen {
            seen = calls;
            since = now();
            continue;
        }
        if now() - since > STALL_SECONDS * SECOND {
            println!("fuzz: FAILED: no call completed for {STALL_SECONDS} s after {calls} calls; last calls:");
            print_last_calls();
            zx::runtime::exit(3);
        }
    }
}

fn print_last_calls() {
    for (slot, row) in LAST_CALL.iter().enumerate() {
        let args: Vec<String> = row[1..9]
            .iter()
            .map(|a| format!("{:#x}", a.load(Ordering::Relaxed)))
            .collect();
        println!(
            "fuzz:   thread {slot}: call #{} number {} ({})",
            row[9].load(Ordering::Relaxed),
            row[0].load(Ordering::Relaxed),
            args.join(" ")
        );
    }
}

fn run(seed: u64, calls: u64, rounds: u64) -> i32 {
    println!("fuzz: seed {seed}, {calls} calls in {rounds} rounds, each a process with {WORKERS} extra threads and child processes");
    let per_round = calls / rounds;
    let mut base: Option<sys::zx_info_kmem_stats_t> = None;
    let (mut passed, mut failed, mut total) = (0u64, 0u64, 0u64);
    let started = now();
    for round in 0..rounds {
        let round_seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(round);
        let t0 = now();
        disarm();
        let (made, verdict) = match run_round(round_seed, per_round) {
            Ok(made) => (made, Ok(())),
            Err((made, why)) => (made, Err(why)),
        };
        total += made;
        disarm();
        let took = (now() - t0).max(1);
        let leak = settle(&mut base);
        let k = kmem();
        println!(
            "fuzz: round {round} (seed {round_seed:#x}): {made} calls, {} calls/s; heap in use {} bytes (of {} pages), free {} pages{}",
            made as i64 * SECOND / took,
            heap_used(&k),
            k.total_heap_bytes / PAGE as u64,
            k.free_bytes / PAGE as u64,
            match &leak {
                Ok(()) if round == 0 => String::from(" (the figures to come back to)"),
                Ok(()) => String::from(", as after round 0"),
                Err(why) => format!(": LEAK: {why}"),
            }
        );
        if let Err(why) = &verdict {
            println!("fuzz: round {round}: FAILED: {why}");
        }
        if leak.is_err() || verdict.is_err() {
            failed += 1;
        } else {
            passed += 1;
        }
    }
    let took = (now() - started).max(1);
    println!(
        "fuzz: seed {seed}: {total} calls in {} ms, {} calls/s",
        took / 1_000_000,
        total as i64 * SECOND / took
    );
    println!("fuzz: {passed} passed, {failed} failed");
    i32::from(failed != 0)
}

/// On a `kdebug` boot the fuzzing threads arm refused allocations (`failalloc N`) among
/// their calls; none may be left armed for the next round's start or the leak check.
fn disarm() {
    // Elsewhere than on kdebug boots NOT_SUPPORTED.
    sweep::command("failalloc 0");
}

/// Runs one round in a process of its own (`fuzz round SEED CALLS`) and waits for it: when
/// it is gone, whatever it made and lost track of is gone too, so the kernel's figures after
/// it measure the kernel alone. Returns the calls it made (it writes the count into a VMO it
/// is given), or them and why the round failed.
fn run_round(seed: u64, calls: u64) -> Result<u64, (u64, String)> {
    let counter =
        zx::Vmo::create(PAGE as u64).map_err(|s| (0, format!("no counter VMO: {s:?}")))?;
    let theirs = counter
        .duplicate_handle(zx::Rights::SAME_RIGHTS)
        .map_err(|s| (0, format!("no duplicate: {s:?}")))?;
    let (seed_text, calls_text) = (format!("{seed}"), format!("{calls}"));
    let process = zx::process::spawn(
        "bin/fuzz",
        &["round", &seed_text, &calls_text],
        alloc::vec![theirs.into_handle()],
    )
    .map_err(|s| (0, format!("the round's process could not start: {s:?}")))?;
    let code = process.wait_exit();
    let mut made = [0u8; 8];
    let made = match counter.read(&mut made, 0) {
        Ok(()) => u64::from_le_bytes(made),
        Err(_) => 0,
    };
    match code {
        Ok(0) => Ok(made),
        Ok(3) => Err((
            made,
            String::from("a call stalled (see the watchdog's report above)"),
        )),
        Ok(code) => Err((made, format!("the round's process exited with {code}"))),
        Err(s) => Err((made, format!("waiting for the round's process: {s:?}"))),
    }
}

/// A round's process: a watchdog, then [`one_round`]; exits with 0 when nothing failed, 1
/// when a call broke the contract, 3 when a call stalled.
fn round_process(seed: u64, calls: u64) -> i32 {
    let counter = zx::startup::take_startup_handle(4).map(zx::Vmo::from);
    let watch: &'static Watch = alloc::boxed::Box::leak(alloc::boxed::Box::new(Watch {
        stop: AtomicBool::new(false),
    }));
    let dog = match zx::thread::spawn(move || watchdog(watch)) {
        Ok(dog) => dog,
        Err(status) => {
            println!("fuzz: the watchdog thread could not start: {status:?}");
            return 2;
        }
    };
    let verdict = one_round(seed, calls);
    watch.stop.store(true, Ordering::Relaxed);
    let _ = dog.join();
    let (calls, oks) = (CALLS.load(Ordering::Relaxed), OKS.load(Ordering::Relaxed));
    let late = MAX_LATE.load(Ordering::Relaxed);
    println!(
        "fuzz: this round: {oks} of {calls} calls returned OK, {} NO_MEMORY; at least {} pages stayed free; the watchdog woke at most {} ms late",
        NO_MEMORY.load(Ordering::Relaxed),
        LOWEST_FREE_PAGES.load(Ordering::Relaxed),
        late / 1_000_000
    );
    if late > LATE_LIMIT as u64 {
        return 1;
    }
    if let Some(counter) = &counter {
        let _ = counter.write(&calls.to_le_bytes(), 0);
    }
    if let Err(why) = verdict {
        println!("fuzz: {why}");
        return 1;
    }
    i32::from(FAILURES.load(Ordering::Relaxed) != 0)
}

/// Waits until the kernel's figures are back at `base` (what round 0 left), or sets `base`
/// after round 0. Deferred work (a killed child's teardown, freed pages) may take a moment.
fn settle(base: &mut Option<sys::zx_info_kmem_stats_t>) -> Result<(), String> {
    sleep(10_000_000);
    let Some(base) = base else {
        *base = Some(kmem());
        return Ok(());
    };
    let deadline = now() + 3 * SECOND;
    let pages = |bytes: u64| bytes / PAGE as u64;
    loop {
        let k = kmem();
        let grew = heap_used(&k).saturating_sub(heap_used(base));
        let lost = pages_held(&k).saturating_sub(pages_held(base));
        if grew <= HEAP_SLACK && lost <= PAGE_SLACK {
            return Ok(());
        }
        if now() > deadline {
            return Err(format!(
                "the kernel heap in use grew by {grew} bytes ({} -> {}); {lost} more pages are in use ({} -> {}: VMO pages {} -> {}, page tables {} -> {})",
                heap_used(base),
                heap_used(&k),
                pages_held(base),
                pages_held(&k),
                pages(base.vmo_bytes),
                pages(k.vmo_bytes),
                pages(base.mmu_overhead_bytes),
                pages(k.mmu_overhead_bytes),
            ));
        }
        sleep(20_000_000);
    }
}

/// One round: three threads fuzz in a fresh playground while child processes come and go;
/// then everything is closed and destroyed.
fn one_round(seed: u64, calls: u64) -> Result<(), String> {
    let ground = playground().map_err(|s| format!("no playground: {s}"))?;
    let mut protected = startup_handles();
    protected.push(ground.0);
    let mut main = new_fuzzer(seed, 0, protected.clone(), ground, false)
        .map_err(|s| format!("no arena: {s}"))?;
    seed_pool(&mut main);
    STOP.store(false, Ordering::Relaxed);
    let stop = &STOP;
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let mut fuzzer = new_fuzzer(
            seed ^ ((w as u64 + 1) << 56),
            w + 1,
            protected.clone(),
            ground,
            false,
        )
        .map_err(|s| format!("no arena: {s}"))?;
        share(&mut main, &mut fuzzer);
        let share_calls = calls / 4;
        match zx::thread::spawn(move || {
            fuzz(&mut fuzzer, share_calls, stop);
            fuzzer.pool.close_all();
            // SAFETY: the arena's region is this thread's alone and nothing points into it
            // any more.
            unsafe { sys::zx_vmar_destroy(fuzzer.arena.vmar) };
            // SAFETY: closing this thread's own handle of it.
            unsafe { sys::zx_handle_close(fuzzer.arena.vmar) };
        }) {
            Ok(worker) => workers.push(worker),
            Err(status) => return Err(format!("a worker thread could not start: {status}")),
        }
    }
    // The main thread's share, in slices with a child process started and killed between.
    let slices = 8;
    let (mut spawned, mut refused) = (0, 0);
    for slice in 0..slices {
        let child_seed = Rng::new(seed ^ ((slice + 1) << 48)).next();
        let child = match spawn_child(child_seed, 2000) {
            Ok(child) => Some(child),
            Err(zx::Status::NO_MEMORY) => {
                // A refusal another thread armed (kdebug boots) may meet the spawn.
                refused += 1;
                None
            }
            Err(status) => {
                // Says which call of the launch refused it (the round fails only when no
                // child started at all).
                println!("fuzz: a child process could not be started: {status:?}");
                None
            }
        };
        fuzz(&mut main, calls / 2 / slices, stop);
        if let Some(child) = child {
            spawned += 1;
            // Killed mid-call (or already done).
            let _ = child.kill();
            let _ = child.wait_exit();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.join();
    }
    main.pool.close_all();
    // SAFETY: the playground and the arena hold only what this round made; no thread uses
    // them any more.
    unsafe {
        sys::zx_vmar_destroy(ground.0);
        sys::zx_handle_close(ground.0);
        sys::zx_vmar_destroy(main.arena.vmar);
        sys::zx_handle_close(main.arena.vmar);
    }
    // The fuzzer may only look at these (see `Fuzzer::look`): a call that closed one closed
    // a handle it was never given.
    for handle in startup_handles() {
        let (mut actual, mut avail) = (0usize, 0usize);
        // SAFETY: no buffer (length 0); out pointers to locals.
        let status = unsafe {
            sys::zx_object_get_info(
                handle,
                sys::ZX_INFO_HANDLE_VALID,
                core::ptr::null_mut(),
                0,
                &mut actual,
                &mut avail,
            )
        };
        if status != sys::ZX_OK {
            return Err(format!(
                "the protected handle {handle:#x} was closed during the round"
            ));
        }
    }
    if spawned == 0 && refused == 0 {
        return Err(String::from("no child process could be started"));
    }
    Ok(())
}

fn spawn_child(seed: u64, calls: u64) -> Result<zx::Process, zx::Status> {
    let seed = format!("{seed}");
    let calls = format!("{calls}");
    zx::process::spawn("bin/fuzz", &["child", &seed, &calls], Vec::new())
}

/// A child process: fuzzes `calls` calls recklessly (touching its mappings, starting
/// threads anywhere) until it is killed, faults, or is done.
fn child(seed: u64, calls: u64) -> i32 {
    let Ok(ground) = playground() else {
        return 1;
    };
    let mut protected = startup_handles();
    protected.push(ground.0);
    let Ok(mut fuzzer) = new_fuzzer(seed, 0, protected, ground, true) else {
        return 1;
    };
    seed_pool(&mut fuzzer);
    let never = AtomicBool::new(false);
    fuzz(&mut fuzzer, calls, &never);
    0
}
