//! An ordered map that knows, for every subtree, the largest value in it: an AVL tree, so
//! every lookup and change is O(log n) whatever the keys, and searches by value skip every
//! subtree whose largest value is too small.
//!
//! Used where a walk over every entry could take milliseconds under a lock: the free gaps
//! of a VMAR (start -> size: the first gap large enough, [`MaxTree::first_from`]) and the
//! mappings of a VMO by target range ((first page, id) -> end page: the mappings that
//! overlap a range, [`MaxTree::for_each_overlapping`]).
//!
//! Recursion depth is the tree's height, at most about 1.44 log2(n) (under 100 for any
//! number of entries that fits in memory), so it costs a bounded amount of stack.

use alloc::boxed::Box;

type Link<K, V, P> = Option<Box<Node<K, V, P>>>;
/// What [`take_min`] returns: the rest of the subtree and its smallest node.
type Split<K, V, P> = (Link<K, V, P>, Box<Node<K, V, P>>);

struct Node<K, V, P> {
    key: K,
    value: V,
    /// What the entry carries besides its value (not compared).
    payload: P,
    /// The largest value in this subtree.
    max: V,
    height: u8,
    left: Link<K, V, P>,
    right: Link<K, V, P>,
}

/// See the module docs. `V::default()` must be the smallest value.
pub struct MaxTree<K, V, P = ()> {
    root: Link<K, V, P>,
    len: usize,
}

impl<K, V, P> Default for MaxTree<K, V, P> {
    fn default() -> Self {
        MaxTree { root: None, len: 0 }
    }
}

fn height<K, V, P>(link: &Link<K, V, P>) -> u8 {
    link.as_ref().map_or(0, |n| n.height)
}

impl<K: Ord + Copy, V: Ord + Copy + Default, P> Node<K, V, P> {
    fn update(&mut self) {
        self.height = 1 + height(&self.left).max(height(&self.right));
        let mut max = self.value;
        for side in [&self.left, &self.right].into_iter().flatten() {
            max = max.max(side.max);
        }
        self.max = max;
    }
}

fn rotate_right<K: Ord + Copy, V: Ord + Copy + Default, P>(
    mut n: Box<Node<K, V, P>>,
) -> Box<Node<K, V, P>> {
    let Some(mut l) = n.left.take() else {
        return n;
    };
    n.left = l.right.take();
    n.update();
    l.right = Some(n);
    l.update();
    l
}

fn rotate_left<K: Ord + Copy, V: Ord + Copy + Default, P>(
    mut n: Box<Node<K, V, P>>,
) -> Box<Node<K, V, P>> {
    let Some(mut r) = n.right.take() else {
        return n;
    };
    n.right = r.left.take();
    n.update();
    r.left = Some(n);
    r.update();
    r
}

/// Restores the AVL balance of `n` (its subtrees are balanced and differ by at most 2).
fn balance<K: Ord + Copy, V: Ord + Copy + Default, P>(
    mut n: Box<Node<K, V, P>>,
) -> Box<Node<K, V, P>> {
    n.update();
    let (hl, hr) = (height(&n.left), height(&n.right));
    if hl > hr + 1 {
        if let Some(l) = n.left.take() {
            n.left = Some(if height(&l.left) < height(&l.right) {
                rotate_left(l)
            } else {
                l
            });
        }
        return rotate_right(n);
    }
    if hr > hl + 1 {
        if let Some(r) = n.right.take() {
            n.right = Some(if height(&r.right) < height(&r.left) {
                rotate_right(r)
            } else {
                r
            });
        }
        return rotate_left(n);
    }
    n
}

fn insert<K: Ord + Copy, V: Ord + Copy + Default, P>(
    link: Link<K, V, P>,
    key: K,
    value: V,
    payload: P,
    old: &mut Option<(V, P)>,
) -> Box<Node<K, V, P>> {
    let Some(mut n) = link else {
        return Box::new(Node {
            key,
            value,
            payload,
            max: value,
            height: 1,
            left: None,
            right: None,
        });
    };
    match key.cmp(&n.key) {
        core::cmp::Ordering::Less => n.left = Some(insert(n.left.take(), key, value, payload, old)),
        core::cmp::Ordering::Greater => {
            n.right = Some(insert(n.right.take(), key, value, payload, old))
        }
        core::cmp::Ordering::Equal => {
            let value = core::mem::replace(&mut n.value, value);
            *old = Some((value, core::mem::replace(&mut n.payload, payload)));
        }
    }
    balance(n)
}

/// Takes the smallest node out of `n`'s subtree: (what is left, the node).
fn take_min<K: Ord + Copy, V: Ord + Copy + Default, P>(
    mut n: Box<Node<K, V, P>>,
) -> Split<K, V, P> {
    match n.left.take() {
        None => (n.right.take(), n),
        Some(l) => {
            let (rest, min) = take_min(l);
            n.left = rest;
            (Some(balance(n)), min)
        }
    }
}

fn remove<K: Ord + Copy, V: Ord + Copy + Default, P>(
    link: Link<K, V, P>,
    key: &K,
    old: &mut Option<(V, P)>,
) -> Link<K, V, P> {
    let mut n = link?;
    match key.cmp(&n.key) {
        core::cmp::Ordering::Less => n.left = remove(n.left.take(), key, old),
        core::cmp::Ordering::Greater => n.right = remove(n.right.take(), key, old),
        core::cmp::Ordering::Equal => {
            let (left, right) = (n.left.take(), n.right.take());
            let Some(right) = right else {
                *old = Some((n.value, n.payload));
                return left;
            };
            let (rest, mut min) = take_min(right);
            min.left = left;
            min.right = rest;
            *old = Some((n.value, n.payload));
            return Some(balance(min));
        }
    }
    Some(balance(n))
}

impl<K: Ord + Copy, V: Ord + Copy + Default, P> MaxTree<K, V, P> {
    pub const fn new() -> Self {
        MaxTree { root: None, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts or replaces (in place, without allocating); returns what was replaced.
    pub fn insert_with(&mut self, key: K, value: V, payload: P) -> Option<(V, P)> {
        let mut old = None;
        self.root = Some(insert(self.root.take(), key, value, payload, &mut old));
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub fn remove_with(&mut self, key: &K) -> Option<(V, P)> {
        let mut old = None;
        self.root = remove(self.root.take(), key, &mut old);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Changes the value of an existing entry in place (no allocation, no rebalancing);
    /// false when `key` is absent.
    pub fn set_value(&mut self, key: &K, value: V) -> bool {
        fn walk<K: Ord + Copy, V: Ord + Copy + Default, P>(
            link: &mut Link<K, V, P>,
            key: &K,
            value: V,
        ) -> bool {
            let Some(n) = link.as_mut() else {
                return false;
            };
            let found = match key.cmp(&n.key) {
                core::cmp::Ordering::Less => walk(&mut n.left, key, value),
                core::cmp::Ordering::Greater => walk(&mut n.right, key, value),
                core::cmp::Ordering::Equal => {
                    n.value = value;
                    true
                }
            };
            if found {
                n.update();
            }
            found
        }
        walk(&mut self.root, key, value)
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let mut link = &self.root;
        while let Some(n) = link {
            match key.cmp(&n.key) {
                core::cmp::Ordering::Less => link = &n.left,
                core::cmp::Ordering::Greater => link = &n.right,
                core::cmp::Ordering::Equal => return Some(n.value),
            }
        }
        None
    }

    /// The payload of the entry at `key`.
    pub fn payload(&self, key: &K) -> Option<&P> {
        let mut link = &self.root;
        while let Some(n) = link {
            match key.cmp(&n.key) {
                core::cmp::Ordering::Less => link = &n.left,
                core::cmp::Ordering::Greater => link = &n.right,
                core::cmp::Ordering::Equal => return Some(&n.payload),
            }
        }
        None
    }

    /// The entry with the largest key at or below `key`.
    pub fn last_at_or_below(&self, key: &K) -> Option<(K, V)> {
        let mut link = &self.root;
        let mut found = None;
        while let Some(n) = link {
            if n.key <= *key {
                found = Some((n.key, n.value));
                link = &n.right;
            } else {
                link = &n.left;
            }
        }
        found
    }

    /// The entry with the smallest key at or above `from` whose value is at least `min`.
    pub fn first_from(&self, from: &K, min: V) -> Option<(K, V)> {
        fn walk<K: Ord + Copy, V: Ord + Copy + Default, P>(
            link: &Link<K, V, P>,
            from: &K,
            min: V,
        ) -> Option<(K, V)> {
            let n = link.as_ref()?;
            if n.max < min {
                return None;
            }
            if n.key < *from {
                return walk(&n.right, from, min);
            }
            if let Some(found) = walk(&n.left, from, min) {
                return Some(found);
            }
            if n.value >= min {
                return Some((n.key, n.value));
            }
            walk(&n.right, from, min)
        }
        walk(&self.root, from, min)
    }

    /// Calls `f` for every entry whose key is below `below` and whose value is above
    /// `above`, in key order: O(log n) per entry visited, nothing for the others.
    pub fn for_each_overlapping(&self, below: &K, above: V, mut f: impl FnMut(K, V, &P)) {
        fn walk<K: Ord + Copy, V: Ord + Copy + Default, P>(
            link: &Link<K, V, P>,
            below: &K,
            above: V,
            f: &mut impl FnMut(K, V, &P),
        ) {
            let Some(n) = link.as_ref() else {
                return;
            };
            if n.max <= above {
                return;
            }
            walk(&n.left, below, above, f);
            if n.key < *below {
                if n.value > above {
                    f(n.key, n.value, &n.payload);
                }
                walk(&n.right, below, above, f);
            }
        }
        walk(&self.root, below, above, &mut f);
    }

    /// [`MaxTree::for_each_overlapping`] of the entries with keys at or above `from` only,
    /// until `f` returns false: a walk that resumes where an earlier one stopped, costing
    /// O(log n) per entry visited and nothing for the entries before `from`.
    pub fn for_each_overlapping_from(
        &self,
        from: &K,
        below: &K,
        above: V,
        mut f: impl FnMut(K, V, &P) -> bool,
    ) {
        /// False once `f` asked to stop.
        fn walk<K: Ord + Copy, V: Ord + Copy + Default, P>(
            link: &Link<K, V, P>,
            from: &K,
            below: &K,
            above: V,
            f: &mut impl FnMut(K, V, &P) -> bool,
        ) -> bool {
            let Some(n) = link.as_ref() else {
                return true;
            };
            if n.max <= above {
                return true;
            }
            if n.key >= *from {
                if !walk(&n.left, from, below, above, f) {
                    return false;
                }
                if n.key >= *below {
                    return true;
                }
                if n.value > above && !f(n.key, n.value, &n.payload) {
                    return false;
                }
            }
            walk(&n.right, from, below, above, f)
        }
        walk(&self.root, from, below, above, &mut f);
    }

    /// Takes the entry with the smallest key out.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        let root = self.root.take()?;
        let (rest, min) = take_min(root);
        self.root = rest;
        self.len -= 1;
        Some((min.key, min.value))
    }

    /// Every entry in key order (for tests and small trees).
    pub fn entries(&self) -> alloc::vec::Vec<(K, V)> {
        fn walk<K: Copy, V: Copy, P>(link: &Link<K, V, P>, out: &mut alloc::vec::Vec<(K, V)>) {
            if let Some(n) = link {
                walk(&n.left, out);
                out.push((n.key, n.value));
                walk(&n.right, out);
            }
        }
        let mut out = alloc::vec::Vec::with_capacity(self.len);
        walk(&self.root, &mut out);
        out
    }
}

impl<K: Ord + Copy, V: Ord + Copy + Default> MaxTree<K, V, ()> {
    /// Inserts or replaces (in place, without allocating); returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.insert_with(key, value, ()).map(|(v, ())| v)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.remove_with(key).map(|(v, ())| v)
    }
}

#[cfg(test)]
mod tests {
    use super::MaxTree;
    use alloc::collections::BTreeMap;

    #[test]
    fn overlapping_from_resumes_where_it_stopped() {
        let mut tree: MaxTree<(u64, u64), u64> = MaxTree::default();
        for id in 1..200u64 {
            // (first, id) -> end: every third entry ends before page 50.
            let end = if id % 3 == 0 { 40 } else { 100 };
            tree.insert((id % 7, id), end);
        }
        let mut all = alloc::vec::Vec::new();
        tree.for_each_overlapping(&(60, 0), 50, |k, _, _| all.push(k));
        // Five at a time, each walk resuming just past the last key seen.
        let mut resumed = alloc::vec::Vec::new();
        let mut from = (0, 0);
        loop {
            let mut taken = 0;
            let start = from;
            tree.for_each_overlapping_from(&start, &(60, 0), 50, |k, _, _| {
                resumed.push(k);
                taken += 1;
                from = (k.0, k.1 + 1);
                taken < 5
            });
            if taken < 5 {
                break;
            }
        }
        assert_eq!(all, resumed);
        assert!(all.iter().all(|&(_, id)| id % 3 != 0));
    }

    #[test]
    fn agrees_with_a_btreemap() {
        let mut tree = MaxTree::<u64, u64>::new();
        let mut model = BTreeMap::new();
        let mut x = 0x1234_5678_9abc_def0u64;
        for step in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = x % 2000;
            let value = (x >> 20) % 1000;
            if step % 5 == 1 {
                let present = model.contains_key(&key);
                assert_eq!(tree.set_value(&key, value), present);
                if present {
                    model.insert(key, value);
                }
            } else if step % 3 == 0 {
                assert_eq!(tree.remove(&key), model.remove(&key));
            } else {
                assert_eq!(tree.insert(key, value), model.insert(key, value));
            }
            assert_eq!(tree.len(), model.len());
            let probe = (x >> 40) % 2100;
            let min = (x >> 30) % 1000;
            assert_eq!(
                tree.first_from(&probe, min),
                model
                    .range(probe..)
                    .find(|(_, &v)| v >= min)
                    .map(|(&k, &v)| (k, v))
            );
            assert_eq!(
                tree.last_at_or_below(&probe),
                model.range(..=probe).next_back().map(|(&k, &v)| (k, v))
            );
            if step % 97 == 0 {
                let mut seen = alloc::vec::Vec::new();
                tree.for_each_overlapping(&probe, min, |k, v, ()| seen.push((k, v)));
                let want: alloc::vec::Vec<(u64, u64)> = model
                    .range(..probe)
                    .filter(|(_, &v)| v > min)
                    .map(|(&k, &v)| (k, v))
                    .collect();
                assert_eq!(seen, want);
                assert_eq!(
                    tree.entries(),
                    model
                        .iter()
                        .map(|(&k, &v)| (k, v))
                        .collect::<alloc::vec::Vec<_>>()
                );
            }
        }
        while let Some(first) = tree.pop_first() {
            assert_eq!(Some(first), model.pop_first());
        }
        assert!(model.is_empty());
    }
}
