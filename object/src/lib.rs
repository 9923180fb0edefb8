//! Kernel objects: VMOs with copy-on-write clones, snapshots and slices; VMARs and the VMAR
//! object; processes and threads; handles and handle tables with rights; signals and
//! waiters; channels.
//!
//! Plain logic with no `unsafe` and no knowledge of aarch64: physical pages come through
//! [`frames::FrameAllocator`], page tables through [`vmar::AddressSpace`], kernel stacks and
//! the run queue through [`task::TaskKernel`], so everything here
//! is tested on the host (`cargo test -p object`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub use abi::{Rights, Signals, Status};

/// Result of a kernel-object operation: a value or a Zircon status.
pub type ZxResult<T = ()> = Result<T, Status>;

pub mod bootfs;
pub mod channel;
pub mod cprng;
pub mod deadline;
pub mod event;
pub mod frames;
pub mod futex;
pub mod handle;
pub mod koid;
pub mod maxtree;
pub mod object;
pub mod pagemap;
pub mod pins;
pub mod port;
pub mod preempt;
pub mod signal;
pub mod socket;
pub mod task;
pub mod timer;
pub mod vmar;
pub mod vmo;
pub mod wait;
pub mod wait_many;

/// Does what dying objects left for later (the mappings of torn-down address spaces, the
/// page-table entries a protect left when its thread was killed, the
/// queues of dead channel endpoints, closes and merges in VMO families, the pages of large
/// VMOs), a chunk at a time with a preemption point between chunks. The kernel
/// runs it, holding no lock, before a system call that left such work returns (the call's
/// thread was marked, [`preempt::mark_deferred`]), so a program finds the memory of what it closed free when
/// the call returns. A killed thread stops at its first point: the rest waits for the idle
/// loop ([`free_deferred_chunk`]) or the next call that leaves work.
///
/// Work another CPU has taken off a list for a chunk (an idle CPU helping) is waited for, as
/// it may go back on its list with more left: the call returns once all is done.
pub fn free_deferred() {
    loop {
        let finished = preempt::work_finished();
        let more = free_deferred_chunk() || all_done_elsewhere(finished);
        if !more || !preempt::point() {
            return;
        }
    }
}

/// After a round that found every list empty: false when nothing is left anywhere, true when
/// another CPU still holds a chunk, or finished one since `finished` was read (it may have
/// left work on a list this round had already found empty).
fn all_done_elsewhere(finished: usize) -> bool {
    core::hint::spin_loop();
    preempt::work_in_flight() || preempt::work_finished() != finished
}

/// [`free_deferred`] to the end, with finish points between chunks instead of preemption
/// points: for a process's end, whose last thread (killed, maybe) does it before the process
/// is seen to have ended, so that whoever waits for that finds its memory free, even when
/// it runs on another CPU at the same time.
/// Work another CPU has taken off a list for a chunk is waited for (a chunk is short), as it
/// may go back on its list with more left.
pub fn free_deferred_finishing() {
    loop {
        let finished = preempt::work_finished();
        if !free_deferred_chunk() && !all_done_elsewhere(finished) {
            return;
        }
        preempt::finish_point();
    }
}

/// One chunk of [`free_deferred`]; true while more is left.
pub fn free_deferred_chunk() -> bool {
    // Entries with more rights than their mappings (a protect's, abandoned) first; then
    // address spaces (a mapping may hold the last reference to a VMO), then channels (the
    // handles they release may leave VMO work for later), then VMO families' work (which
    // may leave pages), then pages.
    let stale = vmar::stale_entries_chunk();
    let spaces = vmar::teardown_chunk();
    let channels = channel::free_dead_chunk();
    let families = vmo::settle_deferred_chunk();
    vmo::free_dead_pages_chunk() || stale || spaces || channels || families
}
