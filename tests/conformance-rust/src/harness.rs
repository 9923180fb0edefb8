//! The test runner: a table of named cases, one output line each.

use crate::util::R;

/// A case: its name (the rule it checks) and the function checking it.
pub type Case = (&'static str, fn() -> R);

/// Runs the cases (those whose name starts with one of `filters`, or all), prints one line
/// per case and the summary, and returns the number of failures.
pub fn run(suite: &str, groups: &[&[Case]], filters: &[&str]) -> i32 {
    let mut passed = 0u32;
    let mut failed = 0u32;
    for group in groups {
        for (name, case) in group.iter() {
            if !filters.is_empty() && !filters.iter().any(|f| name.starts_with(f)) {
                continue;
            }
            match case() {
                Ok(()) => {
                    passed += 1;
                    zx::println!("test {} ... ok", name);
                }
                Err(why) => {
                    failed += 1;
                    zx::println!("test {} ... FAILED: {}", name, one_line(&why));
                }
            }
        }
    }
    zx::println!("{}: {} passed, {} failed", suite, passed, failed);
    failed as i32
}

/// The message on one line.
fn one_line(s: &str) -> alloc::string::String {
    s.chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect()
}
