//! Links the program with the user-program layout (`user/user.ld`: static ELF at
//! 0x1000_0000, separate R+X, R and R+W segments). Only for the bare-metal target; a build
//! script of a dependency cannot pass link arguments to this binary, so each program has one.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = format!("{dir}/../user.ld");
    println!("cargo:rerun-if-changed={script}");
    if std::env::var("TARGET").is_ok_and(|t| t.ends_with("-none")) {
        println!("cargo:rustc-link-arg-bins=-T{script}");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
