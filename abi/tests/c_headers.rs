//! Drift test: the C headers in `user/include/zircon/` must agree with this crate.
//!
//! A C file is generated from the Rust side ([`abi::ALL_CONSTANTS`], the info structs'
//! `size_of`/`align_of`/`offset_of!`, the type aliases) as a list of static assertions and
//! compiled as C11 with the host `cc`, as C++17 with `c++` if present, and with
//! `aarch64-linux-gnu-gcc` if present. `tests/c/prototypes.c` checks the function signatures
//! the same way. Text checks make sure that the headers define no constant the table lacks
//! (and the reverse), and that the prototypes match `abi::Syscall` one to one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use abi::*;

// ---------------------------------------------------------------------------------------
// Compilers

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    C,
    Cxx,
}

struct Compiler {
    program: &'static str,
    lang: Lang,
}

const WARNINGS: &[&str] = &["-Wall", "-Wextra", "-Wpedantic", "-Werror"];

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../user/include")
}

fn zircon_dir() -> PathBuf {
    include_dir().join("zircon")
}

fn tmp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The compilers to check with: `cc` is required; `c++` and the aarch64 cross compiler are
/// used when installed (a note is printed when one is skipped).
fn compilers() -> Vec<Compiler> {
    assert!(
        available("cc"),
        "the host C compiler `cc` is required for this test"
    );
    let mut list = vec![Compiler {
        program: "cc",
        lang: Lang::C,
    }];
    for (program, lang) in [
        ("c++", Lang::Cxx),
        ("aarch64-linux-gnu-gcc", Lang::C),
        ("aarch64-linux-gnu-g++", Lang::Cxx),
    ] {
        if available(program) {
            list.push(Compiler { program, lang });
        } else {
            eprintln!("note: `{program}` is not installed; skipping that variant");
        }
    }
    list
}

/// Compiles `source` with `compiler`, `-fsyntax-only` (when `object` is false) or `-c` into
/// a scratch object. Returns the diagnostics on failure.
fn compile(compiler: &Compiler, source: &Path, include: &Path, object: bool) -> Result<(), String> {
    let mut cmd = Command::new(compiler.program);
    match compiler.lang {
        Lang::C => cmd.args(["-x", "c", "-std=c11"]),
        Lang::Cxx => cmd.args(["-x", "c++", "-std=c++17"]),
    };
    cmd.arg("-ffreestanding")
        .args(WARNINGS)
        .arg("-I")
        .arg(include);
    if object {
        let out = source.with_extension(format!(
            "{}.o",
            compiler
                .program
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ));
        cmd.arg("-c").arg("-o").arg(out);
    } else {
        cmd.arg("-fsyntax-only");
    }
    cmd.arg(source);
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", compiler.program))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed on {}:\n{}{}",
            compiler.program,
            source.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn compile_everywhere(source: &Path, include: &Path, object: bool) {
    let mut failures = Vec::new();
    for c in compilers() {
        if let Err(e) = compile(&c, source, include, object) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The generated C file

struct FieldLayout {
    c_name: &'static str,
    offset: usize,
    size: usize,
}

struct StructLayout {
    name: &'static str,
    size: usize,
    align: usize,
    fields: Vec<FieldLayout>,
}

fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// Describes a struct by its Rust layout; `rust_field => c_field` where the names differ.
macro_rules! layout {
    ($t:ident { $($f:ident $(=> $c:ident)?),* $(,)? }) => {
        StructLayout {
            name: stringify!($t),
            size: size_of::<$t>(),
            align: align_of::<$t>(),
            fields: vec![$(FieldLayout {
                c_name: layout!(@name $f $($c)?),
                offset: offset_of!($t, $f),
                size: field_size::<$t, _>(|s| &s.$f),
            }),*],
        }
    };
    (@name $f:ident) => { stringify!($f) };
    (@name $f:ident $c:ident) => { stringify!($c) };
}

fn struct_layouts() -> Vec<StructLayout> {
    vec![
        layout!(zx_info_handle_basic_t { koid, rights, type_ => type, related_koid, props, padding1 }),
        layout!(zx_info_process_t {
            return_code,
            start_time,
            flags,
            padding1
        }),
        layout!(zx_info_handle_count_t { handle_count }),
        layout!(zx_info_thread_t {
            state,
            wait_exception_channel_type
        }),
        layout!(zx_info_job_t {
            return_code,
            exited,
            kill_on_oom,
            debugger_attached,
            padding1
        }),
        layout!(zx_info_socket_t {
            options,
            padding1,
            rx_buf_max,
            rx_buf_size,
            rx_buf_available,
            tx_buf_max,
            tx_buf_size,
        }),
        layout!(zx_info_timer_t {
            options,
            padding1,
            deadline,
            slack
        }),
        layout!(zx_port_packet_t { key, type_ => type, status, payload => user }),
        layout!(zx_packet_signal_t {
            trigger,
            observed,
            count,
            timestamp,
            reserved1
        }),
        layout!(zx_packet_interrupt_t {
            timestamp,
            reserved0,
            reserved1,
            reserved2
        }),
        layout!(zx_wait_item_t {
            handle,
            waitfor,
            pending
        }),
        layout!(zx_channel_call_args_t {
            wr_bytes,
            wr_handles,
            rd_bytes,
            rd_handles,
            wr_num_bytes,
            wr_num_handles,
            rd_num_bytes,
            rd_num_handles,
        }),
        layout!(zx_info_vmar_t { base, len }),
        layout!(zx_info_vmo_t {
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
        }),
        layout!(zx_info_kmem_stats_t {
            total_bytes,
            free_bytes,
            wired_bytes,
            total_heap_bytes,
            free_heap_bytes,
            vmo_bytes,
            mmu_overhead_bytes,
            ipc_bytes,
            other_bytes,
        }),
    ]
}

/// (C name, size, signed) of every typedef shared with C.
macro_rules! type_facts {
    ($($t:ident),*) => {
        vec![$((stringify!($t), size_of::<$t>(), <$t>::MIN != 0)),*]
    };
}

fn type_facts() -> Vec<(&'static str, usize, bool)> {
    type_facts!(
        zx_status_t,
        zx_handle_t,
        zx_rights_t,
        zx_signals_t,
        zx_koid_t,
        zx_vaddr_t,
        zx_paddr_t,
        zx_off_t,
        zx_time_t,
        zx_duration_t,
        zx_obj_type_t,
        zx_vm_option_t,
        zx_object_info_topic_t,
        zx_futex_t,
        zx_clock_t,
        zx_txid_t
    )
}

/// An integer literal of exactly `value` that C and C++ both accept without warnings.
fn c_literal(value: i128) -> String {
    if value == i64::MIN as i128 {
        "(-9223372036854775807LL - 1)".to_string()
    } else if value < 0 {
        format!("({value}LL)")
    } else if value <= i64::MAX as i128 {
        format!("{value}LL")
    } else {
        format!("{value}ULL")
    }
}

/// The C type a constant's macro must have.
fn c_type_of(c: &AbiConstant) -> &'static str {
    if c.name.starts_with("ZX_SYS_") {
        // Plain literals, usable from assembly.
        return "int";
    }
    match c.rust_type {
        "u32" => "uint32_t",
        "u64" => "uint64_t",
        "i32" => "int32_t",
        "i64" => "int64_t",
        "usize" => "size_t",
        typedef => typedef,
    }
}

/// The C source asserting everything this crate says about the ABI. `patch` may alter the
/// value of one constant (for the self-test).
fn generate_checks(patch: Option<(&str, i128)>) -> String {
    let mut s = String::new();
    s.push_str(
        "/* Generated by abi/tests/c_headers.rs. */\n\
         #include <zircon/syscalls.h>\n\
         #ifdef __cplusplus\n\
         #define CHECK(cond, msg) static_assert(cond, msg)\n\
         #define ALIGNOF(t) alignof(t)\n\
         template <typename A, typename B> struct same_type { enum { value = 0 }; };\n\
         template <typename A> struct same_type<A, A> { enum { value = 1 }; };\n\
         #define HAS_TYPE(e, t) (same_type<decltype(e), t>::value)\n\
         #else\n\
         #define CHECK(cond, msg) _Static_assert(cond, msg)\n\
         #define ALIGNOF(t) _Alignof(t)\n\
         #define HAS_TYPE(e, t) _Generic((e), t: 1, default: 0)\n\
         #endif\n\n",
    );

    s.push_str("/* Types */\n");
    for (name, size, signed) in type_facts() {
        writeln!(s, "CHECK(sizeof({name}) == {size}, \"sizeof({name})\");").unwrap();
        // `(T)-1 > 0` holds exactly for unsigned types (phrased so -Wtype-limits is quiet).
        writeln!(
            s,
            "CHECK((({name})-1 > ({name})0) == {}, \"signedness of {name}\");",
            i32::from(!signed)
        )
        .unwrap();
    }

    s.push_str("\n/* Constants: value and type */\n");
    for c in ALL_CONSTANTS {
        let value = match patch {
            Some((name, v)) if name == c.name => v,
            _ => c.value,
        };
        writeln!(
            s,
            "CHECK({} == {}, \"{} value\");",
            c.name,
            c_literal(value),
            c.name
        )
        .unwrap();
        writeln!(
            s,
            "CHECK(HAS_TYPE({}, {}), \"{} type\");",
            c.name,
            c_type_of(c),
            c.name
        )
        .unwrap();
    }

    s.push_str("\n/* Structs */\n");
    for st in struct_layouts() {
        let t = st.name;
        writeln!(s, "CHECK(sizeof({t}) == {}, \"sizeof({t})\");", st.size).unwrap();
        writeln!(s, "CHECK(ALIGNOF({t}) == {}, \"alignof({t})\");", st.align).unwrap();
        for f in &st.fields {
            let (n, o, z) = (f.c_name, f.offset, f.size);
            writeln!(
                s,
                "CHECK(offsetof({t}, {n}) == {o}, \"offsetof({t}, {n})\");"
            )
            .unwrap();
            writeln!(
                s,
                "CHECK(sizeof((({t}*)0)->{n}) == {z}, \"sizeof({t}.{n})\");"
            )
            .unwrap();
        }
    }

    s.push_str("\n/* Macros and expressions */\n");
    s.push_str(
        "CHECK(ZX_NSEC(7) == 7LL, \"ZX_NSEC\");\n\
         CHECK(ZX_USEC(7) == 7000LL, \"ZX_USEC\");\n\
         CHECK(ZX_MSEC(7) == 7000000LL, \"ZX_MSEC\");\n\
         CHECK(ZX_SEC(7) == 7000000000LL, \"ZX_SEC\");\n\
         CHECK(ZX_SEC(-2) == -2000000000LL, \"ZX_SEC negative\");\n\
         CHECK(HAS_TYPE(ZX_SEC(1), zx_duration_t), \"ZX_SEC type\");\n\
         CHECK(HAS_TYPE(ZX_NSEC(1), zx_duration_t), \"ZX_NSEC type\");\n\
         CHECK(sizeof(((zx_info_vmo_t*)0)->name) == ZX_MAX_NAME_LEN, \"vmo name length\");\n",
    );
    s
}

fn write_tmp(name: &str, contents: &str) -> PathBuf {
    let path = tmp_dir().join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn constants_types_and_layouts_match_c() {
    let path = write_tmp("abi_checks.c", &generate_checks(None));
    compile_everywhere(&path, &include_dir(), false);
}

/// The check is not vacuous: a single wrong value makes the compile fail.
#[test]
fn a_wrong_value_is_caught() {
    let cc = Compiler {
        program: "cc",
        lang: Lang::C,
    };
    for (name, wrong) in [
        ("ZX_ERR_NO_MEMORY", -5),
        ("ZX_VM_ALIGN_4GB", 31 << 24),
        ("ZX_SYS_nanosleep", 0),
    ] {
        let path = write_tmp("abi_checks_wrong.c", &generate_checks(Some((name, wrong))));
        let err = compile(&cc, &path, &include_dir(), false).expect_err("mismatch not detected");
        assert!(err.contains(&format!("{name} value")), "{err}");
    }
}

#[test]
fn prototypes_match_documentation() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/prototypes.c");
    // `-c` rather than `-fsyntax-only`: the noreturn checks need the compiler's flow analysis.
    compile_everywhere(&source, &include_dir(), true);
}

/// The prototype check is not vacuous either: a header with one wrong parameter type fails.
#[test]
fn a_wrong_prototype_is_caught() {
    let include = tmp_dir().join("mutated-include");
    let dst = include.join("zircon");
    std::fs::create_dir_all(dst.join("syscalls")).unwrap();
    for rel in header_paths() {
        std::fs::copy(zircon_dir().join(&rel), dst.join(&rel)).unwrap();
    }
    let original = std::fs::read_to_string(zircon_dir().join("syscalls.h")).unwrap();
    let from = "zx_status_t zx_vmo_create(uint64_t size,";
    assert!(original.contains(from));
    let mutated = original.replace(from, "zx_status_t zx_vmo_create(uint32_t size,");
    std::fs::write(dst.join("syscalls.h"), mutated).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/prototypes.c");
    for c in compilers() {
        assert!(
            compile(&c, &source, &include, true).is_err(),
            "{} accepted it",
            c.program
        );
    }
}

/// Every header compiles on its own, first in a translation unit.
#[test]
fn headers_are_self_contained() {
    let mut failures = Vec::new();
    for rel in header_paths() {
        let name = format!("abi_alone_{}.c", rel.replace(['/', '.', '-'], "_"));
        let path = write_tmp(
            &name,
            &format!("#include <zircon/{rel}>\ntypedef int not_empty;\n"),
        );
        for c in compilers() {
            if let Err(e) = compile(&c, &path, &include_dir(), false) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Text checks on the headers

/// Header paths relative to `zircon/`, e.g. `syscalls/object.h`.
fn header_paths() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "h") {
                out.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(&zircon_dir(), &zircon_dir(), &mut out);
    out.sort();
    out
}

/// Each `#define NAME` in the headers, with whether it is function-like.
fn header_macros() -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for rel in header_paths() {
        let text = std::fs::read_to_string(zircon_dir().join(&rel)).unwrap();
        for line in text.lines() {
            let Some(rest) = line.trim_start().strip_prefix('#') else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix("define") else {
                continue;
            };
            let rest = rest.trim_start();
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = rest[..end].to_string();
            let function_like = rest[end..].starts_with('(');
            out.push((rel.clone(), name, function_like));
        }
    }
    out
}

const FUNCTION_MACROS: &[&str] = &["ZX_NSEC", "ZX_USEC", "ZX_MSEC", "ZX_SEC"];

#[test]
fn header_defines_match_the_table() {
    let table: BTreeSet<&str> = ALL_CONSTANTS.iter().map(|c| c.name).collect();
    assert_eq!(
        table.len(),
        ALL_CONSTANTS.len(),
        "duplicate names in ALL_CONSTANTS"
    );

    let mut in_headers: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for (file, name, function_like) in header_macros() {
        if name.starts_with("ZX_") {
            if function_like {
                if !FUNCTION_MACROS.contains(&name.as_str()) {
                    problems.push(format!("{file}: unexpected function-like macro {name}"));
                }
            } else if let Some(prev) = in_headers.insert(name.clone(), file.clone()) {
                problems.push(format!("{name} defined in {prev} and again in {file}"));
            }
        } else if name.starts_with("__ZX_") {
            // Header-internal helpers (attributes).
        } else if name.starts_with("ZIRCON_") && name.ends_with("_H_") {
            // Include guards.
        } else {
            problems.push(format!("{file}: {name} is neither ZX_* nor a guard"));
        }
    }
    for name in in_headers.keys() {
        if !table.contains(name.as_str()) {
            problems.push(format!(
                "{name} is in the headers but not in abi::ALL_CONSTANTS"
            ));
        }
    }
    for name in &table {
        if !in_headers.contains_key(*name) {
            problems.push(format!(
                "{name} is in abi::ALL_CONSTANTS but no header defines it"
            ));
        }
    }
    for f in FUNCTION_MACROS {
        if !header_macros().iter().any(|(_, n, fl)| n == f && *fl) {
            problems.push(format!("{f}() is not defined"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn table_covers_every_syscall() {
    for s in Syscall::ALL {
        let name = format!("ZX_SYS_{}", s.name().strip_prefix("zx_").unwrap());
        let entry = ALL_CONSTANTS
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} missing from ALL_CONSTANTS"));
        assert_eq!(entry.value, s.number() as i128, "{name}");
    }
    let sys = ALL_CONSTANTS
        .iter()
        .filter(|c| c.name.starts_with("ZX_SYS_"))
        .count();
    assert_eq!(
        sys,
        Syscall::COUNT + 1,
        "ZX_SYS_* entries besides ZX_SYS_COUNT"
    );
    assert_eq!(ZX_SYS_COUNT as usize, Syscall::COUNT);
}

/// Removes `/* */` and `//` comments.
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.is_none_or(|l| b < l) => {
                out.push_str(&rest[..b]);
                let end = rest[b..].find("*/").expect("unterminated comment") + b + 2;
                rest = &rest[end..];
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = &rest[l..];
                rest = &rest[rest.find('\n').unwrap_or(rest.len())..];
            }
            (None, None) => {
                out.push_str(rest);
                return out;
            }
            (Some(_), None) => unreachable!(),
        }
    }
}

/// The functions `syscalls.h` declares: name -> parameter count.
fn declared_functions() -> BTreeMap<String, usize> {
    let text = strip_comments(&std::fs::read_to_string(zircon_dir().join("syscalls.h")).unwrap());
    let mut body = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with('#') {
            // Skip preprocessor lines, including continuations.
            let mut l = line;
            while l.trim_end().ends_with('\\') {
                l = lines.next().unwrap_or("");
            }
            continue;
        }
        if t == "extern \"C\" {" || t == "}" {
            continue;
        }
        body.push_str(line);
        body.push('\n');
    }
    // Drop the bodies of inline functions, keeping their heads as declarations.
    let mut decls = String::new();
    let mut depth = 0usize;
    for ch in body.chars() {
        match ch {
            '{' => {
                if depth == 0 {
                    decls.push(';');
                }
                depth += 1;
            }
            '}' => depth -= 1,
            _ if depth == 0 => decls.push(ch),
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for decl in decls.split(';') {
        let decl = decl.split_whitespace().collect::<Vec<_>>().join(" ");
        if decl.is_empty() {
            continue;
        }
        let open = decl
            .find('(')
            .unwrap_or_else(|| panic!("not a prototype: {decl}"));
        let close = decl.rfind(')').unwrap();
        let head = &decl[..open];
        let name = head.rsplit([' ', '*']).next().unwrap().to_string();
        let params = decl[open + 1..close].trim();
        let count = if params == "void" {
            0
        } else {
            params.split(',').count()
        };
        assert!(
            out.insert(name.clone(), count).is_none(),
            "{name} declared twice"
        );
    }
    out
}

#[test]
fn prototypes_match_syscall_enum() {
    let mut declared = declared_functions();
    assert_eq!(
        declared.remove("zx_deadline_after"),
        Some(1),
        "zx_deadline_after(duration)"
    );
    for s in Syscall::ALL {
        let count = declared
            .remove(s.name())
            .unwrap_or_else(|| panic!("{} not declared", s.name()));
        assert_eq!(count, s.arg_count(), "parameter count of {}", s.name());
    }
    assert!(
        declared.is_empty(),
        "declared but not in abi::Syscall: {declared:?}"
    );
}

#[test]
fn prototypes_c_covers_every_function() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/prototypes.c"))
            .unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for name in declared_functions().keys() {
        assert!(
            text.contains(&format!("= {name};")),
            "prototypes.c does not check {name}"
        );
    }
}
