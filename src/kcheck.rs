//! Kernel invariant checks (`kcheck` in the boot arguments): a debug mode, meant for the
//! fuzzer, that checks the kernel's books on the way out of every system call and stops the
//! kernel with the figures when they do not add up.
//!
//! After every call (O(processes + handles + address spaces)):
//! - the page pool's counters: total = free + used by every owner, and free = what the buddy
//!   allocator holds + the quick pages ([`mm::pool::PagePool::audit`]);
//! - page tables: the pool's page-table pages = those of the live address spaces + those of
//!   released ones waiting to be freed + the kernel's own;
//! - handles: every handle in every process's table is counted in its object's handle
//!   count, the tables never hold more handles to an object than that count, and none
//!   refers to an object torn down as unreachable (a VMO whose pages went, a channel
//!   endpoint whose queue went: [`object::object::KernelObject::torn_down`]).
//!
//! Every `N`th call (`kcheck=N`; `kcheck` alone is [`DEFAULT_CENSUS_EVERY`]; `kcheck=1`
//! every call), the census, which walks the whole frame table (about a million instructions
//! per GiB of RAM): each counter against the pages the frame table holds in that state
//! ([`mm::pool::PagePool::census`]), and every page-table page against the address spaces:
//! each one a live address space or a released one lists (once, tagged page-table in the
//! pool), each tree reaching only its own pages, and no other page-table page but the
//! kernel's own.
//!
//! The checks run in `trap::finish_deferred_work`, the way out a system call takes when it
//! left work for later: `kcheck` keeps that flag set ([`object::preempt::keep_deferred`]),
//! so the common way out is unchanged. (Not after the call of a thread killed meanwhile: it
//! leaves its work to the idle loop, and the next call's checks see the result.) They hold
//! no lock across each other and assume nothing else runs meanwhile: IRQs masked, no
//! preemption point, and the other CPUs parked (`percpu::with_others_stopped`).
//!
//! # Locking
//! No lock of its own (the flags are atomics). The checks run with no lock held and take
//! each lock they read alone, one after the other: the page pool's (through
//! `memory::with_pool`, IRQs masked; nothing is allocated inside it), then `aspace`'s
//! (`SPACES`, each address space's `tables`, `DEAD_TABLES`: the heap nests inside those),
//! then each process's handle table (the heap inside it). References collected under a lock
//! are dropped after it.

use crate::{aspace, memory, task};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use mm::pool::PageUse;
use object::object::KernelObject;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// Census every this many system calls.
static CENSUS_EVERY: AtomicU64 = AtomicU64::new(DEFAULT_CENSUS_EVERY);
/// System calls checked so far.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Calls between two censuses when `kcheck` gives no number: at 1 GiB of RAM a census costs
/// about as much as the fuzzer's 4,000 calls, so this doubles its run time.
pub const DEFAULT_CENSUS_EVERY: u64 = 4096;

/// Reads `kcheck` / `kcheck=N` from the boot arguments; before any process exists.
pub fn init(bootargs: &str) {
    for arg in bootargs.split_whitespace() {
        let every = match arg.split_once('=') {
            None if arg == "kcheck" => DEFAULT_CENSUS_EVERY,
            Some(("kcheck", n)) => match n.parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => {
                    log::warn!(
                        "kcheck: '{n}' is not a count of calls; every {DEFAULT_CENSUS_EVERY}"
                    );
                    DEFAULT_CENSUS_EVERY
                }
            },
            _ => continue,
        };
        CENSUS_EVERY.store(every, Ordering::Relaxed);
        ENABLED.store(true, Ordering::Relaxed);
        keep_lists();
        object::preempt::keep_deferred();
        log::info!("kcheck: invariants checked after every system call, census every {every}");
    }
}

/// Has address spaces and processes listed for [`check_all`] (with `kcheck`, and in test
/// boots, whose in-kernel tests run the checks); before any exists. The lists belong to
/// their modules, which keep them only when asked, so they need not know about the checks.
pub fn keep_lists() {
    aspace::keep_list();
    task::keep_process_list();
}

/// Whether the checks run after every system call.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// After a system call: runs the checks and stops the kernel with the figures if one fails.
pub fn after_syscall() {
    let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    let census = calls.is_multiple_of(CENSUS_EVERY.load(Ordering::Relaxed));
    // The books hold still only while no other CPU runs.
    match crate::percpu::with_others_stopped(|| check_all(census)) {
        Err(report) => panic!("kcheck after system call {calls}: {report}"),
        // Now and then a line saying what was checked, so a run shows the checks ran.
        Ok(seen) if census && (calls / CENSUS_EVERY.load(Ordering::Relaxed)).is_power_of_two() => {
            log::info!(
                "kcheck: {calls} calls checked, census passed: {} page tables in {} address \
                 spaces, {} handles in {} processes",
                seen.tables.total(),
                seen.tables.spaces,
                seen.handles,
                seen.processes
            );
        }
        Ok(_) => {}
    }
}

/// What [`check_all`] looked at.
pub struct Seen {
    pub tables: aspace::TableOwners,
    pub handles: usize,
    pub processes: usize,
}

/// Every check; `census` adds the frame-table walks.
pub fn check_all(census: bool) -> Result<Seen, String> {
    check_pool(census)?;
    let tables = check_page_tables(census)?;
    let (handles, processes) = check_handles()?;
    Ok(Seen {
        tables,
        handles,
        processes,
    })
}

/// The page pool's counters (and with `census`, the frame table).
pub fn check_pool(census: bool) -> Result<(), String> {
    memory::with_pool(|pool| Ok(if census { pool.census() } else { pool.audit() }))
        .map_err(|e| format!("page pool: {e:?}"))?
        .map_err(|m| format!("page pool: {m}"))
}

/// Page-table pages against their owners (and with `census`, page by page).
pub fn check_page_tables(census: bool) -> Result<aspace::TableOwners, String> {
    let mut listed = Vec::new();
    let owners = aspace::table_owners(census.then_some(&mut listed))?;
    let in_pool = memory::pool_stats().used_by[PageUse::PageTable.index()];
    if in_pool != owners.total() {
        return Err(format!(
            "page tables: {in_pool} pages in the pool, owned: {} by {} address spaces + {} \
             released + {} kernel = {}",
            owners.in_spaces,
            owners.spaces,
            owners.dead,
            owners.kernel,
            owners.total()
        ));
    }
    if !census {
        return Ok(owners);
    }
    listed.sort_unstable();
    if let Some(pair) = listed.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(format!(
            "page tables: {:#x} is listed twice (by two address spaces, or twice by one)",
            pair[0]
        ));
    }
    let (unowned, first_unowned, not_tables) = memory::with_pool(|pool| {
        let mut unowned = 0usize;
        let mut first_unowned = None;
        pool.for_each_page_of(PageUse::PageTable, |pa| {
            if listed.binary_search(&pa).is_err() {
                unowned += 1;
                first_unowned.get_or_insert(pa);
            }
        });
        let not_tables = listed
            .iter()
            .find(|&&pa| pool.page_use(pa) != Some(PageUse::PageTable))
            .map(|&pa| (pa, pool.page_use(pa)));
        Ok((unowned, first_unowned, not_tables))
    })
    .map_err(|e| format!("page pool: {e:?}"))?;
    if let Some((pa, use_)) = not_tables {
        return Err(format!(
            "page tables: {pa:#x}, listed by an address space, is {} in the pool",
            use_.map_or(String::from("free"), |u| format!("{u}"))
        ));
    }
    // Besides the listed pages, only the kernel's own tables and the empty user table.
    if unowned != owners.kernel {
        return Err(format!(
            "page tables: {unowned} page-table pages belong to no address space (first \
             {:#x}), the kernel has {}",
            first_unowned.unwrap_or(0),
            owners.kernel
        ));
    }
    Ok(owners)
}

/// Every handle in every process's table; returns how many handles in how many processes.
pub fn check_handles() -> Result<(usize, usize), String> {
    let processes = task::all_processes();
    let mut objects = Vec::new();
    let mut complete = true;
    for process in &processes {
        complete &= process
            .handles()
            .audit(&mut objects)
            .map_err(|fault| format!("handles of process {}: {fault}", process.base().koid()))?;
    }
    if complete {
        object::handle::audit_handle_counts(&mut objects)
            .map_err(|fault| format!("handles: {fault}"))?;
    }
    // Dropped here, with no lock held: none is the last reference (the tables hold them).
    let handles = objects.len();
    drop(objects);
    Ok((handles, processes.len()))
}
