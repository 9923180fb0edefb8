//! The VMAR as a kernel object, and the rights its handles carry.
//!
//! Rights follow Zircon: a VMAR handle has the VMAR default rights plus READ, WRITE and
//! EXECUTE for each CAN_MAP_READ/WRITE/EXECUTE of its region. Mapping with PERM_x needs the
//! matching right on both the VMO handle and the VMAR handle (and the region's CAN_MAP_x,
//! which [`Vmar::map`] checks); protect needs it on the VMAR handle; allocating a region with
//! CAN_MAP_x needs it on the parent's handle. The system calls that apply these rules live
//! in the kernel (`src/syscall/vmar.rs`).
//!
//! Locking: none of its own; the object is immutable and the region behind it has the
//! address space's tree lock (see the module doc of [`crate::vmar`]).

use alloc::sync::Arc;

use abi::{ZX_OBJ_TYPE_VMAR, ZX_VM_CAN_MAP_EXECUTE, ZX_VM_CAN_MAP_READ, ZX_VM_CAN_MAP_WRITE};

use super::Vmar;
use crate::handle::Handle;
use crate::object::{KernelObject, ObjectBase};
use crate::{Rights, Signals};

/// A VMAR as a kernel object ([`Vmar`] is plain bookkeeping, shared by every handle to the
/// region). Each handle gets an object of its own; closing the last handle does not destroy
/// the region, as in Zircon.
pub struct VmarObject {
    base: ObjectBase,
    vmar: Arc<Vmar>,
}

impl VmarObject {
    pub fn vmar(&self) -> &Arc<Vmar> {
        &self.vmar
    }
}

impl KernelObject for VmarObject {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        ZX_OBJ_TYPE_VMAR
    }

    /// A VMAR has no signals anyone could wait for (the contract: not waitable).
    fn waitable(&self) -> bool {
        false
    }
}

/// READ, WRITE and EXECUTE.
const RWX: Rights =
    Rights::from_bits(Rights::READ.bits() | Rights::WRITE.bits() | Rights::EXECUTE.bits());

/// READ/WRITE/EXECUTE for the CAN_MAP_READ/WRITE/EXECUTE bits of `options`: what a region
/// with those capabilities gives its handles, and what allocating one needs on the parent's.
pub fn rights_for_capabilities(options: u32) -> Rights {
    let bit = |capability: u32, right: Rights| {
        if options & capability != 0 {
            right
        } else {
            Rights::NONE
        }
    };
    bit(ZX_VM_CAN_MAP_READ, Rights::READ)
        | bit(ZX_VM_CAN_MAP_WRITE, Rights::WRITE)
        | bit(ZX_VM_CAN_MAP_EXECUTE, Rights::EXECUTE)
}

/// The rights of a new handle to `vmar`: the VMAR defaults plus READ/WRITE/EXECUTE for its
/// capabilities.
pub fn vmar_rights(vmar: &Vmar) -> Rights {
    Rights::DEFAULT_VMAR | rights_for_capabilities(vmar.capabilities())
}

/// A handle to `vmar` with the default rights for it (a process's root VMAR handle).
pub fn vmar_handle(vmar: Arc<Vmar>) -> Handle {
    let rights = vmar_rights(&vmar);
    vmar_handle_with_rights(vmar, rights)
}

/// A handle to `vmar` with `rights`.
pub fn vmar_handle_with_rights(vmar: Arc<Vmar>, rights: Rights) -> Handle {
    let object = Arc::new(VmarObject {
        base: ObjectBase::new(Signals::NONE),
        vmar,
    });
    Handle::new(object, rights)
}

/// The rights a mapping records from its VMO handle's `vmo_rights`, mapped through a VMAR
/// handle with `vmar_rights`: READ/WRITE/EXECUTE only where both handles have them (so a
/// later protect can never grant more than both allowed), the other rights as the VMO
/// handle has them.
pub fn mapping_rights(vmo_rights: Rights, vmar_rights: Rights) -> Rights {
    vmo_rights.difference(RWX) | (vmo_rights & vmar_rights & RWX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::downcast;
    use crate::vmar::testing::FakeAddressSpace;
    use crate::vmar::AddressSpace;
    use abi::ZX_VM_CAN_MAP_SPECIFIC;

    fn root() -> Arc<Vmar> {
        let aspace: Arc<dyn AddressSpace> = Arc::new(FakeAddressSpace::new());
        Vmar::new_root(aspace, 0x1000_0000, 0x1000_0000)
    }

    #[test]
    fn capabilities_give_matching_rights() {
        assert_eq!(rights_for_capabilities(0), Rights::NONE);
        assert_eq!(rights_for_capabilities(ZX_VM_CAN_MAP_READ), Rights::READ);
        assert_eq!(rights_for_capabilities(ZX_VM_CAN_MAP_WRITE), Rights::WRITE);
        assert_eq!(
            rights_for_capabilities(ZX_VM_CAN_MAP_EXECUTE),
            Rights::EXECUTE
        );
        assert_eq!(
            rights_for_capabilities(
                ZX_VM_CAN_MAP_READ
                    | ZX_VM_CAN_MAP_WRITE
                    | ZX_VM_CAN_MAP_EXECUTE
                    | ZX_VM_CAN_MAP_SPECIFIC
            ),
            RWX
        );
    }

    #[test]
    fn root_handle_has_defaults_and_rwx() {
        let vmar = root();
        let handle = vmar_handle(vmar.clone());
        assert_eq!(handle.rights(), Rights::DEFAULT_VMAR | RWX);
        let object = downcast::<VmarObject>(handle.object()).expect("a VMAR object");
        assert!(Arc::ptr_eq(object.vmar(), &vmar));
        assert_eq!(object.object_type(), ZX_OBJ_TYPE_VMAR);
    }

    #[test]
    fn child_handle_rights_follow_its_capabilities() {
        let child = root()
            .allocate(ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_SPECIFIC, 0, 0x10000)
            .expect("allocate");
        assert_eq!(vmar_rights(&child), Rights::DEFAULT_VMAR | Rights::READ);
        let handle = vmar_handle_with_rights(child, Rights::READ);
        assert_eq!(handle.rights(), Rights::READ);
    }

    #[test]
    fn each_handle_is_its_own_object() {
        let vmar = root();
        let a = vmar_handle(vmar.clone());
        let b = vmar_handle(vmar);
        assert_ne!(a.object().koid(), b.object().koid());
    }

    #[test]
    fn mapping_keeps_rwx_only_where_both_handles_have_it() {
        let vmo = Rights::READ | Rights::WRITE | Rights::MAP | Rights::TRANSFER;
        assert_eq!(
            mapping_rights(vmo, Rights::READ | Rights::EXECUTE),
            Rights::READ | Rights::MAP | Rights::TRANSFER
        );
        assert_eq!(mapping_rights(vmo, RWX), vmo);
        assert_eq!(
            mapping_rights(vmo, Rights::NONE),
            Rights::MAP | Rights::TRANSFER
        );
        assert_eq!(mapping_rights(Rights::EXECUTE, RWX), Rights::EXECUTE);
    }
}
