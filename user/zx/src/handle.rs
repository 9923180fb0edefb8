//! [`Handle`], the typed-handle traits and [`Unowned`].

use alloc::string::String;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;

use abi::AbiStruct;

use crate::sys::{self, zx_handle_t, ZX_HANDLE_INVALID};
use crate::{ok, Result, Rights, Signals, Status, Time};

/// An owned handle: closed when dropped. `Handle::invalid()` (value 0) owns nothing.
#[repr(transparent)]
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(zx_handle_t);

impl Handle {
    /// The handle that names nothing (`ZX_HANDLE_INVALID`).
    pub const fn invalid() -> Handle {
        Handle(ZX_HANDLE_INVALID)
    }

    /// Takes ownership of a raw handle value.
    ///
    /// # Safety
    /// `raw` must be a handle of this process that nothing else owns (it will be closed when
    /// the `Handle` is dropped), or `ZX_HANDLE_INVALID`.
    pub const unsafe fn from_raw(raw: zx_handle_t) -> Handle {
        Handle(raw)
    }

    /// The raw value, still owned by `self`.
    pub const fn raw_handle(&self) -> zx_handle_t {
        self.0
    }

    /// Gives up ownership and returns the raw value (the handle is not closed).
    pub fn into_raw(self) -> zx_handle_t {
        let raw = self.0;
        core::mem::forget(self);
        raw
    }

    /// `true` for `Handle::invalid()`.
    pub const fn is_invalid(&self) -> bool {
        self.0 == ZX_HANDLE_INVALID
    }

    /// A new handle to the same object with `rights` (`Rights::SAME_RIGHTS` keeps them).
    pub fn duplicate_handle(&self, rights: Rights) -> Result<Handle> {
        let mut out = ZX_HANDLE_INVALID;
        // SAFETY: `out` is a valid place for the result.
        ok(unsafe { sys::zx_handle_duplicate(self.0, rights.bits(), &mut out) })?;
        // SAFETY: the kernel just created `out` for this process.
        Ok(unsafe { Handle::from_raw(out) })
    }

    /// Replaces the handle by one with `rights`; `self` is invalidated even on failure.
    pub fn replace_handle(self, rights: Rights) -> Result<Handle> {
        let raw = self.into_raw();
        let mut out = ZX_HANDLE_INVALID;
        // SAFETY: `out` is a valid place for the result; `raw` is consumed by the call.
        ok(unsafe { sys::zx_handle_replace(raw, rights.bits(), &mut out) })?;
        // SAFETY: the kernel just created `out` for this process.
        Ok(unsafe { Handle::from_raw(out) })
    }

    /// Closes the handle, reporting the kernel's status (dropping ignores it).
    pub fn close(self) -> Result<()> {
        let raw = self.into_raw();
        // SAFETY: closing a handle touches no memory of this process.
        ok(unsafe { sys::zx_handle_close(raw) })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.0 != ZX_HANDLE_INVALID {
            // SAFETY: `self` owns the handle; it is not used again.
            unsafe {
                sys::zx_handle_close(self.0);
            }
        }
    }
}

impl Default for Handle {
    fn default() -> Handle {
        Handle::invalid()
    }
}

/// A kernel object id.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Koid(u64);

impl Koid {
    /// Wraps a raw koid.
    pub const fn from_raw(raw: u64) -> Koid {
        Koid(raw)
    }

    /// The raw koid.
    pub const fn raw_koid(self) -> u64 {
        self.0
    }
}

/// An object type (`ZX_OBJ_TYPE_*`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ObjectType(u32);

impl ObjectType {
    /// `ZX_OBJ_TYPE_NONE`.
    pub const NONE: ObjectType = ObjectType(sys::ZX_OBJ_TYPE_NONE);
    /// `ZX_OBJ_TYPE_PROCESS`.
    pub const PROCESS: ObjectType = ObjectType(sys::ZX_OBJ_TYPE_PROCESS);
    /// `ZX_OBJ_TYPE_THREAD`.
    pub const THREAD: ObjectType = ObjectType(sys::ZX_OBJ_TYPE_THREAD);
    /// `ZX_OBJ_TYPE_VMO`.
    pub const VMO: ObjectType = ObjectType(sys::ZX_OBJ_TYPE_VMO);
    /// `ZX_OBJ_TYPE_CHANNEL`.
    pub const CHANNEL: ObjectType = ObjectType(sys::ZX_OBJ_TYPE_CHANNEL);
    /// `ZX_OBJ_TYPE_VMAR`.
    pub const VMAR: ObjectType = ObjectType(sys::ZX_OBJ_TYPE_VMAR);

    /// Wraps a raw type number.
    pub const fn from_raw(raw: u32) -> ObjectType {
        ObjectType(raw)
    }

    /// The raw type number.
    pub const fn into_raw(self) -> u32 {
        self.0
    }
}

/// `ZX_INFO_HANDLE_BASIC` in typed form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleBasicInfo {
    /// The object.
    pub koid: Koid,
    /// The handle's rights.
    pub rights: Rights,
    /// The object's type.
    pub object_type: ObjectType,
    /// The related object (a channel's peer) or `Koid(0)`.
    pub related_koid: Koid,
}

/// A valid pointer for a buffer argument: `slice.as_ptr()`, or for an empty slice the address
/// of a static (an empty slice's pointer is dangling and a strict kernel may reject it even
/// with length 0; the kernel never accesses it with length 0).
pub(crate) fn buf_ptr<T: Copy + 'static>(slice: &[T]) -> *const T {
    static EMPTY: u64 = 0;
    if slice.is_empty() {
        debug_assert!(core::mem::align_of::<T>() <= 8);
        core::ptr::addr_of!(EMPTY).cast::<T>()
    } else {
        slice.as_ptr()
    }
}

/// Like [`buf_ptr`] for output buffers.
pub(crate) fn buf_ptr_mut<T: Copy + 'static>(slice: &mut [T]) -> *mut T {
    if slice.is_empty() {
        buf_ptr::<T>(&[]).cast_mut()
    } else {
        slice.as_mut_ptr()
    }
}

/// What every handle type can do without owning the handle.
pub trait AsHandleRef {
    /// The raw handle value (still owned by `self`).
    fn raw_handle(&self) -> zx_handle_t;

    /// An unowned view of the handle.
    fn as_handle_ref(&self) -> Unowned<'_, Handle> {
        // SAFETY: the view lives no longer than `self`, which keeps the handle open.
        unsafe { Unowned::from_raw_handle(self.raw_handle()) }
    }

    /// Waits until one of `signals` is active or `deadline` passes (`zx_object_wait_one`);
    /// `Ok` has the observed signals, a timeout is `Err(Status::TIMED_OUT)`.
    fn wait_handle(&self, signals: Signals, deadline: Time) -> Result<Signals> {
        let (status, observed) = self.wait_handle_observed(signals, deadline);
        status.into_result().map(|()| observed)
    }

    /// `zx_object_wait_one` with the status and the observed signals, also on failure (on
    /// `TIMED_OUT` the observed signals are the current state; on `CANCELED` they include
    /// `Signals::HANDLE_CLOSED`).
    fn wait_handle_observed(&self, signals: Signals, deadline: Time) -> (Status, Signals) {
        let mut observed = 0;
        // SAFETY: `observed` is a valid place for the result.
        let status = unsafe {
            sys::zx_object_wait_one(
                self.raw_handle(),
                signals.bits(),
                deadline.into_nanos(),
                &mut observed,
            )
        };
        (Status::from_raw(status), Signals::from_bits(observed))
    }

    /// The currently active signals among `signals` (a wait with a deadline in the past).
    fn observe_signals(&self, signals: Signals) -> Result<Signals> {
        match self.wait_handle_observed(signals, Time::INFINITE_PAST) {
            (Status::OK, s) | (Status::TIMED_OUT, s) => Ok(s),
            (status, _) => Err(status),
        }
    }

    /// Clears then sets user signals (`zx_object_signal`).
    fn signal_handle(&self, clear_mask: Signals, set_mask: Signals) -> Result<()> {
        // SAFETY: no memory is passed.
        ok(unsafe { sys::zx_object_signal(self.raw_handle(), clear_mask.bits(), set_mask.bits()) })
    }

    /// Clears then sets signals of the object's peer (`zx_object_signal_peer`; event pairs,
    /// channels, sockets).
    fn signal_peer(&self, clear_mask: Signals, set_mask: Signals) -> Result<()> {
        // SAFETY: no memory is passed.
        ok(unsafe {
            sys::zx_object_signal_peer(self.raw_handle(), clear_mask.bits(), set_mask.bits())
        })
    }

    /// Arms a one-shot wait for `signals` on this handle whose packet (with `key`) goes to
    /// `port` (`zx_object_wait_async`).
    fn wait_async_handle(
        &self,
        port: &crate::Port,
        key: u64,
        signals: Signals,
        options: crate::WaitAsyncOpts,
    ) -> Result<()> {
        port.wait_async(self, key, signals, options)
    }

    /// One info record of `topic` (`zx_object_get_info`).
    fn get_info<T: AbiStruct>(&self, topic: u32) -> Result<T> {
        let mut bytes = T::default().to_bytes();
        let buf = bytes.as_mut();
        let (mut actual, mut avail) = (0usize, 0usize);
        // SAFETY: `buf` is writable for its length; `actual`/`avail` are valid places.
        ok(unsafe {
            sys::zx_object_get_info(
                self.raw_handle(),
                topic,
                buf.as_mut_ptr(),
                buf.len(),
                &mut actual,
                &mut avail,
            )
        })?;
        T::from_bytes(buf).ok_or(Status::INTERNAL)
    }

    /// `ZX_INFO_HANDLE_BASIC`.
    fn basic_info(&self) -> Result<HandleBasicInfo> {
        let info: sys::zx_info_handle_basic_t = self.get_info(sys::ZX_INFO_HANDLE_BASIC)?;
        Ok(HandleBasicInfo {
            koid: Koid(info.koid),
            rights: Rights::from_bits(info.rights),
            object_type: ObjectType(info.type_),
            related_koid: Koid(info.related_koid),
        })
    }

    /// The object's koid.
    fn get_koid(&self) -> Result<Koid> {
        self.basic_info().map(|info| info.koid)
    }

    /// The number of handles to the object (`ZX_INFO_HANDLE_COUNT`).
    fn handle_count(&self) -> Result<u32> {
        let info: sys::zx_info_handle_count_t = self.get_info(sys::ZX_INFO_HANDLE_COUNT)?;
        Ok(info.handle_count)
    }

    /// `true` if the handle is valid in this process (`ZX_INFO_HANDLE_VALID`).
    fn is_valid_handle(&self) -> bool {
        let (mut actual, mut avail) = (0usize, 0usize);
        let mut dummy = [0u8; 8];
        // SAFETY: `dummy` is writable (the topic writes nothing); the counts are valid places.
        let status = unsafe {
            sys::zx_object_get_info(
                self.raw_handle(),
                sys::ZX_INFO_HANDLE_VALID,
                dummy.as_mut_ptr(),
                0,
                &mut actual,
                &mut avail,
            )
        };
        status == sys::ZX_OK
    }

    /// Reads a property into `value` (`zx_object_get_property`).
    fn get_property(&self, property: u32, value: &mut [u8]) -> Result<()> {
        // SAFETY: `value` is writable for its length.
        ok(unsafe {
            sys::zx_object_get_property(
                self.raw_handle(),
                property,
                buf_ptr_mut(value),
                value.len(),
            )
        })
    }

    /// Sets a property from `value` (`zx_object_set_property`).
    fn set_property(&self, property: u32, value: &[u8]) -> Result<()> {
        // SAFETY: `value` is readable for its length.
        ok(unsafe {
            sys::zx_object_set_property(self.raw_handle(), property, buf_ptr(value), value.len())
        })
    }

    /// The object's name (`ZX_PROP_NAME`), up to the first NUL; invalid UTF-8 is replaced.
    fn get_name(&self) -> Result<String> {
        let mut raw = [0u8; sys::ZX_MAX_NAME_LEN];
        self.get_property(sys::ZX_PROP_NAME, &mut raw)?;
        let len = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
        Ok(String::from_utf8_lossy(&raw[..len]).into_owned())
    }

    /// Sets the object's name (`ZX_PROP_NAME`); the kernel keeps at most 31 bytes.
    fn set_name(&self, name: &str) -> Result<()> {
        self.set_property(sys::ZX_PROP_NAME, name.as_bytes())
    }
}

impl AsHandleRef for Handle {
    fn raw_handle(&self) -> zx_handle_t {
        self.0
    }
}

/// A typed handle: convertible to and from [`Handle`].
pub trait HandleBased: AsHandleRef + From<Handle> + Into<Handle> {
    /// A new handle to the same object with `rights` (`Rights::SAME_RIGHTS` keeps them).
    fn duplicate_handle(&self, rights: Rights) -> Result<Self> {
        self.as_handle_ref()
            .duplicate_handle(rights)
            .map(Self::from)
    }

    /// Replaces the handle by one with `rights`; `self` is invalidated even on failure.
    fn replace_handle(self, rights: Rights) -> Result<Self> {
        Into::<Handle>::into(self)
            .replace_handle(rights)
            .map(Self::from)
    }

    /// The untyped handle.
    fn into_handle(self) -> Handle {
        self.into()
    }

    /// Wraps an untyped handle (the type is not checked).
    fn from_handle(handle: Handle) -> Self {
        Self::from(handle)
    }

    /// Gives up ownership and returns the raw value.
    fn into_raw(self) -> zx_handle_t {
        Into::<Handle>::into(self).into_raw()
    }

    /// `true` for the invalid handle.
    fn is_invalid_handle(&self) -> bool {
        self.raw_handle() == ZX_HANDLE_INVALID
    }
}

impl HandleBased for Handle {}

inherent_handle_methods!(Handle);

/// A borrowed handle of type `T`: usable like a `T`, never closed by this value.
pub struct Unowned<'a, T: Into<Handle>> {
    inner: ManuallyDrop<T>,
    marker: PhantomData<&'a T>,
}

impl<T: HandleBased> Unowned<'static, T> {
    /// A view of a raw handle value that stays open for the rest of the program (the
    /// startup handles).
    ///
    /// # Safety
    /// `raw` must stay open (or be `ZX_HANDLE_INVALID`) for the whole `'static` lifetime.
    pub unsafe fn from_raw_static(raw: zx_handle_t) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe { Unowned::from_raw_handle(raw) }
    }
}

impl<'a, T: HandleBased> Unowned<'a, T> {
    /// A view of a raw handle value.
    ///
    /// # Safety
    /// `raw` must stay open for `'a` (or be `ZX_HANDLE_INVALID`).
    pub unsafe fn from_raw_handle(raw: zx_handle_t) -> Self {
        Unowned {
            inner: ManuallyDrop::new(T::from(Handle(raw))),
            marker: PhantomData,
        }
    }

    /// A view of `handle`, borrowed for its lifetime.
    pub fn new<U: AsHandleRef>(handle: &'a U) -> Self {
        // SAFETY: the borrow of `handle` keeps the raw value open for `'a`.
        unsafe { Unowned::from_raw_handle(handle.raw_handle()) }
    }
}

impl<T: Into<Handle>> Deref for Unowned<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: Into<Handle> + core::fmt::Debug> core::fmt::Debug for Unowned<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Unowned({:?})", &*self.inner)
    }
}

/// Defines a typed handle `pub struct $name(Handle)` with the conversions and traits.
macro_rules! handle_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[repr(transparent)]
        #[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name($crate::Handle);

        impl $crate::AsHandleRef for $name {
            fn raw_handle(&self) -> $crate::sys::zx_handle_t {
                self.0.raw_handle()
            }
        }

        impl From<$crate::Handle> for $name {
            fn from(handle: $crate::Handle) -> $name {
                $name(handle)
            }
        }

        impl From<$name> for $crate::Handle {
            fn from(value: $name) -> $crate::Handle {
                value.0
            }
        }

        impl $crate::HandleBased for $name {}

        $crate::handle::inherent_handle_methods!($name);

        impl $name {
            /// See [`HandleBased::duplicate_handle`](crate::HandleBased::duplicate_handle).
            pub fn duplicate_handle(&self, rights: $crate::Rights) -> $crate::Result<$name> {
                $crate::HandleBased::duplicate_handle(self, rights)
            }

            /// See [`HandleBased::replace_handle`](crate::HandleBased::replace_handle).
            pub fn replace_handle(self, rights: $crate::Rights) -> $crate::Result<$name> {
                $crate::HandleBased::replace_handle(self, rights)
            }

            /// Takes ownership of a raw handle value (the object type is not checked).
            ///
            /// # Safety
            /// As [`Handle::from_raw`](crate::Handle::from_raw).
            pub const unsafe fn from_raw(raw: $crate::sys::zx_handle_t) -> $name {
                // SAFETY: forwarded to the caller.
                $name(unsafe { $crate::Handle::from_raw(raw) })
            }

            /// The raw value, still owned by `self`.
            pub const fn raw_handle(&self) -> $crate::sys::zx_handle_t {
                self.0.raw_handle()
            }

            /// Gives up ownership and returns the raw value (the handle is not closed).
            pub fn into_raw(self) -> $crate::sys::zx_handle_t {
                self.0.into_raw()
            }

            /// The untyped handle.
            pub fn into_handle(self) -> $crate::Handle {
                self.0
            }

            /// `true` if this owns no handle.
            pub const fn is_invalid(&self) -> bool {
                self.0.is_invalid()
            }
        }
    };
}

pub(crate) use handle_type;

/// Inherent copies of the [`AsHandleRef`] methods (and for typed handles the
/// [`HandleBased`] ones), so they work without importing the traits.
macro_rules! inherent_handle_methods {
    ($name:ident) => {
        impl $name {
            /// See [`AsHandleRef::wait_handle`](crate::AsHandleRef::wait_handle).
            pub fn wait_handle(
                &self,
                signals: $crate::Signals,
                deadline: $crate::Time,
            ) -> $crate::Result<$crate::Signals> {
                $crate::AsHandleRef::wait_handle(self, signals, deadline)
            }

            /// See [`AsHandleRef::wait_handle_observed`](crate::AsHandleRef::wait_handle_observed).
            pub fn wait_handle_observed(
                &self,
                signals: $crate::Signals,
                deadline: $crate::Time,
            ) -> ($crate::Status, $crate::Signals) {
                $crate::AsHandleRef::wait_handle_observed(self, signals, deadline)
            }

            /// See [`AsHandleRef::signal_handle`](crate::AsHandleRef::signal_handle).
            pub fn signal_handle(
                &self,
                clear_mask: $crate::Signals,
                set_mask: $crate::Signals,
            ) -> $crate::Result<()> {
                $crate::AsHandleRef::signal_handle(self, clear_mask, set_mask)
            }

            /// See [`AsHandleRef::signal_peer`](crate::AsHandleRef::signal_peer).
            pub fn signal_peer_handle(
                &self,
                clear_mask: $crate::Signals,
                set_mask: $crate::Signals,
            ) -> $crate::Result<()> {
                $crate::AsHandleRef::signal_peer(self, clear_mask, set_mask)
            }

            /// See [`AsHandleRef::wait_async_handle`](crate::AsHandleRef::wait_async_handle).
            pub fn wait_async_handle(
                &self,
                port: &$crate::Port,
                key: u64,
                signals: $crate::Signals,
                options: $crate::WaitAsyncOpts,
            ) -> $crate::Result<()> {
                $crate::AsHandleRef::wait_async_handle(self, port, key, signals, options)
            }

            /// See [`AsHandleRef::basic_info`](crate::AsHandleRef::basic_info).
            pub fn basic_info(&self) -> $crate::Result<$crate::HandleBasicInfo> {
                $crate::AsHandleRef::basic_info(self)
            }

            /// See [`AsHandleRef::get_koid`](crate::AsHandleRef::get_koid).
            pub fn get_koid(&self) -> $crate::Result<$crate::Koid> {
                $crate::AsHandleRef::get_koid(self)
            }

            /// See [`AsHandleRef::get_name`](crate::AsHandleRef::get_name).
            pub fn get_name(&self) -> $crate::Result<alloc::string::String> {
                $crate::AsHandleRef::get_name(self)
            }

            /// See [`AsHandleRef::set_name`](crate::AsHandleRef::set_name).
            pub fn set_name(&self, name: &str) -> $crate::Result<()> {
                $crate::AsHandleRef::set_name(self, name)
            }
        }
    };
}

pub(crate) use inherent_handle_methods;
