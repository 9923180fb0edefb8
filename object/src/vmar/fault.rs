//! The fault path: finding the mapping at a faulting address, asking its target for the
//! page with no lock held, and installing it unless the tree or the target changed
//! meanwhile.

use alloc::sync::Arc;

use super::{space, MappingPerms, Vmar, PAGE};
use crate::preempt;
use crate::{Status, ZxResult};

impl Vmar {
    /// Resolves a fault at `va` (call it on the root): finds the innermost mapping containing
    /// `va`, checks the access (`write`, else `execute`, else read) against its permissions,
    /// asks the target for the page and installs it. The entry is writable only when the
    /// mapping is and the target says the page may be written, so a read fault on a
    /// copy-on-write page maps it read-only and a later write faults again.
    ///
    /// The fault may take preemption points: waiting while the target takes entries away in
    /// steps, or doing such steps itself.
    ///
    /// Errors: destroyed -> BAD_STATE; no mapping at `va` -> NOT_FOUND; access not allowed by
    /// the mapping -> ACCESS_DENIED; the target's error (OUT_OF_RANGE past its end,
    /// NO_MEMORY); a write fault the target answers with a read-only page -> ACCESS_DENIED;
    /// the address space's error; CANCELED when the thread was killed while it waited.
    #[inline(always)]
    pub fn handle_fault(&self, va: usize, write: bool, execute: bool) -> ZxResult {
        self.serve_fault(va, write, execute, true)
    }

    /// [`Vmar::handle_fault`] of a read or write fault taken by a copy that holds frames no
    /// lock keeps: it must not be preempted, so where the fault would wait or take a second
    /// step it gives SHOULD_WAIT, and the copy serves the fault again with
    /// [`Vmar::handle_fault`] once it let go of those frames.
    pub fn handle_fault_without_waiting(&self, va: usize, write: bool) -> ZxResult {
        self.serve_fault(va, write, false, false)
    }

    fn serve_fault(&self, va: usize, write: bool, execute: bool, may_wait: bool) -> ZxResult {
        let space = self.space();
        let page_va = va & !(PAGE - 1);
        loop {
            let (generation, target, offset, perms) = {
                let mut state = space.state.lock();
                let generation = state.generation;
                let hit = state
                    .fault_hint
                    .as_ref()
                    .filter(|h| h.region == self.id && (h.start..h.end).contains(&va))
                    .and_then(|h| {
                        let target = h.target.upgrade()?;
                        Some((
                            target,
                            h.target_offset + (page_va - h.start) as u64,
                            h.perms,
                        ))
                    });
                let (target, offset, perms) = match hit {
                    Some(found) => found,
                    None => {
                        if !state.regions.contains_key(&self.id) {
                            return Err(Status::BAD_STATE);
                        }
                        let id = state.lookup(self.id, va).ok_or(Status::NOT_FOUND)?;
                        let m = state.mappings.get(&id).ok_or(Status::NOT_FOUND)?;
                        let found = (m.target.clone(), m.target_offset_of(page_va), m.perms);
                        state.fault_hint = Some(space::FaultHint {
                            region: self.id,
                            start: m.base,
                            end: m.base + m.size,
                            target: Arc::downgrade(&m.target),
                            target_offset: m.target_offset,
                            perms: m.perms,
                        });
                        found
                    }
                };
                let allowed = if write {
                    perms.write
                } else if execute {
                    perms.execute
                } else {
                    perms.read
                };
                if !allowed {
                    drop(state);
                    drop(target);
                    return Err(Status::ACCESS_DENIED);
                }
                (generation, target, offset, perms)
            };
            let page = match target.fault_page(offset, write, may_wait) {
                Ok(page) => page,
                Err(status) => {
                    drop(target);
                    if status != Status::SHOULD_WAIT || !may_wait {
                        return Err(status);
                    }
                    // The target is taking entries away in steps: look again after them.
                    if !preempt::wait_point() {
                        return Err(Status::CANCELED);
                    }
                    continue;
                }
            };
            let state = space.state.lock();
            if state.generation != generation {
                drop(state);
                drop(target);
                continue; // the tree or the target changed meanwhile: start over
            }
            if write && !page.writable {
                drop(state);
                drop(target);
                return Err(Status::ACCESS_DENIED);
            }
            let pte = MappingPerms {
                write: perms.write && page.writable,
                ..perms
            };
            let result = space.aspace.map_page(page_va, page.frame, pte);
            drop(state);
            drop(target);
            return result;
        }
    }
}
