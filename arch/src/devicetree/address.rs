//! `reg` decoding and bus-address translation through `ranges`.
//!
//! Addresses are carried as `u128` so buses with up to 4 address cells (PCI uses 3) can be
//! walked without special cases; only the final CPU address has to fit 64 bits.

use super::blob::{read_cells, Ancestors, Node};
use super::{DtbError, Region};

/// One raw `reg` entry, in the address space of the node's parent bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusRegion {
    pub base: u128,
    pub size: u128,
}

/// The entries of `node`'s `reg`, whose cell counts come from `parent`. Empty if the node has
/// no `reg`.
pub fn reg_entries<'a>(
    node: &Node<'a>,
    parent: &Node<'a>,
) -> Result<impl Iterator<Item = BusRegion> + 'a, DtbError> {
    let ac = parent.address_cells()?;
    let sc = parent.size_cells()?;
    let value = node.prop("reg").unwrap_or(&[]);
    let entry = (ac + sc) as usize * 4;
    if entry == 0 {
        return Err(DtbError::Parse(
            "the parent of a node with reg has zero address and size cells",
        ));
    }
    if !value.len().is_multiple_of(entry) {
        return Err(DtbError::Parse(
            "a reg property's length is not a whole number of entries",
        ));
    }
    Ok(value.chunks_exact(entry).filter_map(move |e| {
        // Both reads are in range: the chunk holds exactly ac + sc cells.
        Some(BusRegion {
            base: read_cells(e, 0, ac)?,
            size: read_cells(e, ac as usize * 4, sc)?,
        })
    }))
}

/// Translates `region`, given in the address space of the bus `ancestors.last()`,
/// to a CPU physical address by applying each non-root ancestor's `ranges` in turn.
///
/// Empty `ranges` is an identity mapping; a non-root ancestor without `ranges` means its
/// children are not memory-mapped, which is an error. The whole region must fall inside one
/// `ranges` entry, not just its base, so a truncated mapping is caught here.
pub fn translate(ancestors: &Ancestors<'_>, region: BusRegion) -> Result<u64, DtbError> {
    let mut addr = region.base;
    // Walk from the innermost bus outwards; index 0 is the root, whose space is the CPU's.
    for i in (1..ancestors.len()).rev() {
        let (Some(bus), Some(outer)) = (ancestors.get(i), ancestors.get(i - 1)) else {
            break;
        };
        let ranges = bus.prop("ranges").ok_or(DtbError::NotTranslatable(
            "a bus on the way to the root has no ranges property",
        ))?;
        if ranges.is_empty() {
            continue;
        }
        let child_ac = bus.address_cells()?;
        let size_c = bus.size_cells()?;
        let parent_ac = outer.address_cells()?;
        let entry = (child_ac + parent_ac + size_c) as usize * 4;
        if entry == 0 || !ranges.len().is_multiple_of(entry) {
            return Err(DtbError::Parse(
                "a ranges property's length is not a whole number of entries",
            ));
        }
        let mut mapped = None;
        for e in ranges.chunks_exact(entry) {
            let child = read_cells(e, 0, child_ac);
            let parent = read_cells(e, child_ac as usize * 4, parent_ac);
            let len = read_cells(e, (child_ac + parent_ac) as usize * 4, size_c);
            let (Some(child), Some(parent), Some(len)) = (child, parent, len) else {
                continue;
            };
            let Some(offset) = addr.checked_sub(child) else {
                continue;
            };
            // The region's last byte must also be inside; a zero-size region only needs its base.
            let last = offset.checked_add(region.size.saturating_sub(1));
            if offset < len && last.is_some_and(|l| l < len) {
                mapped = Some(
                    parent
                        .checked_add(offset)
                        .ok_or(DtbError::NotTranslatable("a translated address overflows"))?,
                );
                break;
            }
        }
        addr = mapped.ok_or(DtbError::NotTranslatable(
            "an address lies outside every entry of its bus's ranges",
        ))?;
    }
    let end_ok = addr
        .checked_add(region.size)
        .is_some_and(|end| end <= u128::from(u64::MAX) + 1);
    match u64::try_from(addr) {
        Ok(base) if end_ok => Ok(base),
        _ => Err(DtbError::NotTranslatable(
            "a translated address does not fit in 64 bits",
        )),
    }
}

/// Translates a `reg` entry to a CPU-physical [`Region`].
pub fn translate_region(ancestors: &Ancestors<'_>, region: BusRegion) -> Result<Region, DtbError> {
    let base = translate(ancestors, region)?;
    let size = u64::try_from(region.size)
        .map_err(|_| DtbError::NotTranslatable("a region's size does not fit in 64 bits"))?;
    Ok(Region { base, size })
}

/// The `index`th `reg` entry of the node whose ancestors are given, translated; `Ok(None)` if
/// there are fewer entries.
pub fn node_region(
    node: &Node<'_>,
    ancestors: &Ancestors<'_>,
    index: usize,
) -> Result<Option<Region>, DtbError> {
    let Some(parent) = ancestors.last() else {
        return Err(DtbError::Parse(
            "the root node cannot have a reg entry to translate",
        ));
    };
    match reg_entries(node, &parent)?.nth(index) {
        None => Ok(None),
        Some(r) => translate_region(ancestors, r).map(Some),
    }
}
