//! The contract between the address-space bookkeeping and what it maps and drives: a
//! [`MapTarget`] (a VMO) gives pages to faults and tells the mappings it registered
//! ([`MappingObserver`]) which pages they must no longer show; an [`AddressSpace`] installs
//! and removes page-table entries ([`MappingPerms`]), its work counted in [`TABLE_WORK`].
//! The lock each side may hold when it calls the other is in the parent module's docs.

use alloc::sync::Weak;

use abi::{
    ZX_VM_CAN_MAP_EXECUTE, ZX_VM_CAN_MAP_READ, ZX_VM_CAN_MAP_WRITE, ZX_VM_PERM_EXECUTE,
    ZX_VM_PERM_READ, ZX_VM_PERM_WRITE,
};

use super::space::UNMAP_TABLES;
use crate::frames::FrameAddr;
use crate::koid::Koid;
use crate::{Rights, ZxResult};
// Named by the docs only.
#[cfg(doc)]
use {super::space, super::Vmar, crate::preempt};

/// The work [`AddressSpace::unmap_bounded`] counts for a leaf table that exists (2 MiB of
/// address space, 512 entries to look at); a span without one counts 1.
pub const TABLE_WORK: usize = 64;

/// The work of one chunk's [`space::UNMAP_TABLES`] tables, as `unmap_bounded` counts it.
pub const UNMAP_WORK: usize = UNMAP_TABLES * TABLE_WORK;

/// What can be mapped (a VMO implements this).
pub trait MapTarget: Send + Sync {
    fn koid(&self) -> Koid;
    /// Current size in bytes (a page multiple).
    fn size(&self) -> u64;
    fn is_resizable(&self) -> bool;
    /// Registers a mapping; returns its id for [`MapTarget::remove_mapping`], or None when the
    /// target is gone (a VMO whose last handle and mapping went while a call that looked it
    /// up was on its way to map it).
    fn add_mapping(&self, observer: Weak<dyn MappingObserver>) -> Option<u64>;
    fn remove_mapping(&self, id: u64);
    /// The mapping registered as `id` shows at most `offset .. offset + len` of the target
    /// from now on (a registration covers the whole target until then): a target may skip
    /// it when it invalidates pages outside that range. Ranges only ever narrow.
    fn narrow_mapping(&self, _id: u64, _offset: u64, _len: u64) {}
    /// The page backing `offset` for an access: commits it (write) or finds what is visible
    /// (read; may be a shared zero page); `writable` says whether it may be mapped writable
    /// (false for pages shared copy-on-write or the zero page). Called with no lock held; it
    /// may take preemption points, unless `may_wait` is false. Errors: OUT_OF_RANGE beyond
    /// the size, NO_MEMORY; SHOULD_WAIT while the target cannot give a page yet (an
    /// operation on it is taking entries away in steps), or when it would have to preempt
    /// and `may_wait` is false: ask again after a [`preempt::wait_point`].
    fn fault_page(&self, offset: u64, write: bool, may_wait: bool) -> ZxResult<PageForFault>;
}

/// The answer of [`MapTarget::fault_page`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageForFault {
    pub frame: FrameAddr,
    pub writable: bool,
}

/// Told by a target when pages of it must no longer be mapped (shrink, copy-on-write
/// replacing a page, decommit): the mapping removes those PTEs.
pub trait MappingObserver: Send + Sync {
    fn unmap_target_range(&self, offset: u64, len: u64);
    /// [`MappingObserver::unmap_target_range`] within the work left in `work`, as
    /// [`AddressSpace::unmap_bounded`] counts it: from the bottom, returns the target offset
    /// below which this mapping shows nothing of the range any more (from the top,
    /// `from_top`: above which); the range's end (start) when it is all done, also when the
    /// mapping covers none of it. The default does it all.
    fn unmap_target_range_bounded(
        &self,
        offset: u64,
        len: u64,
        _work: &mut usize,
        from_top: bool,
    ) -> u64 {
        self.unmap_target_range(offset, len);
        if from_top {
            offset
        } else {
            offset + len
        }
    }
    /// Identifies the address space the mapping lives in (for a target's share count).
    fn address_space_id(&self) -> u64 {
        0
    }
    /// [`AddressSpace::begin_batch`] of the mapping's address space: a target that takes
    /// entries away from many mappings in one step invalidates once per address space.
    fn begin_batch(&self) {}
    /// [`AddressSpace::end_batch`] of the mapping's address space.
    fn end_batch(&self) {}
}

/// The page-table side (the kernel implements it with aarch64 tables; tests with a fake).
///
/// Called with the address-space tree lock held; implementations must not call back into
/// [`Vmar`]. `unmap` and `protect` ignore pages that have no entry. `protect` is only ever
/// used to take permissions away from existing entries or to change execute: write access is
/// never granted by `protect` (it comes from a later write fault, so that copy-on-write pages
/// mapped read-only stay read-only).
pub trait AddressSpace: Send + Sync {
    /// Installs one 4 KiB entry, replacing any existing one.
    fn map_page(&self, va: usize, frame: FrameAddr, perms: MappingPerms) -> ZxResult;
    fn unmap(&self, va: usize, len: usize);
    /// Unmaps part of `va .. va + len` within the work left in `work` (taken from it:
    /// [`TABLE_WORK`] a leaf table that exists, 1 a span without one; no table is started
    /// with less than `TABLE_WORK` left, so a call with less may do nothing): from the
    /// bottom, returning the address below which everything is unmapped, or from the top
    /// (`from_top`), returning the address above which everything is. A page-aligned
    /// boundary inside the range, or its end (its start from the top) when all of it is
    /// done. The default does it all.
    fn unmap_bounded(&self, va: usize, len: usize, _work: &mut usize, from_top: bool) -> usize {
        self.unmap(va, len);
        if from_top {
            va
        } else {
            va + len
        }
    }
    fn protect(&self, va: usize, len: usize, perms: MappingPerms);
    /// Gathers the TLB invalidations of the unmaps and protects this thread makes next, until
    /// [`Self::end_batch`]: a chunk over many small mappings then invalidates once (on a
    /// machine with several CPUs each broadcast invalidation costs all of them). The caller
    /// ends it before anything relies on those invalidations (before the tree lock is
    /// released; before a VMO frees the pages). While another thread's batch is open this
    /// thread's invalidations are done at once. The default invalidates each at once.
    fn begin_batch(&self) {}
    /// Ends this thread's batch: invalidates what it gathered.
    fn end_batch(&self) {}
    /// Changes the permissions of the entries of part of `va .. va + len` as `protect` does,
    /// from the bottom, within the work left in `work` (counted as `unmap_bounded` counts
    /// it; no table is started with less than `TABLE_WORK` left). Returns the page-aligned
    /// address below which every entry has the new permissions (the end when all of it is
    /// done); their TLB entries are flushed before it returns. The default does it all.
    fn protect_bounded(
        &self,
        va: usize,
        len: usize,
        perms: MappingPerms,
        _work: &mut usize,
    ) -> usize {
        self.protect(va, len, perms);
        va + len
    }
}

/// Access permissions of a mapping or a page-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct MappingPerms {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl MappingPerms {
    pub const NONE: MappingPerms = MappingPerms {
        read: false,
        write: false,
        execute: false,
    };
    pub const R: MappingPerms = MappingPerms {
        read: true,
        write: false,
        execute: false,
    };
    pub const RW: MappingPerms = MappingPerms {
        read: true,
        write: true,
        execute: false,
    };
    pub const RX: MappingPerms = MappingPerms {
        read: true,
        write: false,
        execute: true,
    };

    /// The `ZX_VM_PERM_*` bits of `options`.
    pub const fn from_options(options: u32) -> MappingPerms {
        MappingPerms {
            read: options & ZX_VM_PERM_READ != 0,
            write: options & ZX_VM_PERM_WRITE != 0,
            execute: options & ZX_VM_PERM_EXECUTE != 0,
        }
    }

    /// As `ZX_VM_PERM_*` bits.
    pub const fn to_options(self) -> u32 {
        (if self.read { ZX_VM_PERM_READ } else { 0 })
            | (if self.write { ZX_VM_PERM_WRITE } else { 0 })
            | (if self.execute { ZX_VM_PERM_EXECUTE } else { 0 })
    }

    /// The `ZX_VM_CAN_MAP_READ/WRITE/EXECUTE` bits of `options`.
    pub const fn from_capabilities(options: u32) -> MappingPerms {
        MappingPerms {
            read: options & ZX_VM_CAN_MAP_READ != 0,
            write: options & ZX_VM_CAN_MAP_WRITE != 0,
            execute: options & ZX_VM_CAN_MAP_EXECUTE != 0,
        }
    }

    /// READ/WRITE/EXECUTE of a handle's rights.
    pub const fn from_rights(rights: Rights) -> MappingPerms {
        MappingPerms {
            read: rights.contains(Rights::READ),
            write: rights.contains(Rights::WRITE),
            execute: rights.contains(Rights::EXECUTE),
        }
    }

    /// Every permission of `other` is in `self`.
    pub const fn contains(self, other: MappingPerms) -> bool {
        (self.read || !other.read)
            && (self.write || !other.write)
            && (self.execute || !other.execute)
    }

    pub const fn intersection(self, other: MappingPerms) -> MappingPerms {
        MappingPerms {
            read: self.read && other.read,
            write: self.write && other.write,
            execute: self.execute && other.execute,
        }
    }

    /// No access at all.
    pub const fn is_none(self) -> bool {
        !self.read && !self.write && !self.execute
    }
}
