//! `zx_vmar_map`, `zx_vmar_unmap`, `zx_vmar_protect`, `zx_vmar_allocate`, `zx_vmar_destroy`.
//!
//! The VMAR kernel object and the rules for its handles' rights are in `object::vmar`
//! ([`VmarObject`], [`rights_for_capabilities`], [`mapping_rights`]): mapping with PERM_x
//! needs the matching right on both the VMO handle and the VMAR handle, protect on the VMAR
//! handle, allocating a region with CAN_MAP_x on the parent's handle. Unmap and destroy need
//! no right (Zircon's seed-era calls asked for none).

use super::{publish, HandleOut};
use crate::usercopy::UserOut;
use abi::{zx_handle_t, ZX_VM_PERM_EXECUTE, ZX_VM_PERM_READ, ZX_VM_PERM_WRITE};
use alloc::sync::Arc;
use object::handle::HandleTable;
use object::vmar::{
    mapping_rights, rights_for_capabilities, vmar_handle, MapTarget, MappingPerms, VmarObject,
};
use object::vmo::Vmo;
use object::{Rights, Status, ZxResult};

/// `zx_vmar_map`. The VMAR handle is looked up first, then the VMO handle (as Zircon), then
/// MAP on the VMO handle (before anything else), then everything `Vmar::map` checks. The
/// mapping may never get more than both handles allowed: the VMO rights it records (which
/// bound later protects) lose READ/WRITE/EXECUTE the VMAR handle lacks.
#[allow(clippy::too_many_arguments)]
pub(super) fn map(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    vmar_offset: usize,
    vmo_value: zx_handle_t,
    vmo_offset: u64,
    len: usize,
    out: UserOut<usize>,
) -> ZxResult {
    let (vmar, vmar_rights) = table.get_object::<VmarObject>(value, Rights::NONE)?;
    let (vmo, vmo_rights) = table.get_object::<Vmo>(vmo_value, Rights::NONE)?;
    if !vmo_rights.contains(Rights::MAP) {
        return Err(Status::ACCESS_DENIED);
    }
    // Before mapping: SPECIFIC_OVERWRITE could not be undone if the pointer were bad.
    out.check()?;
    let allowed = mapping_rights(vmo_rights, vmar_rights);
    let target: Arc<dyn MapTarget> = vmo;
    let addr = vmar
        .vmar()
        .map(options, vmar_offset, target, vmo_offset, len, allowed)?;
    if let Err(status) = out.write(addr) {
        let _ = vmar.vmar().unmap(addr, len);
        return Err(status);
    }
    Ok(())
}

/// `zx_vmar_unmap`.
pub(super) fn unmap(table: &HandleTable, value: zx_handle_t, addr: usize, len: usize) -> ZxResult {
    let (vmar, _) = table.get_object::<VmarObject>(value, Rights::NONE)?;
    vmar.vmar().unmap(addr, len)
}

/// `zx_vmar_protect`: unknown option bits or WRITE without READ -> INVALID_ARGS; each
/// PERM_x needs the matching right on the VMAR handle (ACCESS_DENIED); the VMAR layer then
/// bounds the change by what the VMO handle allowed at map time.
pub(super) fn protect(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    addr: usize,
    len: usize,
) -> ZxResult {
    let (vmar, rights) = table.get_object::<VmarObject>(value, Rights::NONE)?;
    if options & !(ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE) != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let perms = MappingPerms::from_options(options);
    if perms.write && !perms.read {
        return Err(Status::INVALID_ARGS);
    }
    if !MappingPerms::from_rights(rights).contains(perms) {
        return Err(Status::ACCESS_DENIED);
    }
    vmar.vmar().protect(options, addr, len)
}

/// `zx_vmar_allocate`: the parent handle needs READ/WRITE/EXECUTE for each CAN_MAP_x asked
/// for. The child is destroyed again if its handle or address cannot be written.
pub(super) fn allocate(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    offset: usize,
    size: usize,
    child_out: HandleOut,
    addr_out: UserOut<usize>,
) -> ZxResult {
    let (parent, _) = table.get_object::<VmarObject>(value, rights_for_capabilities(options))?;
    child_out.check()?;
    addr_out.check()?;
    let child = parent.vmar().allocate(options, offset, size)?;
    drop(parent);
    let base = child.base();
    let result = addr_out
        .write(base)
        .and_then(|()| publish(table, vmar_handle(child.clone()), child_out));
    if result.is_err() {
        let _ = child.destroy();
    }
    result
}

/// `zx_vmar_destroy`.
pub(super) fn destroy(table: &HandleTable, value: zx_handle_t) -> ZxResult {
    let (vmar, _) = table.get_object::<VmarObject>(value, Rights::NONE)?;
    vmar.vmar().destroy()
}
