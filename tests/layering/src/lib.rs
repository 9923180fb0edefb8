//! Checks that the top-level modules of each kernel crate (`src/`, `object/`, `arch/`,
//! `mm/`, `abi/`) form layers: no module reaches, through `crate::` paths, a module that
//! reaches it back. A cycle would mean neither can be understood, tested or changed without
//! the other (issue 13 broke the last ones: the kcheck lists, the user-fault path, the crash
//! hooks, the task edges).
//!
//! A module is a file `name.rs` or a directory `name/`; the files of a directory are one
//! module here (siblings inside one module may use each other). References are read from
//! the source text: `crate::name` anywhere outside comments and `#[cfg(test)]` modules, and
//! the names inside `use crate::{...}`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The module graph of the crate whose sources are in `src`: module -> modules it names.
pub fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in fs::read_dir(src).expect("read the crate's src") {
        let path = entry.expect("directory entry").path();
        let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            let mut all = Vec::new();
            collect_rs(&path, &mut all);
            files.insert(name.to_string(), all);
        } else if path.extension().is_some_and(|e| e == "rs") && name != "main" && name != "lib" {
            files.entry(name.to_string()).or_default().push(path);
        }
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, paths) in &files {
        let mut uses = BTreeSet::new();
        for path in paths {
            let text = fs::read_to_string(path).expect("read a source file");
            for name in referenced_modules(&text) {
                if names.contains(&name) && &name != module {
                    uses.insert(name);
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read a module directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first path segment after every `crate::` in `text` (and each name of a
/// `use crate::{a, b::c}` group), ignoring comments and everything from the first
/// `#[cfg(test)]` module on.
pub fn referenced_modules(text: &str) -> BTreeSet<String> {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines.peek().is_some_and(|next| {
                next.trim_start()
                    .trim_start_matches("pub ")
                    .starts_with("mod ")
            })
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        // `crate::` must start a path, not end an identifier (`mycrate::`).
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                found.extend(first_segment(item.trim()));
            }
        } else {
            found.extend(first_segment(rest));
        }
    }
    found
}

fn first_segment(path: &str) -> Option<String> {
    let name: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The strongly connected components of more than one module (each a cycle), sorted.
pub fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two modules are in one cycle when each reaches the other.
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(module) = stack.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for module in graph.keys() {
        if done.contains(module) || !reaches[module].contains(module) {
            continue;
        }
        let cycle: Vec<String> = reaches[module]
            .iter()
            .filter(|other| reaches[*other].contains(module))
            .cloned()
            .collect();
        done.extend(cycle.iter().cloned());
        found.push(cycle);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn no_cycles_in(crate_src: &str) {
        let graph = module_graph(&root().join(crate_src));
        assert!(graph.len() > 2, "{crate_src}: modules not found");
        let found = cycles(&graph);
        assert!(
            found.is_empty(),
            "{crate_src}: modules import each other in a cycle: {found:?}\n(graph: {graph:?})"
        );
    }

    #[test]
    fn the_kernel_binary_s_modules_form_layers() {
        no_cycles_in("src");
    }

    #[test]
    fn the_object_crate_s_modules_form_layers() {
        no_cycles_in("object/src");
    }

    #[test]
    fn the_arch_crate_s_modules_form_layers() {
        no_cycles_in("arch/src");
    }

    #[test]
    fn the_mm_crate_s_modules_form_layers() {
        no_cycles_in("mm/src");
    }

    #[test]
    fn references_are_read_from_paths_and_use_groups_not_comments_or_tests() {
        let text = "use crate::{aspace, task::Thread};\nfn f() { crate::memory::x(); }\n\
                    // crate::console\nlet y = mycrate::boot;\n#[cfg(test)]\nmod tests {\n\
                    use crate::ktest;\n}\n";
        let found: Vec<String> = referenced_modules(text).into_iter().collect();
        assert_eq!(found, ["aspace", "memory", "task"]);
    }

    #[test]
    fn a_cycle_is_found_and_a_chain_is_not() {
        let graph = |edges: &[(&str, &str)]| {
            let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (a, b) in edges {
                g.entry(a.to_string()).or_default().insert(b.to_string());
                g.entry(b.to_string()).or_default();
            }
            g
        };
        assert!(cycles(&graph(&[("a", "b"), ("b", "c")])).is_empty());
        assert_eq!(
            cycles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
            [["a", "b", "c"]]
        );
    }
}
