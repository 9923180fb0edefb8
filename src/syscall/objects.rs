//! `zx_object_get_property`, `zx_object_set_property`, `zx_object_get_info`,
//! `zx_object_wait_one`, `zx_object_signal`.
//!
//! Rights for `zx_object_get_info` (Zircon's, adapted to the seed's VMO rights):
//! - HANDLE_VALID, HANDLE_BASIC: none (as in Zircon);
//! - VMO: none (the seed-era kernel asked for none, and the seed's VMO handles have no
//!   INSPECT);
//! - PROCESS, VMAR, TIMER: INSPECT (their default rights include it);
//! - HANDLE_COUNT: INSPECT, except on a VMO handle (same reason as VMO);
//! - KMEM_STATS: there are no resource objects, so any valid handle or ZX_HANDLE_INVALID
//!   will do (a non-zero unknown value is still BAD_HANDLE);
//! - JOB, THREAD: INSPECT; JOB_CHILDREN, JOB_PROCESSES, PROCESS_THREADS: ENUMERATE (koid
//!   lists: no BUFFER_TOO_SMALL, `actual` = what fits, `avail` = all).
//!
//! An unknown topic gives NOT_SUPPORTED; a known topic on the wrong object WRONG_TYPE.

use crate::task::{Job, Process, Thread};
use crate::usercopy::{In, Out, UserOut, UserSlice};
use abi::{
    zx_handle_t, zx_info_handle_basic_t, zx_info_handle_count_t, zx_info_kmem_stats_t,
    zx_info_vmar_t, AbiStruct, ZX_HANDLE_INVALID, ZX_INFO_HANDLE_BASIC, ZX_INFO_HANDLE_COUNT,
    ZX_INFO_HANDLE_VALID, ZX_INFO_JOB, ZX_INFO_JOB_CHILDREN, ZX_INFO_JOB_PROCESSES,
    ZX_INFO_KMEM_STATS, ZX_INFO_PROCESS, ZX_INFO_PROCESS_THREADS, ZX_INFO_SOCKET, ZX_INFO_THREAD,
    ZX_INFO_TIMER, ZX_INFO_VMAR, ZX_INFO_VMO, ZX_INFO_VMO_VIA_HANDLE, ZX_MAX_NAME_LEN,
    ZX_PROP_NAME,
};
use alloc::sync::Arc;
use mm::pool::PageUse;
use object::channel::Channel;
use object::handle::HandleTable;
use object::object::{downcast, KernelObject};
use object::socket::Socket;
use object::timer::Timer;
use object::vmar::VmarObject;
use object::vmo::Vmo;
use object::{Rights, Signals, Status, ZxResult};

fn require(rights: Rights, needed: Rights) -> ZxResult {
    if rights.contains(needed) {
        Ok(())
    } else {
        Err(Status::ACCESS_DENIED)
    }
}

/// `zx_object_get_property`: ZX_PROP_NAME only, with GET_PROPERTY. Objects without a name
/// read as an empty one (Zircon's default).
pub(super) fn get_property(
    table: &HandleTable,
    value: zx_handle_t,
    property: u32,
    buffer: UserSlice<Out>,
) -> ZxResult {
    let (object, rights, _) = table.get(value)?;
    require(rights, Rights::GET_PROPERTY)?;
    if property != ZX_PROP_NAME {
        return Err(Status::INVALID_ARGS);
    }
    if buffer.len() < ZX_MAX_NAME_LEN {
        return Err(Status::BUFFER_TOO_SMALL);
    }
    let name = if object.has_name() {
        object.base().name()
    } else {
        [0; ZX_MAX_NAME_LEN]
    };
    drop(object);
    let buffer = buffer.part(0, name.len()).ok_or(Status::INVALID_ARGS)?;
    buffer.probe()?;
    buffer.write(&name)
}

/// `zx_object_set_property`: ZX_PROP_NAME only, with SET_PROPERTY; the name is cut to 31
/// bytes (plus the NUL). Objects without a name give NOT_SUPPORTED (Zircon's default).
pub(super) fn set_property(
    table: &HandleTable,
    value: zx_handle_t,
    property: u32,
    buffer: UserSlice<In>,
) -> ZxResult {
    let (object, rights, _) = table.get(value)?;
    require(rights, Rights::SET_PROPERTY)?;
    if property != ZX_PROP_NAME {
        return Err(Status::INVALID_ARGS);
    }
    let mut name = [0u8; ZX_MAX_NAME_LEN - 1];
    let len = buffer.len().min(name.len());
    buffer.read(&mut name[..len])?;
    if !object.has_name() {
        return Err(Status::NOT_SUPPORTED);
    }
    object.base().set_name(&name[..len]);
    Ok(())
}

/// The user memory `zx_object_get_info` writes: the record buffer, and where the counts of
/// records written and available go (either may be NULL).
pub(super) struct InfoOut {
    pub buffer: UserSlice<Out>,
    pub actual: UserOut<usize>,
    pub avail: UserOut<usize>,
}

/// Writes one record the way Zircon's `single_record_result` does: the record if it fits,
/// then `actual` (0 or 1) and `avail` (1) where those pointers are not NULL;
/// BUFFER_TOO_SMALL if it did not fit.
fn single_record<T: AbiStruct>(record: &T, out: InfoOut) -> ZxResult {
    let InfoOut {
        buffer,
        actual,
        avail,
    } = out;
    let record_buffer = buffer.part(0, T::SIZE);
    // Every pointer before anything is written: a bad one leaves the others untouched.
    if let Some(buffer) = &record_buffer {
        buffer.probe()?;
    }
    if !actual.is_null() {
        actual.check()?;
    }
    if !avail.is_null() {
        avail.check()?;
    }
    if let Some(buffer) = &record_buffer {
        buffer.write_record(record)?;
    }
    let fits = record_buffer.is_some();
    if !actual.is_null() {
        actual.write(usize::from(fits))?;
    }
    if !avail.is_null() {
        avail.write(1)?;
    }
    if fits {
        Ok(())
    } else {
        Err(Status::BUFFER_TOO_SMALL)
    }
}

/// The koid user space knows an object by. A VMAR handle's object is a wrapper made per
/// handle; the region's own koid is the one that identifies it.
fn user_koid(object: &Arc<dyn KernelObject>) -> u64 {
    match downcast::<VmarObject>(object) {
        Some(vmar) => vmar.vmar().koid(),
        None => object.koid(),
    }
}

/// `ZX_INFO_KMEM_STATS` from the page pool and the heap.
fn kmem_stats() -> zx_info_kmem_stats_t {
    let pool = crate::memory::pool_stats();
    let heap = crate::memory::heap_stats();
    let bytes = |pages: usize| (pages as u64).saturating_mul(abi::ZX_PAGE_SIZE as u64);
    let used = |kind: PageUse| bytes(pool.used_by[kind.index()]);
    zx_info_kmem_stats_t {
        total_bytes: bytes(pool.total_pages),
        free_bytes: bytes(pool.free_pages),
        wired_bytes: used(PageUse::FrameTable) + used(PageUse::Kernel),
        // The pool's own count of heap pages, so the parts never add up to more than the
        // total.
        total_heap_bytes: used(PageUse::Heap),
        free_heap_bytes: used(PageUse::Heap).saturating_sub(heap.bytes_allocated as u64),
        vmo_bytes: used(PageUse::Vmo),
        mmu_overhead_bytes: used(PageUse::PageTable),
        ipc_bytes: 0,
        other_bytes: 0,
    }
}

/// `zx_object_get_info`. Rights per topic: see the module documentation.
pub(super) fn get_info(
    table: &HandleTable,
    value: zx_handle_t,
    topic: u32,
    out: InfoOut,
) -> ZxResult {
    if topic == ZX_INFO_KMEM_STATS {
        if value != ZX_HANDLE_INVALID {
            table.get(value)?;
        }
        return single_record(&kmem_stats(), out);
    }
    let (object, rights, _) = table.get(value)?;
    match topic {
        ZX_INFO_HANDLE_VALID => Ok(()),
        ZX_INFO_HANDLE_BASIC => {
            let info = zx_info_handle_basic_t {
                koid: user_koid(&object),
                rights: rights.bits(),
                type_: object.object_type(),
                related_koid: object.related_koid(),
                props: if object.waitable() {
                    abi::ZX_OBJ_PROP_WAITABLE
                } else {
                    0
                },
                ..Default::default()
            };
            drop(object);
            single_record(&info, out)
        }
        ZX_INFO_PROCESS => {
            let process = downcast::<Process>(&object).ok_or(Status::WRONG_TYPE)?;
            require(rights, Rights::INSPECT)?;
            let info = process.info();
            drop((process, object));
            single_record(&info, out)
        }
        ZX_INFO_VMAR => {
            let vmar = downcast::<VmarObject>(&object).ok_or(Status::WRONG_TYPE)?;
            require(rights, Rights::INSPECT)?;
            let (base, len) = vmar.vmar().info();
            drop((vmar, object));
            single_record(&zx_info_vmar_t { base, len }, out)
        }
        ZX_INFO_VMO => {
            let vmo = downcast::<Vmo>(&object).ok_or(Status::WRONG_TYPE)?;
            let mut info = vmo.info();
            info.handle_rights = rights.bits();
            info.flags |= ZX_INFO_VMO_VIA_HANDLE;
            drop((vmo, object));
            single_record(&info, out)
        }
        ZX_INFO_TIMER => {
            let timer = downcast::<Timer>(&object).ok_or(Status::WRONG_TYPE)?;
            require(rights, Rights::INSPECT)?;
            let info = timer.info();
            drop((timer, object));
            single_record(&info, out)
        }
        ZX_INFO_SOCKET => {
            let socket = downcast::<Socket>(&object).ok_or(Status::WRONG_TYPE)?;
            require(rights, Rights::INSPECT)?;
            let info = socket.info();
            drop((socket, object));
            single_record(&info, out)
        }
        ZX_INFO_HANDLE_COUNT => {
            if downcast::<Vmo>(&object).is_none() {
                require(rights, Rights::INSPECT)?;
            }
            // A channel endpoint's handles waiting in channel queues count too.
            let queued = downcast::<Channel>(&object).map_or(0, |c| c.queued_handles());
            let count = object.base().handle_count().saturating_add(queued);
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            drop(object);
            let info = zx_info_handle_count_t {
                handle_count: count,
            };
            single_record(&info, out)
        }
        ZX_INFO_JOB => {
            let job = downcast::<Job>(&object).ok_or(Status::WRONG_TYPE)?;
            require(rights, Rights::INSPECT)?;
            let info = job.info();
            drop((job, object));
            single_record(&info, out)
        }
        ZX_INFO_THREAD => {
            let thread = downcast::<Thread>(&object).ok_or(Status::WRONG_TYPE)?;
            require(rights, Rights::INSPECT)?;
            let info = thread.info();
            drop((thread, object));
            single_record(&info, out)
        }
        ZX_INFO_JOB_CHILDREN | ZX_INFO_JOB_PROCESSES => {
            let job = downcast::<Job>(&object).ok_or(Status::WRONG_TYPE)?;
            require(rights, Rights::ENUMERATE)?;
            let koids = if topic == ZX_INFO_JOB_CHILDREN {
                job.child_koids()?
            } else {
                job.process_koids()?
            };
            drop((job, object));
            koid_list(&koids, out)
        }
        ZX_INFO_PROCESS_THREADS => {
            let process = downcast::<Process>(&object).ok_or(Status::WRONG_TYPE)?;
            require(rights, Rights::ENUMERATE)?;
            let koids = process.thread_koids()?;
            drop((process, object));
            koid_list(&koids, out)
        }
        _ => Err(Status::NOT_SUPPORTED),
    }
}

/// Writes a list of koids the way Zircon's list topics do: as many as fit (no
/// BUFFER_TOO_SMALL), `actual` = how many were written, `avail` = how many there are. Every
/// pointer is checked before anything is written.
fn koid_list(koids: &[u64], out: InfoOut) -> ZxResult {
    let InfoOut {
        buffer,
        actual,
        avail,
    } = out;
    const KOID: usize = core::mem::size_of::<u64>();
    let count = koids.len().min(buffer.len() / KOID);
    let records = if count == 0 {
        None
    } else {
        let part = buffer.part(0, count * KOID).ok_or(Status::INVALID_ARGS)?;
        part.probe()?;
        Some(part)
    };
    if !actual.is_null() {
        actual.check()?;
    }
    if !avail.is_null() {
        avail.check()?;
    }
    if let Some(records) = records {
        // Through a small buffer on the stack, a chunk of koids at a time.
        const CHUNK: usize = 64;
        let mut bytes = [0u8; CHUNK * KOID];
        for (index, chunk) in koids[..count].chunks(CHUNK).enumerate() {
            for (slot, koid) in bytes.chunks_exact_mut(KOID).zip(chunk) {
                slot.copy_from_slice(&koid.to_le_bytes());
            }
            let part = records
                .part(index * CHUNK * KOID, chunk.len() * KOID)
                .ok_or(Status::INVALID_ARGS)?;
            part.write(&bytes[..chunk.len() * KOID])?;
        }
    }
    if !actual.is_null() {
        actual.write(count)?;
    }
    if !avail.is_null() {
        avail.write(koids.len())?;
    }
    Ok(())
}

/// `zx_object_wait_one`: no right needed (seed era). `observed` may be NULL (as in Zircon);
/// otherwise it receives the signals on OK, TIMED_OUT and CANCELED. A handle closed by
/// another thread during the wait cancels it (`HandleTable::wait_one`).
pub(super) fn wait_one(
    table: &HandleTable,
    value: zx_handle_t,
    signals: Signals,
    deadline: i64,
    observed: UserOut<u32>,
) -> ZxResult {
    // The handle first (BAD_HANDLE wins over a bad pointer), then the pointer, so a wait
    // never sleeps only to find it cannot report.
    drop(table.get(value)?);
    if !observed.is_null() {
        observed.check()?;
    }
    let wait = || table.wait_one(value, signals, deadline, &crate::task::KernelBlocker);
    let (result, seen) = match crate::task::blocked_in(object::task::Blocked::WaitOne, wait) {
        Ok(seen) => (Ok(()), seen),
        Err((Status::BAD_HANDLE, _)) => return Err(Status::BAD_HANDLE),
        Err((status, seen)) => (Err(status), seen),
    };
    if !observed.is_null() {
        observed.write(seen.bits())?;
    }
    result
}

/// `zx_object_signal`: user signals only, with SIGNAL.
pub(super) fn signal(
    table: &HandleTable,
    value: zx_handle_t,
    clear: Signals,
    set: Signals,
) -> ZxResult {
    // Under the table lock, with no reference taken: the whole call is a few dozen
    // instructions of work.
    table.with_handle(value, |handle| {
        require(handle.rights(), Rights::SIGNAL)?;
        handle.object().user_signal(clear, set)
    })?
}
