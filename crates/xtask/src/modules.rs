//! Module cycles: which files of a crate use each other in a ring. A cycle means two modules
//! cannot be understood (or moved) apart; `make lint` keeps `crates/` and `e2e/` free of them.
//!
//! A module depends on another when its non-test code (comment lines aside) names it: a `use` of `crate::`, `super::`
//! or `self::` paths, such a path inline, or a child module's name followed by `::`. A parent
//! declaring `mod child;` does not depend on it by that alone. The reading is textual, which is
//! enough for this codebase's style (no glob re-exports across modules, no macros naming paths).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// A module path inside its crate (`[]` is the crate root).
pub type Module = Vec<String>;

/// The module a source file under `src` holds; `None` for binaries under `src/bin`.
pub fn module_of(relative: &Path) -> Option<Module> {
    let mut parts: Module = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    Some(parts)
}

/// The code of a file without its tests (everything from the first `#[cfg(test)]`) and
/// without comment lines: a doc link (`[`super::x`]`) names a module but does not use it.
fn without_tests(text: &str) -> String {
    let code = text.find("#[cfg(test)]").map_or(text, |i| &text[..i]);
    code.split_inclusive('\n')
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect()
}

/// Every path a `use` tree names, expanded: `a::{b, c::{d}}` → `a::b`, `a::c::d`.
fn expand(tree: &str) -> Vec<String> {
    // Renames (`x as y`) name `x`; then whitespace means nothing.
    let words: Vec<&str> = tree.split_whitespace().collect();
    let mut kept = String::new();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "as" {
            // Skip the new name, keeping what follows it (`,` or `}`).
            let next = words.get(i + 1).copied().unwrap_or_default();
            kept.push_str(next.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'));
            i += 2;
        } else {
            kept.push_str(words[i]);
            i += 1;
        }
    }
    expand_compact(&kept)
}

/// [`expand`] over a tree without whitespace or renames.
fn expand_compact(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(expand_compact)
        .map(|rest| match rest.as_str() {
            "self" => prefix.to_owned(),
            _ => format!("{prefix}::{rest}"),
        })
        .collect()
}

/// The `crate::`/`super::`/`self::` paths `code` names.
fn paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let s = line.trim_start();
        let s = s.strip_prefix("pub(crate) ").unwrap_or(s);
        let s = s.strip_prefix("pub ").unwrap_or(s);
        let Some(tree) = s.strip_prefix("use ") else {
            continue;
        };
        if !["crate", "super", "self"]
            .iter()
            .any(|root| tree.starts_with(root))
        {
            continue;
        }
        let from = start + (line.len() - tree.len());
        let end = code[from..].find(';').map_or(code.len(), |e| from + e);
        found.extend(expand(&code[from..end]));
    }
    let bytes = code.as_bytes();
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(root).map(|i| i + from) {
            from = i + root.len();
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            let end = code[i..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| i + e);
            // A `use` tree (`super::{…}`) was read whole above.
            if code[end..].starts_with('{') {
                continue;
            }
            found.push(code[i..end].trim_end_matches(':').to_owned());
        }
    }
    found
}

/// The module `path` (seen from `from`) lands in: its longest prefix that is a module.
fn resolve(from: &Module, path: &str, modules: &BTreeSet<Module>) -> Option<Module> {
    let mut parts = path.split("::").filter(|p| !p.is_empty()).peekable();
    let mut base: Module = match parts.peek() {
        Some(&"crate") => {
            parts.next();
            Vec::new()
        }
        _ => from.clone(),
    };
    while let Some(&p) = parts.peek() {
        match p {
            "super" => {
                base.pop();
            }
            "self" => {}
            _ => break,
        }
        parts.next();
    }
    base.extend(parts.map(str::to_owned));
    (0..=base.len())
        .rev()
        .map(|n| base[..n].to_vec())
        .find(|m| modules.contains(m))
}

/// Each module's dependencies among `files` (module → its source).
pub fn dependencies(files: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules: BTreeSet<Module> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(module, text)| {
            let code = without_tests(text);
            let code = code.as_str();
            let mut deps: BTreeSet<Module> = paths(code)
                .iter()
                .filter_map(|p| resolve(module, p, &modules))
                .collect();
            for child in modules
                .iter()
                .filter(|c| c.len() == module.len() + 1 && c.starts_with(module))
            {
                let name = format!("{}::", child[child.len() - 1]);
                let named = code.match_indices(&name).any(|(i, _)| {
                    i == 0
                        || !code[..i]
                            .ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if named {
                    deps.insert(child.clone());
                }
            }
            deps.remove(module);
            (module.clone(), deps)
        })
        .collect()
}

/// The cycles (strongly connected groups of more than one module), each sorted.
pub fn cycles(deps: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    // Kosaraju: finish order on the graph, then groups on the reversed graph.
    fn visit<'a>(
        m: &'a Module,
        deps: &'a BTreeMap<Module, BTreeSet<Module>>,
        seen: &mut BTreeSet<&'a Module>,
        order: &mut Vec<&'a Module>,
    ) {
        if !seen.insert(m) {
            return;
        }
        for d in deps.get(m).into_iter().flatten() {
            visit(d, deps, seen, order);
        }
        order.push(m);
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for m in deps.keys() {
        visit(m, deps, &mut seen, &mut order);
    }
    let mut reversed: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, ds) in deps {
        for d in ds {
            reversed.entry(d.clone()).or_default().insert(m.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut groups = Vec::new();
    for m in order.into_iter().rev() {
        let mut group = Vec::new();
        visit(m, &reversed, &mut assigned, &mut group);
        if group.len() > 1 {
            let mut group: Vec<Module> = group.into_iter().cloned().collect();
            group.sort();
            groups.push(group);
        }
    }
    groups
}

/// The cycles of the crate whose sources are under `src`, each as the uses inside it
/// (`a -> b`).
pub fn crate_cycles(src: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    let mut files = BTreeMap::new();
    for path in rust_files(src)? {
        let relative = path.strip_prefix(src)?;
        if let Some(module) = module_of(relative) {
            files.insert(module, std::fs::read_to_string(&path)?);
        }
    }
    let deps = dependencies(&files);
    Ok(cycles(&deps)
        .into_iter()
        .map(|ring| {
            ring.iter()
                .flat_map(|m| {
                    deps[m]
                        .iter()
                        .filter(|d| ring.contains(d))
                        .map(move |d| format!("{} -> {}", display(m), display(d)))
                })
                .collect()
        })
        .collect())
}

fn rust_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    Ok(found)
}

/// A module path as written in Rust (`crate` for the root).
pub fn display(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(path: &str) -> Module {
        path.split("::")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn graph(files: &[(&str, &str)]) -> BTreeMap<Module, BTreeSet<Module>> {
        dependencies(&files.iter().map(|(p, t)| (m(p), (*t).to_owned())).collect())
    }

    #[test]
    fn use_trees_expand() {
        assert_eq!(
            expand("super::{a, b::{c, self}, d as e, status, f as _}"),
            [
                "super::a",
                "super::b::c",
                "super::b",
                "super::d",
                "super::status",
                "super::f"
            ]
        );
        assert_eq!(expand("crate::x::Y"), ["crate::x::Y"]);
    }

    #[test]
    fn files_are_modules() {
        assert_eq!(module_of(Path::new("lib.rs")), Some(m("")));
        assert_eq!(module_of(Path::new("a/mod.rs")), Some(m("a")));
        assert_eq!(module_of(Path::new("a/b.rs")), Some(m("a::b")));
        assert_eq!(module_of(Path::new("bin/x.rs")), None);
    }

    #[test]
    fn a_ring_through_super_and_crate_paths_is_a_cycle() {
        let deps = graph(&[
            ("", "pub mod a;\npub mod b;"),
            (
                "a",
                "pub mod writes;\npub fn run() { writes::go() }\npub struct Ctx;",
            ),
            (
                "a::writes",
                "//! Writes.\n\nuse super::{\n    Ctx,\n};\npub fn go() {}",
            ),
            ("b", "use crate::a::Ctx;"),
        ]);
        assert_eq!(deps[&m("b")], BTreeSet::from([m("a")]));
        assert_eq!(cycles(&deps), [vec![m("a"), m("a::writes")]]);
    }

    #[test]
    fn declaring_children_and_tests_do_not_count() {
        let deps = graph(&[
            ("", "pub mod a;\npub mod b;\npub fn shared() {}"),
            (
                "a",
                "use crate::shared;\n#[cfg(test)]\nmod tests { use crate::b::x; }",
            ),
            ("b", "pub fn x() { crate::a::y() }"),
        ]);
        assert!(cycles(&deps).is_empty(), "{deps:?}");
        assert!(!deps[&m("a")].contains(&m("b")));
    }

    #[test]
    fn doc_links_do_not_count() {
        let deps = graph(&[
            ("", "pub mod a;\npub mod b;"),
            (
                "a",
                "//! Fed by [`crate::b`].\n/// See [`super::b::run`].\npub fn y() {}",
            ),
            ("b", "pub fn run() { crate::a::y() }"),
        ]);
        assert!(cycles(&deps).is_empty(), "{deps:?}");
        assert!(deps[&m("a")].is_empty(), "{deps:?}");
    }
}
