//! Handles and handle tables: value encoding, lookup order, duplicate / replace / close rules,
//! limits, handle counts, transfer, and a model-based property test.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use abi::{zx_handle_t, Rights, Signals, Status, ZX_HANDLE_INVALID};
use object::channel::Channel;
use object::handle::{Handle, HandleTable};
use object::object::{downcast, KernelObject, ObjectBase};
use proptest::prelude::*;

/// A minimal kernel object that counts `on_zero_handles` calls.
#[derive(Debug)]
struct Probe {
    base: ObjectBase,
    zero_calls: AtomicUsize,
}

impl Probe {
    fn new() -> Arc<Probe> {
        Arc::new(Probe {
            base: ObjectBase::new(Signals::NONE),
            zero_calls: AtomicUsize::new(0),
        })
    }
    fn zero_calls(&self) -> usize {
        self.zero_calls.load(Ordering::SeqCst)
    }
}

impl KernelObject for Probe {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_VMO
    }
    fn on_zero_handles(&self) {
        self.zero_calls.fetch_add(1, Ordering::SeqCst);
    }
}

/// Another type, for WRONG_TYPE checks.
#[derive(Debug)]
struct Other {
    base: ObjectBase,
}

impl KernelObject for Other {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_PROCESS
    }
}

const ALL: Rights = Rights::from_bits(
    Rights::DUPLICATE.bits() | Rights::TRANSFER.bits() | Rights::READ.bits() | Rights::WRITE.bits(),
);

fn handle(probe: &Arc<Probe>, rights: Rights) -> Handle {
    Handle::new(probe.clone(), rights)
}

fn table() -> HandleTable {
    HandleTable::new(0x5eed_1234, 256)
}

#[test]
fn handle_values_have_low_bits_set_and_are_never_invalid() {
    for secret in [0, 1, 2, 3, 0xffff_ffff, 0x8000_0000, 0x1234_5678] {
        let table = HandleTable::new(secret, 4096);
        let probe = Probe::new();
        for _ in 0..2000 {
            let value = table.add(handle(&probe, ALL)).unwrap();
            assert_ne!(value, ZX_HANDLE_INVALID);
            assert_eq!(value & 0b11, 0b11, "value {value:#x} secret {secret:#x}");
        }
    }
}

#[test]
fn handle_values_depend_on_table_secret() {
    let a = HandleTable::new(0x1234_5678, 256);
    let b = HandleTable::new(0x8765_4320, 256);
    let probe = Probe::new();
    let va = a.add(handle(&probe, ALL)).unwrap();
    let vb = b.add(handle(&probe, ALL)).unwrap();
    assert_ne!(va, vb);
    // A value of one table does not name a handle of the other.
    assert_eq!(b.get(va).unwrap_err(), Status::BAD_HANDLE);
    assert_eq!(a.get(vb).unwrap_err(), Status::BAD_HANDLE);
}

#[test]
fn handle_values_with_low_bits_clear_are_bad_handle() {
    let table = table();
    let probe = Probe::new();
    let value = table.add(handle(&probe, ALL)).unwrap();
    for bad in [0, value & !1, value & !2, value & !3, u32::MAX] {
        if bad != value {
            assert_eq!(table.get(bad).unwrap_err(), Status::BAD_HANDLE, "{bad:#x}");
        }
    }
    assert_eq!(
        table.get(ZX_HANDLE_INVALID).unwrap_err(),
        Status::BAD_HANDLE
    );
}

#[test]
fn handle_generation_changes_on_slot_reuse_and_stale_value_is_rejected() {
    // With room for one handle every add reuses slot 0.
    let table = HandleTable::new(0xabcd_ef00, 1);
    let probe = Probe::new();
    let first = table.add(handle(&probe, ALL)).unwrap();
    table.close(first).unwrap();
    let second = table.add(handle(&probe, ALL)).unwrap();
    assert_ne!(first, second);
    assert_eq!(table.get(first).unwrap_err(), Status::BAD_HANDLE);
    assert_eq!(table.close(first).unwrap_err(), Status::BAD_HANDLE);
    assert!(table.get(second).is_ok());
}

#[test]
fn handle_closed_value_does_not_come_back_soon() {
    let table = table();
    let probe = Probe::new();
    let kept = table.add(handle(&probe, ALL)).unwrap();
    let closed = table.add(handle(&probe, ALL)).unwrap();
    table.close(closed).unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        let value = table.add(handle(&probe, ALL)).unwrap();
        assert_ne!(value, closed);
        assert_ne!(value, kept);
        assert!(seen.insert(value), "value {value:#x} came back");
        table.close(value).unwrap();
    }
    assert_eq!(table.get(closed).unwrap_err(), Status::BAD_HANDLE);
}

#[test]
fn handle_lookup_bad_handle_before_wrong_type() {
    let table = table();
    // Unknown value, asked for a type and a right the probe lacks: BAD_HANDLE wins.
    assert_eq!(
        table
            .get_object::<Other>(0x1233, Rights::WRITE)
            .unwrap_err(),
        Status::BAD_HANDLE
    );
}

#[test]
fn handle_lookup_wrong_type_before_access_denied() {
    let table = table();
    let probe = Probe::new();
    let value = table.add(handle(&probe, Rights::NONE)).unwrap();
    assert_eq!(
        table.get_object::<Other>(value, Rights::WRITE).unwrap_err(),
        Status::WRONG_TYPE
    );
    assert_eq!(
        table.get_object::<Probe>(value, Rights::WRITE).unwrap_err(),
        Status::ACCESS_DENIED
    );
    let (object, rights) = table.get_object::<Probe>(value, Rights::NONE).unwrap();
    assert!(Arc::ptr_eq(&object, &probe));
    assert_eq!(rights, Rights::NONE);
}

#[test]
fn handle_lookup_access_denied_needs_every_required_right() {
    let table = table();
    let probe = Probe::new();
    let value = table.add(handle(&probe, Rights::READ)).unwrap();
    assert!(table.get_object::<Probe>(value, Rights::READ).is_ok());
    assert_eq!(
        table
            .get_object::<Probe>(value, Rights::READ | Rights::WRITE)
            .unwrap_err(),
        Status::ACCESS_DENIED
    );
}

#[test]
fn handle_get_reports_rights_and_id() {
    let table = table();
    let probe = Probe::new();
    let h = handle(&probe, Rights::READ);
    let id = h.id();
    let value = table.add(h).unwrap();
    let (object, rights, got_id) = table.get(value).unwrap();
    assert_eq!(object.koid(), probe.base.koid());
    assert_eq!(rights, Rights::READ);
    assert_eq!(got_id, id);
}

#[test]
fn close_invalid_handle_is_ok_and_unknown_is_bad_handle() {
    let table = table();
    assert_eq!(table.close(ZX_HANDLE_INVALID), Ok(()));
    assert_eq!(table.close(0x7777_7777).unwrap_err(), Status::BAD_HANDLE);
    let probe = Probe::new();
    let value = table.add(handle(&probe, ALL)).unwrap();
    assert_eq!(table.close(value), Ok(()));
    assert_eq!(table.close(value).unwrap_err(), Status::BAD_HANDLE);
    assert_eq!(probe.zero_calls(), 1);
}

#[test]
fn close_many_closes_all_valid_and_reports_first_error() {
    let table = table();
    let probe = Probe::new();
    let a = table.add(handle(&probe, ALL)).unwrap();
    let b = table.add(handle(&probe, ALL)).unwrap();
    let c = table.add(handle(&probe, ALL)).unwrap();
    assert_eq!(
        table.close_many(&[a, ZX_HANDLE_INVALID, 0x1111_1113, b, a, c]),
        Err(Status::BAD_HANDLE)
    );
    assert_eq!(table.count(), 0);
    assert_eq!(probe.base.handle_count(), 0);
    assert_eq!(probe.zero_calls(), 1);
    assert_eq!(table.close_many(&[]), Ok(()));
    assert_eq!(table.close_many(&[ZX_HANDLE_INVALID]), Ok(()));
}

#[test]
fn close_many_with_a_value_listed_twice_is_bad_handle() {
    let table = table();
    let probe = Probe::new();
    let a = table.add(handle(&probe, ALL)).unwrap();
    assert_eq!(table.close_many(&[a, a]), Err(Status::BAD_HANDLE));
    assert_eq!(table.count(), 0);
}

#[test]
fn duplicate_requires_duplicate_right() {
    let table = table();
    let probe = Probe::new();
    let value = table.add(handle(&probe, Rights::READ)).unwrap();
    assert_eq!(
        table.duplicate(value, Rights::SAME_RIGHTS).unwrap_err(),
        Status::ACCESS_DENIED
    );
    assert_eq!(table.count(), 1);
    assert_eq!(probe.base.handle_count(), 1);
}

#[test]
fn duplicate_access_denied_before_invalid_args() {
    let table = table();
    let probe = Probe::new();
    let value = table.add(handle(&probe, Rights::READ)).unwrap();
    assert_eq!(
        table.duplicate(value, Rights::WRITE).unwrap_err(),
        Status::ACCESS_DENIED
    );
}

#[test]
fn duplicate_rights_must_be_a_subset_unless_same_rights() {
    let table = table();
    let probe = Probe::new();
    let rights = Rights::DUPLICATE | Rights::READ;
    let value = table.add(handle(&probe, rights)).unwrap();
    assert_eq!(
        table.duplicate(value, Rights::WRITE).unwrap_err(),
        Status::INVALID_ARGS
    );
    // SAME_RIGHTS combined with other bits is not SAME_RIGHTS.
    assert_eq!(
        table
            .duplicate(value, Rights::SAME_RIGHTS | Rights::READ)
            .unwrap_err(),
        Status::INVALID_ARGS
    );
    assert_eq!(table.count(), 1);

    let same = table.duplicate(value, Rights::SAME_RIGHTS).unwrap();
    assert_eq!(table.get(same).unwrap().1, rights);
    let fewer = table.duplicate(value, Rights::READ).unwrap();
    assert_eq!(table.get(fewer).unwrap().1, Rights::READ);
    let none = table.duplicate(value, Rights::NONE).unwrap();
    assert_eq!(table.get(none).unwrap().1, Rights::NONE);
    assert_eq!(probe.base.handle_count(), 4);
    // A duplicate is a distinct handle.
    assert_ne!(table.get(same).unwrap().2, table.get(value).unwrap().2);
}

#[test]
fn duplicate_at_limit_is_no_resources_and_leaks_nothing() {
    let table = HandleTable::new(7, 2);
    let probe = Probe::new();
    let value = table.add(handle(&probe, ALL)).unwrap();
    table.duplicate(value, Rights::SAME_RIGHTS).unwrap();
    assert_eq!(
        table.duplicate(value, Rights::SAME_RIGHTS).unwrap_err(),
        Status::NO_RESOURCES
    );
    assert_eq!(table.count(), 2);
    assert_eq!(probe.base.handle_count(), 2);
    assert_eq!(probe.zero_calls(), 0);
}

#[test]
fn replace_needs_no_right_and_invalidates_source() {
    let table = table();
    let probe = Probe::new();
    let value = table.add(handle(&probe, Rights::READ)).unwrap();
    let new = table.replace(value, Rights::SAME_RIGHTS).unwrap();
    assert_ne!(new, value);
    assert_eq!(table.get(value).unwrap_err(), Status::BAD_HANDLE);
    assert_eq!(table.get(new).unwrap().1, Rights::READ);
    let fewer = table.replace(new, Rights::NONE).unwrap();
    assert_eq!(table.get(fewer).unwrap().1, Rights::NONE);
    assert_eq!(table.count(), 1);
    assert_eq!(probe.base.handle_count(), 1);
    // The count never touched zero on the way.
    assert_eq!(probe.zero_calls(), 0);
}

#[test]
fn replace_consumes_source_even_on_failure() {
    let table = table();
    let probe = Probe::new();
    let value = table.add(handle(&probe, Rights::READ)).unwrap();
    assert_eq!(
        table
            .replace(value, Rights::READ | Rights::WRITE)
            .unwrap_err(),
        Status::INVALID_ARGS
    );
    assert_eq!(table.get(value).unwrap_err(), Status::BAD_HANDLE);
    assert_eq!(table.count(), 0);
    assert_eq!(probe.base.handle_count(), 0);
    assert_eq!(probe.zero_calls(), 1);
}

#[test]
fn replace_unknown_value_is_bad_handle_and_changes_nothing() {
    let table = table();
    let probe = Probe::new();
    let value = table.add(handle(&probe, ALL)).unwrap();
    assert_eq!(
        table
            .replace(value ^ 0x100, Rights::SAME_RIGHTS)
            .unwrap_err(),
        Status::BAD_HANDLE
    );
    assert_eq!(table.count(), 1);
}

#[test]
fn replace_in_a_full_table_succeeds() {
    let table = HandleTable::new(9, 1);
    let probe = Probe::new();
    let value = table.add(handle(&probe, ALL)).unwrap();
    let new = table.replace(value, Rights::READ).unwrap();
    assert_eq!(table.get(new).unwrap().1, Rights::READ);
}

#[test]
fn add_at_limit_is_no_resources_and_closes_the_handle() {
    let table = HandleTable::new(3, 3);
    let kept = Probe::new();
    for _ in 0..3 {
        table.add(handle(&kept, ALL)).unwrap();
    }
    let rejected = Probe::new();
    assert_eq!(
        table.add(handle(&rejected, ALL)).unwrap_err(),
        Status::NO_RESOURCES
    );
    assert_eq!(table.count(), 3);
    assert_eq!(rejected.base.handle_count(), 0);
    assert_eq!(rejected.zero_calls(), 1);
    // Only the rejected handle's reference is gone: ours is the last.
    assert_eq!(Arc::strong_count(&rejected), 1);
    assert_eq!(table.available(), 0);
}

#[test]
fn table_limit_is_per_table() {
    let a = HandleTable::new(1, 2);
    let b = HandleTable::new(2, 2);
    let probe = Probe::new();
    for _ in 0..2 {
        a.add(handle(&probe, ALL)).unwrap();
        b.add(handle(&probe, ALL)).unwrap();
    }
    assert_eq!(
        a.add(handle(&probe, ALL)).unwrap_err(),
        Status::NO_RESOURCES
    );
    assert_eq!(a.max_handles(), 2);
}

#[test]
fn handle_count_follows_handles_and_on_zero_handles_runs_once() {
    let table = table();
    let probe = Probe::new();
    assert_eq!(probe.base.handle_count(), 0);
    let a = table.add(handle(&probe, ALL)).unwrap();
    let b = table.duplicate(a, Rights::SAME_RIGHTS).unwrap();
    let c = table.duplicate(b, Rights::READ).unwrap();
    assert_eq!(probe.base.handle_count(), 3);
    table.close(a).unwrap();
    let moved = table.remove(b).unwrap();
    assert_eq!(probe.base.handle_count(), 2);
    drop(moved);
    assert_eq!(probe.base.handle_count(), 1);
    assert_eq!(probe.zero_calls(), 0);
    table.close(c).unwrap();
    assert_eq!(probe.base.handle_count(), 0);
    assert_eq!(probe.zero_calls(), 1);
    // Kernel references (Arc clones) are not handles.
    assert_eq!(Arc::strong_count(&probe), 1);
}

#[test]
fn handle_accessors_report_object_rights_id_koid() {
    let probe = Probe::new();
    let a = handle(&probe, Rights::READ);
    let b = handle(&probe, Rights::READ);
    assert_eq!(a.rights(), Rights::READ);
    assert_eq!(a.koid(), probe.base.koid());
    assert_eq!(a.object().object_type(), abi::ZX_OBJ_TYPE_VMO);
    assert_ne!(a.id(), b.id());
    assert!(downcast::<Probe>(a.object()).is_some());
    assert!(downcast::<Other>(a.object()).is_none());
}

#[test]
fn clear_closes_every_handle() {
    let table = table();
    let probes: Vec<_> = (0..5).map(|_| Probe::new()).collect();
    for probe in &probes {
        for _ in 0..20 {
            table.add(handle(probe, ALL)).unwrap();
        }
    }
    table.clear();
    assert_eq!(table.count(), 0);
    for probe in &probes {
        assert_eq!(probe.base.handle_count(), 0);
        assert_eq!(probe.zero_calls(), 1);
    }
    // The table still works afterwards.
    let value = table.add(handle(&probes[0], ALL)).unwrap();
    assert!(table.get(value).is_ok());
}

#[test]
fn dropping_a_table_closes_its_handles() {
    let probe = Probe::new();
    {
        let table = table();
        table.add(handle(&probe, ALL)).unwrap();
        table.add(handle(&probe, ALL)).unwrap();
    }
    assert_eq!(probe.zero_calls(), 1);
    assert_eq!(Arc::strong_count(&probe), 1);
}

#[test]
fn take_for_transfer_returns_handles_in_order() {
    let table = table();
    let probes: Vec<_> = (0..3).map(|_| Probe::new()).collect();
    let values: Vec<_> = probes
        .iter()
        .map(|p| table.add(handle(p, ALL)).unwrap())
        .collect();
    let taken = table.take_for_transfer(&values, None).unwrap();
    assert_eq!(table.count(), 0);
    for (handle, probe) in taken.iter().zip(&probes) {
        assert_eq!(handle.koid(), probe.base.koid());
        assert_eq!(handle.rights(), ALL);
    }
    // Still handles: nothing reached zero.
    assert!(probes.iter().all(|p| p.zero_calls() == 0));
}

#[test]
fn take_for_transfer_consumes_every_listed_handle_on_failure() {
    let table = table();
    let cases: [(&str, Status); 4] = [
        ("bad value", Status::BAD_HANDLE),
        ("no transfer right", Status::ACCESS_DENIED),
        ("excluded object", Status::NOT_SUPPORTED),
        ("value listed twice", Status::BAD_HANDLE),
    ];
    for (case, expected) in cases {
        let good1 = Probe::new();
        let good2 = Probe::new();
        let special = Probe::new();
        let v1 = table.add(handle(&good1, ALL)).unwrap();
        let v2 = table.add(handle(&good2, ALL)).unwrap();
        let (values, exclude) = match case {
            "bad value" => (vec![v1, 0x4443, v2], None),
            "no transfer right" => {
                let vs = table.add(handle(&special, Rights::READ)).unwrap();
                (vec![v1, vs, v2], None)
            }
            "excluded object" => {
                let vs = table.add(handle(&special, ALL)).unwrap();
                (vec![v1, vs, v2], Some(special.base.koid()))
            }
            _ => (vec![v1, v2, v1], None),
        };
        assert_eq!(
            table.take_for_transfer(&values, exclude).unwrap_err(),
            expected,
            "{case}"
        );
        assert_eq!(table.count(), 0, "{case}");
        for probe in [&good1, &good2] {
            assert_eq!(probe.base.handle_count(), 0, "{case}");
            assert_eq!(probe.zero_calls(), 1, "{case}");
        }
        assert_eq!(special.base.handle_count(), 0, "{case}");
    }
}

#[test]
fn take_for_transfer_reports_the_first_error_in_list_order() {
    let table = table();
    let probe = Probe::new();
    let no_transfer = table.add(handle(&probe, Rights::READ)).unwrap();
    let excluded_probe = Probe::new();
    let excluded = table.add(handle(&excluded_probe, ALL)).unwrap();
    assert_eq!(
        table
            .take_for_transfer(
                &[no_transfer, excluded, 0x1113],
                Some(excluded_probe.base.koid())
            )
            .unwrap_err(),
        Status::ACCESS_DENIED
    );
    assert_eq!(table.count(), 0);
}

#[test]
fn insert_many_is_all_or_nothing() {
    let table = HandleTable::new(0x42, 4);
    let probe = Probe::new();
    table.add(handle(&probe, ALL)).unwrap();
    let batch: Vec<_> = (0..4).map(|_| handle(&probe, Rights::READ)).collect();
    assert_eq!(table.insert_many(batch).unwrap_err(), Status::NO_RESOURCES);
    assert_eq!(table.count(), 1);
    assert_eq!(probe.base.handle_count(), 1);

    let batch: Vec<_> = (0..3).map(|_| handle(&probe, Rights::READ)).collect();
    let ids: Vec<_> = batch.iter().map(Handle::id).collect();
    let values = table.insert_many(batch).unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(table.count(), 4);
    for (value, id) in values.iter().zip(ids) {
        assert_eq!(table.get(*value).unwrap().2, id);
    }
    assert_eq!(
        table.insert_many(Vec::new()).unwrap(),
        Vec::<zx_handle_t>::new()
    );
}

#[test]
fn remove_hands_over_the_handle() {
    let a = table();
    let b = HandleTable::new(0x9999, 16);
    let probe = Probe::new();
    let value = a.add(handle(&probe, Rights::READ)).unwrap();
    let moved = a.remove(value).unwrap();
    assert_eq!(a.remove(value).unwrap_err(), Status::BAD_HANDLE);
    let new = b.add(moved).unwrap();
    assert_eq!(b.get(new).unwrap().1, Rights::READ);
    assert_eq!(probe.base.handle_count(), 1);
    assert_eq!(probe.zero_calls(), 0);
}

#[test]
fn channel_handles_are_typed_channels() {
    let table = table();
    let (a, _b) = Channel::create().unwrap();
    let value = table
        .add(Handle::new(a.clone(), Rights::DEFAULT_CHANNEL))
        .unwrap();
    assert!(table.get_object::<Channel>(value, Rights::WRITE).is_ok());
    assert_eq!(
        table.get_object::<Probe>(value, Rights::NONE).unwrap_err(),
        Status::WRONG_TYPE
    );
    assert_eq!(
        table.duplicate(value, Rights::SAME_RIGHTS).unwrap_err(),
        Status::ACCESS_DENIED,
        "channel handles have no DUPLICATE by default"
    );
}

// ---------------------------------------------------------------------------------------
// Model-based property test.

#[derive(Clone, Debug)]
enum Op {
    Add { object: usize, rights: u32 },
    Duplicate { pick: usize, rights: u32 },
    Replace { pick: usize, rights: u32 },
    Close { pick: usize },
    Remove { pick: usize },
    LookupStale { pick: usize },
    LookupRandom { value: u32 },
}

const RIGHT_BITS: [Rights; 4] = [
    Rights::DUPLICATE,
    Rights::TRANSFER,
    Rights::READ,
    Rights::WRITE,
];

fn rights_from(raw: u32) -> Rights {
    if raw & 0x10 != 0 {
        return Rights::SAME_RIGHTS;
    }
    let mut rights = Rights::NONE;
    for (i, r) in RIGHT_BITS.iter().enumerate() {
        if raw & (1 << i) != 0 {
            rights |= *r;
        }
    }
    rights
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..32u32).prop_map(|(object, rights)| Op::Add { object, rights }),
        3 => (any::<usize>(), 0..32u32).prop_map(|(pick, rights)| Op::Duplicate { pick, rights }),
        2 => (any::<usize>(), 0..32u32).prop_map(|(pick, rights)| Op::Replace { pick, rights }),
        2 => any::<usize>().prop_map(|pick| Op::Close { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        1 => any::<usize>().prop_map(|pick| Op::LookupStale { pick }),
        1 => any::<u32>().prop_map(|value| Op::LookupRandom { value }),
    ]
}

fn expected_rights(source: Rights, requested: Rights) -> Option<Rights> {
    if requested == Rights::SAME_RIGHTS {
        Some(source)
    } else if source.contains(requested) {
        Some(requested)
    } else {
        None
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn handle_table_matches_model(secret in any::<u32>(), max in 1usize..12, ops in prop::collection::vec(op(), 1..120)) {
        let table = HandleTable::new(secret, max);
        let objects: Vec<Arc<Probe>> = (0..3).map(|_| Probe::new()).collect();
        // value -> (object index, rights)
        let mut live: HashMap<zx_handle_t, (usize, Rights)> = HashMap::new();
        let mut order: Vec<zx_handle_t> = Vec::new();
        let mut stale: Vec<zx_handle_t> = Vec::new();
        let mut out_of_table: Vec<Handle> = Vec::new();

        let forget = |live: &mut HashMap<zx_handle_t, (usize, Rights)>, order: &mut Vec<zx_handle_t>, stale: &mut Vec<zx_handle_t>, value| {
            live.remove(&value);
            order.retain(|v| *v != value);
            stale.push(value);
        };

        for op in ops {
            match op {
                Op::Add { object, rights } => {
                    let rights = rights_from(rights & 0xf);
                    let result = table.add(handle(&objects[object], rights));
                    if live.len() == max {
                        prop_assert_eq!(result, Err(Status::NO_RESOURCES));
                    } else {
                        let value = result.unwrap();
                        prop_assert_eq!(value & 3, 3);
                        prop_assert!(!live.contains_key(&value));
                        prop_assert!(!stale.contains(&value), "closed value came back");
                        live.insert(value, (object, rights));
                        order.push(value);
                    }
                }
                Op::Duplicate { pick, rights } => {
                    if order.is_empty() { continue; }
                    let value = order[pick % order.len()];
                    let (object, source) = live[&value];
                    let requested = rights_from(rights);
                    let result = table.duplicate(value, requested);
                    if !source.contains(Rights::DUPLICATE) {
                        prop_assert_eq!(result, Err(Status::ACCESS_DENIED));
                    } else if let Some(new_rights) = expected_rights(source, requested) {
                        if live.len() == max {
                            prop_assert_eq!(result, Err(Status::NO_RESOURCES));
                        } else {
                            let new = result.unwrap();
                            prop_assert!(!live.contains_key(&new));
                            prop_assert!(!stale.contains(&new), "closed value came back");
                            live.insert(new, (object, new_rights));
                            order.push(new);
                        }
                    } else {
                        prop_assert_eq!(result, Err(Status::INVALID_ARGS));
                    }
                }
                Op::Replace { pick, rights } => {
                    if order.is_empty() { continue; }
                    let value = order[pick % order.len()];
                    let (object, source) = live[&value];
                    let requested = rights_from(rights);
                    let result = table.replace(value, requested);
                    forget(&mut live, &mut order, &mut stale, value);
                    match expected_rights(source, requested) {
                        None => prop_assert_eq!(result, Err(Status::INVALID_ARGS)),
                        Some(new_rights) => {
                            let new = result.unwrap();
                            prop_assert!(!live.contains_key(&new));
                            prop_assert!(!stale.contains(&new), "closed value came back");
                            live.insert(new, (object, new_rights));
                            order.push(new);
                        }
                    }
                }
                Op::Close { pick } => {
                    if order.is_empty() {
                        prop_assert_eq!(table.close(ZX_HANDLE_INVALID), Ok(()));
                        continue;
                    }
                    let value = order[pick % order.len()];
                    prop_assert_eq!(table.close(value), Ok(()));
                    forget(&mut live, &mut order, &mut stale, value);
                }
                Op::Remove { pick } => {
                    if order.is_empty() { continue; }
                    let value = order[pick % order.len()];
                    let (object, rights) = live[&value];
                    let removed = table.remove(value).unwrap();
                    prop_assert_eq!(removed.koid(), objects[object].base.koid());
                    prop_assert_eq!(removed.rights(), rights);
                    out_of_table.push(removed);
                    forget(&mut live, &mut order, &mut stale, value);
                }
                Op::LookupStale { pick } => {
                    if stale.is_empty() { continue; }
                    // Generations are at least 26 bits wide here: no stale value can come back.
                    let value = stale[pick % stale.len()];
                    prop_assert_eq!(table.get(value).err(), Some(Status::BAD_HANDLE));
                    prop_assert_eq!(table.close(value), Err(Status::BAD_HANDLE));
                }
                Op::LookupRandom { value } => {
                    match live.get(&value) {
                        Some(&(object, rights)) => {
                            let (o, r, _) = table.get(value).unwrap();
                            prop_assert_eq!(o.koid(), objects[object].base.koid());
                            prop_assert_eq!(r, rights);
                        }
                        None => prop_assert_eq!(table.get(value).err(), Some(Status::BAD_HANDLE)),
                    }
                }
            }

            // The table agrees with the model after every step.
            prop_assert_eq!(table.count(), live.len());
            for (&value, &(object, rights)) in &live {
                let (o, r, _) = table.get(value).unwrap();
                prop_assert_eq!(o.koid(), objects[object].base.koid());
                prop_assert_eq!(r, rights);
            }
            for (i, probe) in objects.iter().enumerate() {
                let in_table = live.values().filter(|(o, _)| *o == i).count();
                let outside = out_of_table.iter().filter(|h| h.koid() == probe.base.koid()).count();
                prop_assert_eq!(probe.base.handle_count(), in_table + outside);
            }
        }

        drop(out_of_table);
        table.clear();
        for probe in &objects {
            prop_assert_eq!(probe.base.handle_count(), 0);
            prop_assert_eq!(Arc::strong_count(probe), 1);
        }
    }
}
