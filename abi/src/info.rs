//! `zx_object_get_info` records, laid out exactly as Zircon's C structs.
//!
//! Copying a struct out to user memory needs its bytes. Reinterpreting the struct in place
//! would need `unsafe` (and would leak whatever the padding holds), so each struct instead
//! implements [`AbiStruct`]: `to_bytes` writes every field, in native byte order (little
//! endian on every target of this project), at the offset `core::mem::offset_of!` gives for
//! it, into a zeroed `[u8; size_of::<T>()]`. The result is the C object representation with
//! all padding zero. `from_bytes` is the inverse, for user space reading a buffer filled by
//! the kernel. The field offsets are checked against Zircon's layout and against the C
//! headers in the tests.

use core::mem::{offset_of, size_of};

use crate::{
    zx_handle_t, zx_koid_t, zx_obj_type_t, zx_rights_t, zx_signals_t, zx_status_t, zx_time_t,
};

/// A `repr(C)` ABI struct that converts to and from its C memory image without `unsafe`.
pub trait AbiStruct: Copy + Default + Sized {
    /// `size_of::<Self>()`: the size of the C struct.
    const SIZE: usize;
    /// `[u8; Self::SIZE]`.
    type Bytes: AsRef<[u8]> + AsMut<[u8]> + Copy;

    /// The C memory image: each field at its offset in native byte order, padding zeroed.
    fn to_bytes(&self) -> Self::Bytes;

    /// Reads the struct back from the first [`Self::SIZE`](AbiStruct::SIZE) bytes of
    /// `bytes`; `None` if `bytes` is shorter. Padding bytes are ignored.
    fn from_bytes(bytes: &[u8]) -> Option<Self>;
}

/// A field type `to_bytes`/`from_bytes` can move: the fixed-width integers and byte arrays.
trait Field: Sized {
    const LEN: usize;
    /// Writes the value into the first `LEN` bytes of `dst`.
    fn put(&self, dst: &mut [u8]);
    /// Reads a value from the first `LEN` bytes of `src`.
    fn get(src: &[u8]) -> Self;
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const LEN: usize = size_of::<$t>();
            fn put(&self, dst: &mut [u8]) {
                dst[..Self::LEN].copy_from_slice(&self.to_ne_bytes());
            }
            fn get(src: &[u8]) -> Self {
                let mut raw = [0u8; size_of::<$t>()];
                raw.copy_from_slice(&src[..Self::LEN]);
                <$t>::from_ne_bytes(raw)
            }
        }
    )*};
}

int_field!(u8, u32, i32, u64, i64, usize);

impl<const N: usize> Field for [u8; N] {
    const LEN: usize = N;
    fn put(&self, dst: &mut [u8]) {
        dst[..N].copy_from_slice(self);
    }
    fn get(src: &[u8]) -> Self {
        let mut raw = [0u8; N];
        raw.copy_from_slice(&src[..N]);
        raw
    }
}

/// Implements [`AbiStruct`] for a struct given all its field names (a missing field is a
/// compile error in `from_bytes`).
macro_rules! abi_struct {
    ($t:ident { $($field:ident),* $(,)? }) => {
        impl AbiStruct for $t {
            const SIZE: usize = size_of::<$t>();
            type Bytes = [u8; size_of::<$t>()];

            fn to_bytes(&self) -> Self::Bytes {
                let mut out = [0u8; size_of::<$t>()];
                $( Field::put(&self.$field, &mut out[offset_of!($t, $field)..]); )*
                out
            }

            fn from_bytes(bytes: &[u8]) -> Option<Self> {
                let bytes = bytes.get(..Self::SIZE)?;
                Some($t { $( $field: Field::get(&bytes[offset_of!($t, $field)..]), )* })
            }
        }
    };
}

/// `ZX_INFO_HANDLE_BASIC`: what a handle refers to and with which rights. 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_handle_basic_t {
    /// The object's koid.
    pub koid: zx_koid_t,
    /// The handle's rights.
    pub rights: zx_rights_t,
    /// The object type, `ZX_OBJ_TYPE_*` (C name: `type`).
    pub type_: zx_obj_type_t,
    /// The koid of the related object (a channel's peer, ...) or 0.
    pub related_koid: zx_koid_t,
    /// `ZX_OBJ_PROP_WAITABLE` if the object can be waited on, else `ZX_OBJ_PROP_NONE`.
    pub props: u32,
    /// Zero.
    pub padding1: [u8; 4],
}

/// `ZX_INFO_PROCESS`: a process's state and exit status. 24 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_process_t {
    /// The exit code (`zx_process_exit`'s argument, or a `ZX_TASK_RETCODE_*` value); valid
    /// once `ZX_INFO_PROCESS_FLAG_EXITED` is set.
    pub return_code: i64,
    /// When the process was started (monotonic), or 0 before it starts.
    pub start_time: zx_time_t,
    /// `ZX_INFO_PROCESS_FLAG_*` bits.
    pub flags: u32,
    /// Zero.
    pub padding1: [u8; 4],
}

/// `ZX_INFO_HANDLE_COUNT`: number of handles to the object. 4 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_handle_count_t {
    /// Outstanding handles to the object, in all processes.
    pub handle_count: u32,
}

/// `ZX_INFO_VMAR`: the range a VMAR covers. 16 bytes on 64-bit targets.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_vmar_t {
    /// Base address.
    pub base: usize,
    /// Length in bytes.
    pub len: usize,
}

/// `ZX_INFO_VMO`: a VMO's state. 104 bytes on 64-bit targets (Zircon's original layout, the
/// one topic 23 returns; later Zircon revisions appended fields under new topic numbers).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_vmo_t {
    /// The VMO's koid.
    pub koid: zx_koid_t,
    /// Its name, NUL-terminated.
    pub name: [u8; 32],
    /// Its size in bytes (page rounded).
    pub size_bytes: u64,
    /// The koid of the VMO it was cloned from, or 0.
    pub parent_koid: zx_koid_t,
    /// Number of direct children (clones, snapshots, slices).
    pub num_children: usize,
    /// Number of mappings of the VMO.
    pub num_mappings: usize,
    /// Number of address spaces it is mapped into.
    pub share_count: usize,
    /// `ZX_INFO_VMO_*` bits.
    pub flags: u32,
    /// Zero.
    pub padding1: [u8; 4],
    /// Bytes of committed (allocated) pages.
    pub committed_bytes: u64,
    /// The rights of the handle the query used (with `ZX_INFO_VMO_VIA_HANDLE`).
    pub handle_rights: zx_rights_t,
    /// `ZX_CACHE_POLICY_*`.
    pub cache_policy: u32,
}

/// `ZX_INFO_KMEM_STATS`: system memory use. 72 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_kmem_stats_t {
    /// All physical memory the kernel manages.
    pub total_bytes: u64,
    /// Unallocated memory.
    pub free_bytes: u64,
    /// Memory the kernel keeps for itself outside the other fields (image, boot data).
    pub wired_bytes: u64,
    /// Memory given to the kernel heap.
    pub total_heap_bytes: u64,
    /// The unused part of `total_heap_bytes`.
    pub free_heap_bytes: u64,
    /// Memory committed to VMOs.
    pub vmo_bytes: u64,
    /// Page tables and other MMU metadata.
    pub mmu_overhead_bytes: u64,
    /// Memory held by IPC (channel messages).
    pub ipc_bytes: u64,
    /// Used memory not counted elsewhere.
    pub other_bytes: u64,
}

/// `ZX_INFO_THREAD`: a thread's state. 8 bytes (without the `cpu_affinity_mask` later Zircon
/// appends).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_thread_t {
    /// `ZX_THREAD_STATE_*`.
    pub state: u32,
    /// Zero (no exception channels).
    pub wait_exception_channel_type: u32,
}

/// `ZX_INFO_JOB`: a job's state. 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_job_t {
    /// `ZX_TASK_RETCODE_SYSCALL_KILL` once killed, else 0.
    pub return_code: i64,
    /// 1 once the job was killed and everything below it is gone.
    pub exited: u8,
    /// Zero.
    pub kill_on_oom: u8,
    /// Zero.
    pub debugger_attached: u8,
    /// Zero.
    pub padding1: [u8; 5],
}

/// `ZX_INFO_SOCKET`: a socket endpoint's buffers. 48 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_socket_t {
    /// The `zx_socket_create` options.
    pub options: u32,
    /// Zero.
    pub padding1: [u8; 4],
    /// Capacity of this endpoint's receive buffer.
    pub rx_buf_max: usize,
    /// Bytes in it.
    pub rx_buf_size: usize,
    /// Stream: `rx_buf_size`; datagram: the size of the next datagram.
    pub rx_buf_available: usize,
    /// Capacity of the peer's receive buffer.
    pub tx_buf_max: usize,
    /// Bytes in the peer's receive buffer (0 once the peer closed).
    pub tx_buf_size: usize,
}

/// `ZX_INFO_TIMER`: a timer's state. 24 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_info_timer_t {
    /// The `zx_timer_create` options.
    pub options: u32,
    /// Zero.
    pub padding1: [u8; 4],
    /// The armed deadline, or 0.
    pub deadline: zx_time_t,
    /// The armed slack, or 0.
    pub slack: i64,
}

/// One port packet, `zx_port_packet_t`. 48 bytes. In C the last 32 bytes are a union of
/// `user` (`zx_packet_user_t`), `signal` ([`zx_packet_signal_t`]) and `interrupt`
/// ([`zx_packet_interrupt_t`]); here they are the raw bytes, converted with those structs'
/// [`AbiStruct`] methods.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_port_packet_t {
    /// The key given to `zx_port_queue` / `zx_object_wait_async` / `zx_interrupt_bind`.
    pub key: u64,
    /// `ZX_PKT_TYPE_*` (C name: `type`).
    pub type_: u32,
    /// A status, `ZX_OK` for kernel packets.
    pub status: zx_status_t,
    /// The union (C name of its first member: `user`).
    pub payload: [u8; 32],
}

/// The payload of a `ZX_PKT_TYPE_SIGNAL_ONE` packet. 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_packet_signal_t {
    /// The signals the wait asked for.
    pub trigger: zx_signals_t,
    /// The object's whole signal state when the packet was queued.
    pub observed: zx_signals_t,
    /// 1.
    pub count: u64,
    /// The time of the trigger with `ZX_WAIT_ASYNC_TIMESTAMP`, else 0.
    pub timestamp: zx_time_t,
    /// Zero.
    pub reserved1: u64,
}

/// The payload of a `ZX_PKT_TYPE_INTERRUPT` packet. 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_packet_interrupt_t {
    /// When the interrupt fired.
    pub timestamp: zx_time_t,
    /// Zero.
    pub reserved0: u64,
    /// Zero.
    pub reserved1: u64,
    /// Zero.
    pub reserved2: u64,
}

/// One item of `zx_object_wait_many`. 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_wait_item_t {
    /// The handle to wait on.
    pub handle: zx_handle_t,
    /// The signals that end the wait.
    pub waitfor: zx_signals_t,
    /// Written back: the object's signals when the wait ended.
    pub pending: zx_signals_t,
}

/// The arguments of `zx_channel_call`. 48 bytes. The four buffers are user addresses (C:
/// `const void* wr_bytes`, `const zx_handle_t* wr_handles`, `void* rd_bytes`,
/// `zx_handle_t* rd_handles`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zx_channel_call_args_t {
    /// The request's bytes; the first four are the transaction id.
    pub wr_bytes: usize,
    /// The request's handles.
    pub wr_handles: usize,
    /// Where the reply's bytes go.
    pub rd_bytes: usize,
    /// Where the reply's handles go.
    pub rd_handles: usize,
    /// Size of the request.
    pub wr_num_bytes: u32,
    /// Handles in the request.
    pub wr_num_handles: u32,
    /// Room for the reply's bytes.
    pub rd_num_bytes: u32,
    /// Room for the reply's handles.
    pub rd_num_handles: u32,
}

abi_struct!(zx_info_thread_t {
    state,
    wait_exception_channel_type
});
abi_struct!(zx_info_job_t {
    return_code,
    exited,
    kill_on_oom,
    debugger_attached,
    padding1
});
abi_struct!(zx_info_socket_t {
    options,
    padding1,
    rx_buf_max,
    rx_buf_size,
    rx_buf_available,
    tx_buf_max,
    tx_buf_size,
});
abi_struct!(zx_info_timer_t {
    options,
    padding1,
    deadline,
    slack
});
abi_struct!(zx_port_packet_t {
    key,
    type_,
    status,
    payload
});
abi_struct!(zx_packet_signal_t {
    trigger,
    observed,
    count,
    timestamp,
    reserved1
});
abi_struct!(zx_packet_interrupt_t {
    timestamp,
    reserved0,
    reserved1,
    reserved2
});
abi_struct!(zx_wait_item_t {
    handle,
    waitfor,
    pending
});
abi_struct!(zx_channel_call_args_t {
    wr_bytes,
    wr_handles,
    rd_bytes,
    rd_handles,
    wr_num_bytes,
    wr_num_handles,
    rd_num_bytes,
    rd_num_handles,
});

abi_struct!(zx_info_handle_basic_t {
    koid,
    rights,
    type_,
    related_koid,
    props,
    padding1
});
abi_struct!(zx_info_process_t {
    return_code,
    start_time,
    flags,
    padding1
});
abi_struct!(zx_info_handle_count_t { handle_count });
abi_struct!(zx_info_vmar_t { base, len });
abi_struct!(zx_info_vmo_t {
    koid,
    name,
    size_bytes,
    parent_koid,
    num_children,
    num_mappings,
    share_count,
    flags,
    padding1,
    committed_bytes,
    handle_rights,
    cache_policy,
});
abi_struct!(zx_info_kmem_stats_t {
    total_bytes,
    free_bytes,
    wired_bytes,
    total_heap_bytes,
    free_heap_bytes,
    vmo_bytes,
    mmu_overhead_bytes,
    ipc_bytes,
    other_bytes,
});

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;
    use core::mem::align_of;

    #[test]
    fn zircon_layout_handle_basic() {
        type T = zx_info_handle_basic_t;
        assert_eq!(size_of::<T>(), 32);
        assert_eq!(align_of::<T>(), 8);
        assert_eq!(offset_of!(T, koid), 0);
        assert_eq!(offset_of!(T, rights), 8);
        assert_eq!(offset_of!(T, type_), 12);
        assert_eq!(offset_of!(T, related_koid), 16);
        assert_eq!(offset_of!(T, props), 24);
        assert_eq!(offset_of!(T, padding1), 28);
    }

    #[test]
    fn zircon_layout_process() {
        type T = zx_info_process_t;
        assert_eq!(size_of::<T>(), 24);
        assert_eq!(align_of::<T>(), 8);
        assert_eq!(offset_of!(T, return_code), 0);
        assert_eq!(offset_of!(T, start_time), 8);
        assert_eq!(offset_of!(T, flags), 16);
        assert_eq!(offset_of!(T, padding1), 20);
        let p = zx_info_process_t {
            return_code: -1028,
            start_time: 0x0102_0304,
            flags: crate::ZX_INFO_PROCESS_FLAG_STARTED | crate::ZX_INFO_PROCESS_FLAG_EXITED,
            padding1: [0; 4],
        };
        let b = p.to_bytes();
        assert_eq!(b[0..8], (-1028i64).to_ne_bytes());
        assert_eq!(b[8..16], 0x0102_0304i64.to_ne_bytes());
        assert_eq!(b[16..20], 3u32.to_ne_bytes());
        assert_eq!(b[20..24], [0; 4]);
        assert_eq!(zx_info_process_t::from_bytes(&b), Some(p));
        assert_eq!(zx_info_process_t::from_bytes(&b[..23]), None);
    }

    #[test]
    fn zircon_layout_vmo() {
        type T = zx_info_vmo_t;
        assert_eq!(size_of::<T>(), 104);
        assert_eq!(align_of::<T>(), 8);
        assert_eq!(offset_of!(T, koid), 0);
        assert_eq!(offset_of!(T, name), 8);
        assert_eq!(offset_of!(T, size_bytes), 40);
        assert_eq!(offset_of!(T, parent_koid), 48);
        assert_eq!(offset_of!(T, num_children), 56);
        assert_eq!(offset_of!(T, num_mappings), 64);
        assert_eq!(offset_of!(T, share_count), 72);
        assert_eq!(offset_of!(T, flags), 80);
        assert_eq!(offset_of!(T, padding1), 84);
        assert_eq!(offset_of!(T, committed_bytes), 88);
        assert_eq!(offset_of!(T, handle_rights), 96);
        assert_eq!(offset_of!(T, cache_policy), 100);
    }

    #[test]
    fn zircon_layout_small_structs() {
        assert_eq!(size_of::<zx_info_vmar_t>(), 16);
        assert_eq!(offset_of!(zx_info_vmar_t, base), 0);
        assert_eq!(offset_of!(zx_info_vmar_t, len), 8);
        assert_eq!(size_of::<zx_info_handle_count_t>(), 4);
        assert_eq!(offset_of!(zx_info_handle_count_t, handle_count), 0);
        type K = zx_info_kmem_stats_t;
        assert_eq!(size_of::<K>(), 72);
        let offsets = [
            offset_of!(K, total_bytes),
            offset_of!(K, free_bytes),
            offset_of!(K, wired_bytes),
            offset_of!(K, total_heap_bytes),
            offset_of!(K, free_heap_bytes),
            offset_of!(K, vmo_bytes),
            offset_of!(K, mmu_overhead_bytes),
            offset_of!(K, ipc_bytes),
            offset_of!(K, other_bytes),
        ];
        for (i, off) in offsets.iter().enumerate() {
            assert_eq!(*off, 8 * i);
        }
    }

    fn sample_vmo() -> zx_info_vmo_t {
        let mut name = [0u8; 32];
        name[..7].copy_from_slice(b"my-vmo\0");
        zx_info_vmo_t {
            koid: 0x0102_0304_0506_0708,
            name,
            size_bytes: 0x1000_2000,
            parent_koid: 0x1111_2222_3333_4444,
            num_children: 3,
            num_mappings: 4,
            share_count: 5,
            flags: crate::ZX_INFO_VMO_TYPE_PAGED | crate::ZX_INFO_VMO_RESIZABLE,
            padding1: [0; 4],
            committed_bytes: 0xAAAA_BBBB_CCCC_DDDD,
            handle_rights: crate::ZX_DEFAULT_VMO_RIGHTS,
            cache_policy: 0,
        }
    }

    #[test]
    fn to_bytes_places_fields_at_c_offsets() {
        let v = sample_vmo();
        let b = v.to_bytes();
        assert_eq!(b.len(), 104);
        assert_eq!(b[0..8], v.koid.to_ne_bytes());
        assert_eq!(&b[8..15], b"my-vmo\0");
        assert_eq!(b[40..48], v.size_bytes.to_ne_bytes());
        assert_eq!(b[48..56], v.parent_koid.to_ne_bytes());
        assert_eq!(b[56..64], 3usize.to_ne_bytes());
        assert_eq!(b[64..72], 4usize.to_ne_bytes());
        assert_eq!(b[72..80], 5usize.to_ne_bytes());
        assert_eq!(b[80..84], 3u32.to_ne_bytes());
        assert_eq!(b[84..88], [0; 4]);
        assert_eq!(b[88..96], v.committed_bytes.to_ne_bytes());
        assert_eq!(b[96..100], 0xFFu32.to_ne_bytes());
        assert_eq!(b[100..104], [0; 4]);
        // Little endian on every target this project builds for.
        #[cfg(target_endian = "little")]
        assert_eq!(b[0..8], [8, 7, 6, 5, 4, 3, 2, 1]);

        let h = zx_info_handle_basic_t {
            koid: 42,
            rights: 0xFF,
            type_: crate::ZX_OBJ_TYPE_VMO,
            related_koid: 7,
            props: 0,
            padding1: [0; 4],
        };
        let hb = h.to_bytes();
        assert_eq!(hb[0..8], 42u64.to_ne_bytes());
        assert_eq!(hb[8..12], 0xFFu32.to_ne_bytes());
        assert_eq!(hb[12..16], 3u32.to_ne_bytes());
        assert_eq!(hb[16..24], 7u64.to_ne_bytes());
        assert_eq!(hb[24..32], [0; 8]);
    }

    #[test]
    fn round_trips() {
        let v = sample_vmo();
        assert_eq!(zx_info_vmo_t::from_bytes(&v.to_bytes()), Some(v));
        let h = zx_info_handle_basic_t {
            koid: u64::MAX,
            rights: 0x8000_0001,
            type_: 18,
            related_koid: 1,
            props: 0xdead_beef,
            padding1: [1, 2, 3, 4],
        };
        assert_eq!(zx_info_handle_basic_t::from_bytes(&h.to_bytes()), Some(h));
        let m = zx_info_vmar_t {
            base: 0x1000,
            len: usize::MAX,
        };
        assert_eq!(zx_info_vmar_t::from_bytes(&m.to_bytes()), Some(m));
        let c = zx_info_handle_count_t { handle_count: 9 };
        assert_eq!(zx_info_handle_count_t::from_bytes(&c.to_bytes()), Some(c));
        let k = zx_info_kmem_stats_t {
            total_bytes: 1,
            free_bytes: 2,
            wired_bytes: 3,
            total_heap_bytes: 4,
            free_heap_bytes: 5,
            vmo_bytes: 6,
            mmu_overhead_bytes: 7,
            ipc_bytes: 8,
            other_bytes: 9,
        };
        let kb = k.to_bytes();
        assert_eq!(zx_info_kmem_stats_t::from_bytes(&kb), Some(k));
        for i in 0..9u64 {
            let at = 8 * i as usize;
            assert_eq!(kb[at..at + 8], (i + 1).to_ne_bytes());
        }
        assert_eq!(
            zx_info_kmem_stats_t::from_bytes(&[0u8; 100]),
            Some(zx_info_kmem_stats_t::default())
        );
    }

    #[test]
    fn from_bytes_rejects_short_buffers() {
        let v = sample_vmo().to_bytes();
        assert_eq!(zx_info_vmo_t::from_bytes(&v[..103]), None);
        assert_eq!(zx_info_vmo_t::from_bytes(&[]), None);
        assert_eq!(zx_info_handle_count_t::from_bytes(&[1, 0, 0]), None);
    }

    #[test]
    fn default_is_all_zero_bytes() {
        assert!(zx_info_vmo_t::default().to_bytes().iter().all(|b| *b == 0));
        assert!(zx_info_handle_basic_t::default()
            .to_bytes()
            .iter()
            .all(|b| *b == 0));
        assert_eq!(<zx_info_vmo_t as AbiStruct>::SIZE, 104);
        assert_eq!(<zx_info_handle_basic_t as AbiStruct>::SIZE, 32);
    }
}
