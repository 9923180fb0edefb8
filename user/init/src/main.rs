//! `init`: the first process.
//!
//! The kernel starts it from the boot archive with the kernel command line as its arguments.
//! With `test` among them it runs every `bin/conformance-*` program of the archive in turn
//! (sorted by name), waits for each and exits with 0 only if all exited with 0. With `bench`
//! it runs `bin/bench`, with `fuzz` it runs `bin/fuzz` (each with the arguments that follow
//! the keyword) and exits with its code. Otherwise it
//! shows what the kernel does: VMOs, copy-on-write clones, a second process sharing a clone,
//! signals and memory figures, and then stays alive.
//!
//! It gets the root job as its default job and starts every program in a child job of it,
//! "programs" (created first; if that fails, in the root job). With `killroot` among its
//! arguments it kills the root job at once (so itself and everything else): the kernel then
//! prints a line and powers off (a check of that path).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use zx::prelude::*;
use zx::{bootfs, println, Rights, Signals, Time, Vmo, VmoCloneOptions};

zx::entry!(main);

/// The job programs are started in ("programs", a child of the root job), kept open for the
/// life of init; ZX_HANDLE_INVALID until made (then the root job is used).
static PROGRAMS: AtomicU32 = AtomicU32::new(zx::sys::ZX_HANDLE_INVALID);

/// Starts `path` of the boot archive with `argv` = `[path, args...]` in the programs' job.
fn spawn(path: &str, args: &[&str], extra_handles: Vec<zx::Handle>) -> zx::Result<zx::Process> {
    let raw = PROGRAMS.load(Ordering::Acquire);
    let job = if raw == zx::sys::ZX_HANDLE_INVALID {
        zx::Job::default_job()
    } else {
        // SAFETY: init never closes the programs' job handle.
        unsafe { zx::Unowned::from_raw_static(raw) }
    };
    let mut argv = vec![path];
    argv.extend_from_slice(args);
    zx::process::spawn_in(&job, &zx::startup::bootfs_vmo(), path, &argv, extra_handles)
}

fn main(args: &[&str]) -> i32 {
    match zx::Job::create(&zx::Job::default_job()) {
        Ok(job) => {
            let _ = job.set_name("programs");
            PROGRAMS.store(job.into_raw(), Ordering::Release);
        }
        Err(status) => println!("init: no job for programs ({status}): using the root job"),
    }
    if args.iter().skip(1).any(|a| *a == "killroot") {
        println!("init: killing the root job");
        let status = zx::Job::default_job().kill();
        println!("init: zx_task_kill of the root job returned: {status:?}");
        return 1;
    }
    let koid = zx::Process::self_handle()
        .get_koid()
        .map_or(0, |k| k.raw_koid());
    println!("init: user space is up (process koid {koid}), arguments {args:?}");
    if args.iter().skip(1).any(|a| *a == "test") {
        // `only=PREFIX` arguments pick the cases each suite runs (all by default).
        let only: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| a.starts_with("only="))
            .collect();
        run_suites(&only)
    } else if let Some(at) = args.iter().position(|a| *a == "bench") {
        run_program("bin/bench", &args[at + 1..])
    } else if let Some(at) = args.iter().position(|a| *a == "fuzz") {
        run_program("bin/fuzz", &args[at + 1..])
    } else {
        if let Err(status) = demo() {
            println!("init: demo stopped: {status}");
        }
        println!("init: idle");
        loop {
            zx::nanosleep(Time::INFINITE);
        }
    }
}

/// Runs `path` (`bin/bench` for make bench, `bin/fuzz` for make fuzz) with the arguments that
/// follow its keyword and returns its exit code.
fn run_program(path: &str, args: &[&str]) -> i32 {
    match spawn(path, args, Vec::new()).and_then(|p| p.wait_exit()) {
        Ok(code) => i32::try_from(code).unwrap_or(1),
        Err(status) => {
            println!("init: {path} could not be run: {status}");
            1
        }
    }
}

/// Runs every `bin/conformance-*`; 0 if all passed.
fn run_suites(only: &[&str]) -> i32 {
    let archive = zx::startup::bootfs_vmo();
    let mut suites: Vec<String> = match bootfs::entries(&archive) {
        Ok(entries) => entries
            .into_iter()
            .filter(|e| e.is_file() && e.name.starts_with("bin/conformance-"))
            .map(|e| e.name)
            .collect(),
        Err(status) => {
            println!("init: cannot read the boot archive: {status}");
            return 1;
        }
    };
    suites.sort();
    if suites.is_empty() {
        println!("init: no bin/conformance-* program in the boot archive");
        return 1;
    }
    let mut all_ok = true;
    for path in &suites {
        let name = path.rsplit('/').next().unwrap_or(path);
        println!("init: running {path}");
        let code = match spawn(path, only, Vec::new()) {
            Ok(process) => process.wait_exit(),
            Err(status) => Err(status),
        };
        match code {
            Ok(code) => {
                println!("init: {name} exited with {code}");
                if code < 0 {
                    println!("init: {name} crashed/killed");
                }
                all_ok &= code == 0;
            }
            Err(status) => {
                println!("init: {name} could not be run: {status}");
                all_ok = false;
            }
        }
    }
    println!(
        "init: {} suite(s) run, {}",
        suites.len(),
        if all_ok { "all passed" } else { "FAILURES" }
    );
    if all_ok {
        0
    } else {
        1
    }
}

fn zero_children(vmo: &Vmo) -> &'static str {
    match vmo.observe_signals(Signals::VMO_ZERO_CHILDREN) {
        Ok(s) if s.contains(Signals::VMO_ZERO_CHILDREN) => "active",
        Ok(_) => "inactive",
        Err(_) => "unknown",
    }
}

fn kmem(when: &str) {
    match zx::kmem_stats() {
        Ok(k) => println!(
            "init: memory {when}: total {} KiB, free {} KiB, in VMOs {} KiB",
            k.total_bytes / 1024,
            k.free_bytes / 1024,
            k.vmo_bytes / 1024
        ),
        Err(status) => println!("init: ZX_INFO_KMEM_STATS: {status}"),
    }
}

fn text(bytes: &[u8]) -> &str {
    let len = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..len]).unwrap_or("<not utf-8>")
}

/// VMO, clone, a second process mapping the clone, signals and memory figures.
fn demo() -> zx::Result<()> {
    kmem("at start");
    let size = 4 * zx::PAGE_SIZE as u64;
    let vmo = Vmo::create(size)?;
    vmo.set_name("demo")?;
    vmo.write(b"hello from init\0", 0)?;
    println!(
        "init: VMO 'demo' of {size} bytes written; ZERO_CHILDREN {}",
        zero_children(&vmo)
    );

    let clone = vmo.create_clone(VmoCloneOptions::COPY_ON_WRITE, 0, size)?;
    clone.set_name("demo-clone")?;
    println!(
        "init: copy-on-write clone made; ZERO_CHILDREN of the parent {}",
        zero_children(&vmo)
    );

    // The child gets a duplicate of the clone; init keeps one to read what it wrote.
    let for_child = clone.duplicate_handle(Rights::SAME_RIGHTS)?;
    let child = spawn("bin/demo-child", &[], vec![for_child.into_handle()])?;
    let code = child.wait_exit()?;
    println!("init: demo-child exited with {code}");

    let mut buf = [0u8; 64];
    clone.read(&mut buf, 0)?;
    println!("init: the clone now reads '{}'", text(&buf));
    vmo.read(&mut buf, 0)?;
    println!("init: the parent still reads '{}'", text(&buf));
    kmem("with the clone");

    drop(clone);
    println!(
        "init: clone closed (and the child's mapping gone); ZERO_CHILDREN of the parent {}",
        zero_children(&vmo)
    );
    drop(vmo);
    kmem("after closing both");

    // A C program on libzircon.
    let hello = spawn("bin/hello-c", &["from", "init"], Vec::new())?;
    println!("init: hello-c exited with {}", hello.wait_exit()?);
    Ok(())
}
