//! The files of `cluster/src/node/` import downwards only: no module imports one that imports
//! it back, directly or through others. Read from the source: every `super::…`,
//! `crate::node::…` and child-module path (in `use` declarations, grouped or not, and inline)
//! is an edge; inline `mod tests { … }` blocks are left out (their `super` is the file itself).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`node`, `node::core::route`) → source without comments and inline tests.
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/node");
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("node/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let name = std::iter::once("node".to_string())
                .chain(parts)
                .collect::<Vec<_>>()
                .join("::");
            let text = std::fs::read_to_string(&path).expect("a source file");
            out.insert(name, strip(&text));
        }
    }
    out
}

/// Drops line comments and an inline `#[cfg(test)] mod tests { … }` block at the end.
fn strip(text: &str) -> String {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    match code.find("#[cfg(test)]\nmod tests {") {
        Some(at) => code[..at].to_string(),
        None => code,
    }
}

/// The paths a file names: `a::b::c` tokens, with `prefix::{x, y}` groups expanded.
fn paths(code: &str) -> Vec<String> {
    let bytes: Vec<char> = code.chars().collect();
    let is_path = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_path(bytes[i]) || (i > 0 && is_path(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_path(bytes[i]) {
            i += 1;
        }
        let token: String = bytes[start..i].iter().collect();
        if !token.contains("::") {
            continue;
        }
        if let Some(prefix) = token.strip_suffix("::") {
            if bytes.get(i) == Some(&'{') {
                // A group: split its items at the top level, each extends the prefix.
                let mut depth = 0;
                let mut end = i;
                for (k, &c) in bytes.iter().enumerate().skip(i) {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                let group: String = bytes[i + 1..end].iter().collect();
                let mut items = Vec::new();
                let (mut level, mut item) = (0, String::new());
                for c in group.chars() {
                    match c {
                        '{' => level += 1,
                        '}' => level -= 1,
                        ',' if level == 0 => {
                            items.push(std::mem::take(&mut item));
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                items.push(item);
                for item in items {
                    let head: String = item.trim().chars().take_while(|&c| is_path(c)).collect();
                    match head.as_str() {
                        "" => {}
                        "self" => out.push(prefix.to_string()),
                        head => out.push(format!("{prefix}::{}", head.trim_end_matches(':'))),
                    }
                }
            }
            out.push(prefix.to_string());
            continue;
        }
        out.push(token);
    }
    out
}

/// The module of `modules` that `path`, written in `module`, names (the longest prefix).
fn resolve(modules: &BTreeSet<String>, module: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    let mut base: Vec<String> = match parts.first().copied() {
        Some("crate") => {
            parts.remove(0);
            Vec::new()
        }
        Some("super") => {
            let mut base: Vec<String> = module.split("::").map(String::from).collect();
            while parts.first() == Some(&"super") {
                parts.remove(0);
                base.pop();
            }
            base
        }
        Some("self") => {
            parts.remove(0);
            module.split("::").map(String::from).collect()
        }
        Some(first) if modules.contains(&format!("{module}::{first}")) => {
            module.split("::").map(String::from).collect()
        }
        _ => return None,
    };
    let mut best = None;
    for part in parts {
        base.push(part.to_string());
        let candidate = base.join("::");
        if modules.contains(&candidate) {
            best = Some(candidate);
        }
    }
    best
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    sources
        .iter()
        .map(|(module, code)| {
            let deps = paths(code)
                .iter()
                .filter_map(|p| resolve(&modules, module, p))
                .filter(|d| d != module)
                .collect();
            (module.clone(), deps)
        })
        .collect()
}

fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(m) = stack.pop() {
        for d in graph.get(&m).into_iter().flatten() {
            if d == to {
                return true;
            }
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    false
}

#[test]
fn no_module_of_node_imports_one_that_imports_it_back() {
    let graph = graph();
    assert!(
        graph.len() > 10 && graph["node::inbound"].contains("node::state"),
        "the import graph was not read: {graph:?}"
    );
    let circles: Vec<(String, String)> = graph
        .iter()
        .flat_map(|(m, deps)| deps.iter().map(move |d| (m.clone(), d.clone())))
        .filter(|(m, d)| reaches(&graph, d, m))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles in cluster/src/node (a → b where b reaches a): {circles:?}"
    );
}

#[test]
fn the_core_imports_nothing_of_the_shell() {
    for (module, deps) in graph() {
        if module.starts_with("node::core") {
            let shell: Vec<_> = deps
                .iter()
                .filter(|d| !d.starts_with("node::core"))
                .collect();
            assert!(shell.is_empty(), "{module} imports the shell: {shell:?}");
        }
    }
}

#[test]
fn the_reader_sees_grouped_relative_and_inline_paths() {
    let found = paths("use super::{gossip, moves::x};\nuse super::core::tasks::{self as d, Hint};\nfn f() { super::state::now(); }");
    for p in [
        "super::gossip",
        "super::moves::x",
        "super::core::tasks",
        "super::state::now",
    ] {
        assert!(found.iter().any(|f| f == p), "{p} not in {found:?}");
    }
}
