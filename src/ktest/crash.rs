//! Deliberate crashes, compiled only into images built with the `crash-hooks` feature
//! (`make build/Image-crash-hooks`, which `make test` boots with `ktest.crash=KIND`): the
//! runner checks that a fatal error is reported once and stops the kernel (exit status 1),
//! never loops. An image built without the feature has no way to crash on purpose.

/// `ktest.crash=KIND` in the boot arguments makes this boot crash on purpose: KIND is
/// `stack-overflow`, `undefined-instruction`, `panic`, or `in-syscall` (the first
/// `zx_debug_write` panics, so the report must name the call and its arguments).
pub fn crash_if_asked(bootargs: &str) {
    let Some(kind) = bootargs
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix("ktest.crash="))
    else {
        return;
    };
    if kind == "in-syscall" {
        crate::syscall::panic_in_debug_write();
        return;
    }
    println!("ktest: crashing on purpose: {kind}");
    match kind {
        "stack-overflow" => {
            let depth = recurse(core::hint::black_box(1 << 20));
            println!("recursion returned {depth}");
        }
        // SAFETY: deliberately executes an undefined instruction; the fatal handler stops.
        "undefined-instruction" => unsafe { core::arch::asm!("udf #0x17") },
        "panic" => panic!("deliberate panic"),
        _ => println!("unknown crash kind"),
    }
    arch::semihosting::exit(3);
    arch::cpu::halt()
}

/// Recurses until the kernel stack runs into its guard page.
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 1024];
    frame[depth as usize % 1024] = depth as u8;
    if depth == 0 {
        return 0;
    }
    core::hint::black_box(&mut frame);
    recurse(depth - 1) + u64::from(frame[0])
}
