//! `kcheck` keeps the deferred-work flag set, so the kernel's way out of every system call
//! takes the path where its invariant checks run (a test binary of its own: the flag is
//! global).

use object::preempt;

#[test]
fn kcheck_keeps_the_deferred_work_flag_set_after_every_take() {
    // Off: a mark is taken once.
    preempt::mark_deferred();
    assert!(preempt::take_deferred());
    assert!(!preempt::take_deferred());
    // On: taken every time, marked or not.
    preempt::keep_deferred();
    for _ in 0..3 {
        assert!(preempt::take_deferred());
    }
    preempt::mark_deferred();
    assert!(preempt::take_deferred());
}
