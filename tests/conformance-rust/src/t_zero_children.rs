//! ZX_VMO_ZERO_CHILDREN (the seed's rules).

use crate::harness::Case;
use crate::util::*;

pub const CASES: &[Case] = &[
    ("zero_children_active_on_new_vmo", active_on_new),
    ("zero_children_inactive_while_clone_exists", clone_toggles),
    (
        "zero_children_inactive_while_snapshot_or_slice_exists",
        child_toggles,
    ),
    (
        "zero_children_active_again_only_when_every_child_gone",
        two_children,
    ),
    ("zero_children_grandchild_keeps_parent_inactive", grandchild),
    (
        "zero_children_duplicate_child_handle_keeps_inactive",
        duplicate_handle,
    ),
    (
        "zero_children_mapping_of_child_keeps_inactive",
        mapping_of_child,
    ),
    (
        "zero_children_mapping_of_grandchild_keeps_inactive",
        mapping_of_grandchild,
    ),
    (
        "zero_children_child_in_channel_message_keeps_inactive",
        child_in_channel,
    ),
    (
        "zero_children_wakes_waiter_when_last_child_closed",
        wakes_waiter,
    ),
    (
        "zero_children_child_has_its_own_active_signal",
        child_own_signal,
    ),
    (
        "zero_children_failed_clone_leaves_signal_active",
        failed_clone,
    ),
];

const COW: u32 = ZX_VMO_CLONE_COPY_ON_WRITE;

fn zc(h: &Owned) -> Result<bool, alloc::string::String> {
    Ok(signals(h.raw())? & ZX_VMO_ZERO_CHILDREN != 0)
}

macro_rules! expect_zc {
    ($h:expr, $active:expr, $when:expr) => {{
        let a = zc(&$h)?;
        if a != $active {
            fail!(
                "ZERO_CHILDREN {} {}, expected {}",
                if a { "active" } else { "inactive" },
                $when,
                if $active { "active" } else { "inactive" }
            );
        }
    }};
}

fn active_on_new() -> R {
    let v = vmo(PAGE)?;
    expect_zc!(v, true, "on a new VMO");
    let z = vmo(0)?;
    expect_zc!(z, true, "on a new 0-byte VMO");
    let n = vmo_opts(PAGE, ZX_VMO_NON_RESIZABLE)?;
    expect_zc!(n, true, "on a new non-resizable VMO");
    // The wait returns at once.
    let (s, obs) = wait(v.raw(), ZX_VMO_ZERO_CHILDREN, 0);
    eq!(sname(s), sname(ZX_OK));
    ensure!(obs & ZX_VMO_ZERO_CHILDREN != 0, "observed {obs:#x}");
    Ok(())
}

fn clone_toggles() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    expect_zc!(v, false, "with a clone");
    drop(c);
    expect_zc!(v, true, "after the clone's handle closed");
    Ok(())
}

fn child_toggles() -> R {
    let v = vmo_opts(PAGE, ZX_VMO_NON_RESIZABLE)?;
    let s = child_vmo(v.raw(), ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)?;
    expect_zc!(v, false, "with a snapshot");
    drop(s);
    expect_zc!(v, true, "after the snapshot closed");
    let l = child_vmo(v.raw(), ZX_VMO_CHILD_SLICE, 0, PAGE)?;
    expect_zc!(v, false, "with a slice");
    drop(l);
    expect_zc!(v, true, "after the slice closed");
    Ok(())
}

fn two_children() -> R {
    let v = vmo(PAGE)?;
    let a = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let b = clone_vmo(v.raw(), COW, 0, PAGE)?;
    drop(a);
    expect_zc!(v, false, "with one of two clones left");
    drop(b);
    expect_zc!(v, true, "after both clones closed");
    Ok(())
}

fn grandchild() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let g = clone_vmo(c.raw(), COW, 0, PAGE)?;
    expect_zc!(c, false, "on the child with a grandchild");
    drop(c);
    expect_zc!(v, false, "on the parent with only a grandchild left");
    drop(g);
    expect_zc!(v, true, "on the parent after the grandchild closed");
    Ok(())
}

fn duplicate_handle() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let c2 = dup(c.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    drop(c);
    expect_zc!(v, false, "with a second handle to the clone open");
    drop(c2);
    expect_zc!(v, true, "after every handle to the clone closed");
    Ok(())
}

fn mapping_of_child() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let m = map(c.raw(), 0, PAGEZ, RW)?;
    drop(c);
    expect_zc!(
        v,
        false,
        "with the clone's handle closed but a mapping of it left"
    );
    m.poke(0, 1);
    drop(m);
    expect_zc!(v, true, "after the clone's mapping went away");
    Ok(())
}

fn mapping_of_grandchild() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let g = clone_vmo(c.raw(), COW, 0, PAGE)?;
    let m = map(g.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    drop(g);
    drop(c);
    expect_zc!(v, false, "with only a mapping of a grandchild left");
    eq!(m.peek(0), 0u8);
    drop(m);
    expect_zc!(v, true, "after the grandchild's mapping went away");
    Ok(())
}

fn child_in_channel() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let (a, b) = channel()?;
    zx_ok!(ch_write(a.raw(), b"child", &[c.into_raw()]));
    expect_zc!(
        v,
        false,
        "with the clone's only handle in a channel message"
    );
    drop(a);
    expect_zc!(
        v,
        false,
        "with the message still queued at the open endpoint"
    );
    drop(b);
    expect_zc!(v, true, "after the channel holding the clone went away");
    Ok(())
}

fn wakes_waiter() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let t = start_thread(close_after_entry, c.into_raw() as usize, (50 * MS) as usize)?;
    let start = now();
    let (s, obs) = wait(v.raw(), ZX_VMO_ZERO_CHILDREN, 5000 * MS);
    let waited = now() - start;
    t.join(2000 * MS)?;
    eq!(sname(s), sname(ZX_OK));
    ensure!(obs & ZX_VMO_ZERO_CHILDREN != 0, "observed {obs:#x}");
    ensure!(
        waited >= 20 * MS,
        "the wait returned after {waited} ns, before the clone closed"
    );
    Ok(())
}

fn child_own_signal() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    expect_zc!(c, true, "on a new clone");
    let s = child_vmo(
        v.raw(),
        ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE,
        0,
        PAGE,
    );
    // A snapshot of a VMO that already has a clone may be refused; only check it if made.
    if let Ok(s) = s {
        expect_zc!(s, true, "on a new snapshot");
    }
    Ok(())
}

fn failed_clone() -> R {
    let v = vmo(PAGE)?;
    let mut out = 0u32;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_clone(v.raw(), 0, 0, PAGE, &mut out)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_create_child(v.raw(), 0, 0, PAGE, &mut out)
    });
    check!(ZX_ERR_NOT_SUPPORTED, unsafe {
        sys::zx_vmo_create_child(v.raw(), ZX_VMO_CHILD_SLICE, 0, PAGE, &mut out)
    });
    expect_zc!(v, true, "after failed clone/child calls");
    Ok(())
}
