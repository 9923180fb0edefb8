//! A queue of deadlines: a binary min-heap whose entries know where they sit, so that one can
//! be taken out from the middle (a sleeper woken early, a timer canceled) in O(log n), and
//! which never allocates once room was reserved ([`DeadlineHeap::try_reserve`]).
//!
//! The kernel keeps one per CPU under its scheduler lock, where nothing may allocate and the
//! timer interrupt pops what expired: pushing fails rather than grow, and every operation is
//! logarithmic (no scan of the sleepers under the IRQ-masked lock).
//!
//! Each entry carries a slot (an atomic the entry owns, [`Slotted::slot`]) where the heap keeps
//! `heap id << 32 | index` while the entry is in heap `id`, [`NOT_QUEUED`] otherwise. The
//! slot is only written by the heap, under whatever lock guards the heap; readers that want a
//! consistent answer hold that lock too.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use abi::Status;

use crate::ZxResult;

/// A slot's value while its entry is in no heap.
pub const NOT_QUEUED: usize = usize::MAX;

/// An entry that can sit in at most one [`DeadlineHeap`] at a time.
pub trait Slotted {
    /// Where the heap records the entry's position.
    fn slot(&self) -> &AtomicUsize;
}

/// A min-heap of `(deadline, entry)` with removal by slot.
pub struct DeadlineHeap<T: Slotted> {
    id: usize,
    entries: Vec<(i64, T)>,
}

impl<T: Slotted> DeadlineHeap<T> {
    /// An empty heap with id `id` (below 2^31: it goes in the slot's upper half).
    pub const fn new(id: usize) -> Self {
        DeadlineHeap {
            id,
            entries: Vec::new(),
        }
    }

    /// Gives a heap made with id [`NOT_QUEUED`] (as a `const` array of heaps must be) its id
    /// `id`; a heap that has one keeps it.
    pub fn name_once(&mut self, id: usize) {
        if self.id == NOT_QUEUED {
            self.id = id;
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Makes room for `total` entries; `NO_MEMORY` (nothing changed) if the heap cannot.
    pub fn try_reserve(&mut self, total: usize) -> ZxResult {
        self.entries
            .try_reserve(total.saturating_sub(self.entries.len()))
            .map_err(|_| Status::NO_MEMORY)
    }

    /// An empty buffer with room for `total` entries, for [`DeadlineHeap::adopt`]: made where
    /// allocating is allowed (outside the lock that guards the heap).
    pub fn storage(total: usize) -> Result<Vec<(i64, T)>, Status> {
        let mut storage = Vec::new();
        storage
            .try_reserve_exact(total)
            .map_err(|_| Status::NO_MEMORY)?;
        Ok(storage)
    }

    /// Moves the entries into `storage` ([`DeadlineHeap::storage`]) if it is empty and has
    /// more room than the heap has now; never allocates (the entries are moved, in order, so
    /// their slots stay right). Returns the buffer left over (the old one, or `storage`
    /// itself), for the caller to drop where freeing is allowed.
    pub fn adopt(&mut self, mut storage: Vec<(i64, T)>) -> Vec<(i64, T)> {
        if !storage.is_empty() || storage.capacity() <= self.entries.capacity() {
            return storage;
        }
        storage.append(&mut self.entries);
        core::mem::replace(&mut self.entries, storage)
    }

    /// The earliest deadline.
    pub fn earliest(&self) -> Option<i64> {
        self.entries.first().map(|(deadline, _)| *deadline)
    }

    /// Queues `entry` at `deadline`. Never allocates: with no room left (or the entry already
    /// in a heap) the entry comes back.
    pub fn push(&mut self, deadline: i64, entry: T) -> Result<(), T> {
        if self.entries.len() == self.entries.capacity()
            || entry.slot().load(Ordering::Relaxed) != NOT_QUEUED
        {
            return Err(entry);
        }
        let index = self.entries.len();
        self.entries.push((deadline, entry));
        self.set_slot(index);
        self.sift_up(index);
        Ok(())
    }

    /// Whether `entry` sits in this heap.
    pub fn holds(&self, entry: &T) -> bool {
        self.index_of(entry).is_some()
    }

    fn index_of(&self, entry: &T) -> Option<usize> {
        self.index_in(entry.slot().load(Ordering::Relaxed))
    }

    fn index_in(&self, slot: usize) -> Option<usize> {
        if slot == NOT_QUEUED || slot >> 32 != self.id {
            return None;
        }
        let index = slot & 0xffff_ffff;
        (index < self.entries.len()).then_some(index)
    }

    /// The id of the heap a slot value names (`None` for [`NOT_QUEUED`]).
    pub fn heap_of(slot: usize) -> Option<usize> {
        (slot != NOT_QUEUED).then_some(slot >> 32)
    }

    /// Takes out the entry `entry` designates (the same one: its slot says where), if it is in
    /// this heap.
    pub fn remove(&mut self, entry: &T) -> Option<(i64, T)> {
        let index = self.index_of(entry)?;
        Some(self.remove_at(index))
    }

    /// Takes out the entry whose slot holds `slot` (read under the heap's lock), if it is in
    /// this heap.
    pub fn remove_slot(&mut self, slot: usize) -> Option<(i64, T)> {
        let index = self.index_in(slot)?;
        Some(self.remove_at(index))
    }

    /// Takes out the earliest entry if its deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: i64) -> Option<(i64, T)> {
        if self.earliest()? > now {
            return None;
        }
        Some(self.remove_at(0))
    }

    fn remove_at(&mut self, index: usize) -> (i64, T) {
        let removed = self.entries.swap_remove(index);
        removed.1.slot().store(NOT_QUEUED, Ordering::Relaxed);
        if index < self.entries.len() {
            self.set_slot(index);
            self.sift_up(index);
            // Went up or stays: either way the entry now at `index` may have to go down.
            self.sift_down(index);
        }
        removed
    }

    fn set_slot(&self, index: usize) {
        self.entries[index]
            .1
            .slot()
            .store(self.id << 32 | index, Ordering::Relaxed);
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.entries.swap(a, b);
        self.set_slot(a);
        self.set_slot(b);
    }

    fn sift_up(&mut self, mut index: usize) {
        while index > 0 {
            let parent = (index - 1) / 2;
            if self.entries[parent].0 <= self.entries[index].0 {
                return;
            }
            self.swap(parent, index);
            index = parent;
        }
    }

    fn sift_down(&mut self, mut index: usize) {
        loop {
            let left = 2 * index + 1;
            let right = left + 1;
            let mut least = index;
            if left < self.entries.len() && self.entries[left].0 < self.entries[least].0 {
                least = left;
            }
            if right < self.entries.len() && self.entries[right].0 < self.entries[least].0 {
                least = right;
            }
            if least == index {
                return;
            }
            self.swap(least, index);
            index = least;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use proptest::prelude::*;

    struct Item(usize, AtomicUsize);
    impl Slotted for Arc<Item> {
        fn slot(&self) -> &AtomicUsize {
            &self.1
        }
    }

    #[test]
    fn adopt_keeps_entries_and_slots() {
        let mut heap = DeadlineHeap::new(3);
        heap.try_reserve(2).unwrap();
        let items: Vec<_> = (0..2)
            .map(|i| Arc::new(Item(i, AtomicUsize::new(NOT_QUEUED))))
            .collect();
        heap.push(5, items[0].clone()).ok().unwrap();
        heap.push(2, items[1].clone()).ok().unwrap();
        // Too small: given back, nothing moved.
        let small = DeadlineHeap::<Arc<Item>>::storage(1).unwrap();
        assert!(heap.adopt(small).capacity() == 1);
        let old = heap.adopt(DeadlineHeap::storage(8).unwrap());
        assert!(old.is_empty() && old.capacity() >= 2);
        assert!(heap.capacity() >= 8);
        assert!(heap.holds(&items[0]) && heap.holds(&items[1]));
        assert_eq!(heap.remove(&items[0]).map(|(d, _)| d), Some(5));
        assert_eq!(heap.pop_expired(10).map(|(d, _)| d), Some(2));
    }

    #[test]
    fn push_fails_without_room_or_twice() {
        let mut heap = DeadlineHeap::new(1);
        let item = Arc::new(Item(0, AtomicUsize::new(NOT_QUEUED)));
        assert!(heap.push(5, item.clone()).is_err());
        heap.try_reserve(2).unwrap();
        assert!(heap.push(5, item.clone()).is_ok());
        assert!(heap.push(6, item.clone()).is_err());
        let other = DeadlineHeap::<Arc<Item>>::new(2);
        assert!(!other.holds(&item));
        assert_eq!(heap.remove(&item).map(|(d, _)| d), Some(5));
        assert_eq!(item.1.load(Ordering::Relaxed), NOT_QUEUED);
    }

    proptest! {
        /// Against a plain list: pushes, removals by entry and pops of what expired.
        #[test]
        fn behaves_like_a_sorted_list(ops in proptest::collection::vec((0u8..3, 0i64..50, 0usize..16), 0..200)) {
            let items: Vec<Arc<Item>> =
                (0..16).map(|i| Arc::new(Item(i, AtomicUsize::new(NOT_QUEUED)))).collect();
            let mut heap = DeadlineHeap::new(3);
            heap.try_reserve(16).unwrap();
            let mut model: Vec<(i64, usize)> = Vec::new();
            for (op, deadline, which) in ops {
                match op {
                    0 => {
                        let queued = model.iter().any(|&(_, i)| i == which);
                        let pushed = heap.push(deadline, items[which].clone()).is_ok();
                        prop_assert_eq!(pushed, !queued);
                        if pushed {
                            model.push((deadline, which));
                        }
                    }
                    1 => {
                        let got = heap.remove(&items[which]).map(|(d, item)| (d, item.0));
                        let position = model.iter().position(|&(_, i)| i == which);
                        prop_assert_eq!(got, position.map(|p| model.remove(p)));
                    }
                    _ => {
                        let got = heap.pop_expired(deadline).map(|(d, _)| d);
                        let least = model.iter().map(|&(d, _)| d).min().filter(|&d| d <= deadline);
                        prop_assert_eq!(got, least);
                        if let Some(d) = least {
                            // Any entry with that deadline may go first.
                            let gone = (0..16).find(|&i| model.iter().any(|&(md, mi)| md == d && mi == i)
                                && items[i].1.load(Ordering::Relaxed) == NOT_QUEUED);
                            prop_assert!(gone.is_some());
                            if let Some(gone) = gone {
                                model.retain(|&(_, i)| i != gone);
                            }
                        }
                    }
                }
                prop_assert_eq!(heap.len(), model.len());
                prop_assert_eq!(heap.earliest(), model.iter().map(|&(d, _)| d).min());
                prop_assert!(heap.capacity() >= 16);
            }
        }
    }
}
