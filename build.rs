// Links the kernel with its own layout (only the kernel binary, never the host-tested
// crates) and records the git revision for the banner.
use std::process::Command;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    println!("cargo:rerun-if-changed={dir}/linker.ld");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    // HEAD names the branch; the log changes with every commit and checkout.
    println!("cargo:rerun-if-changed={dir}/.git/HEAD");
    println!("cargo:rerun-if-changed={dir}/.git/logs/HEAD");
    let revision = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(&dir)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KERNEL_GIT_VERSION={revision}");
}
