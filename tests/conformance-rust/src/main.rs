//! conformance-rust: checks the kernel against the system-call contract
//! (`shared/spec/zx-abi.md`) from a Rust user program.
//!
//! Output (`user/README.md`): one line per case, `test NAME ... ok` or
//! `test NAME ... FAILED: why`, then `conformance-rust: N passed, M failed`; the exit status
//! is M. Arguments `only=PREFIX` run just the cases whose name starts with PREFIX.
//!
//! Run as `conformance-rust child MODE ARGS...` the program is the helper process of the
//! two-process cases (see `child.rs`).
#![no_std]
#![no_main]

extern crate alloc;

#[macro_use]
mod util;
mod harness;

mod child;
mod t_call;
mod t_channel;
mod t_executor;
mod t_futex;
mod t_handle;
mod t_hostile;
mod t_info;
mod t_job;
mod t_long;
mod t_ports;
mod t_process;
mod t_race;
mod t_socket;
mod t_thread;
mod t_timer;
mod t_vmar;
mod t_vmo;
mod t_vmo_child;
mod t_vmo_clone;
mod t_vmo_op;
mod t_wait;
mod t_zero_children;

zx::entry!(main);

fn main(args: &[&str]) -> i32 {
    // `child MODE ...` (argv[0] is normally the path; accept it missing too).
    for i in 0..args.len().min(2) {
        if args[i] == "child" {
            return child::main(&args[i + 1..]);
        }
    }
    let filters: alloc::vec::Vec<&str> = args
        .iter()
        .skip(1)
        .filter_map(|a| a.strip_prefix("only="))
        .collect();
    let groups: &[&[harness::Case]] = &[
        t_vmo::CASES,
        t_vmo_clone::CASES,
        t_vmo_child::CASES,
        t_vmo_op::CASES,
        t_zero_children::CASES,
        t_handle::CASES,
        t_info::CASES,
        t_wait::CASES,
        t_timer::CASES,
        t_ports::CASES,
        t_channel::CASES,
        t_socket::CASES,
        t_call::CASES,
        t_vmar::CASES,
        t_thread::CASES,
        t_process::CASES,
        t_job::CASES,
        t_long::CASES,
        t_race::CASES,
        t_futex::CASES,
        t_executor::CASES,
        // Last: the cases most likely to hang a broken kernel.
        t_hostile::CASES,
    ];
    harness::run("conformance-rust", groups, &filters)
}
