//! The layout tells the architecture: the top-level modules import downwards only, in
//! the order `lib.rs`'s map gives (a module may use those listed after it, never one
//! listed before). Read from the sources, tests left out.

use std::collections::BTreeMap;
use std::path::Path;

/// The modules as `lib.rs` declares them (`pub mod x;`), in its order.
fn declared(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// The map's order: each module's first mention as ``[`name`]`` in `lib.rs`'s docs.
fn map_order(lib: &str, modules: &[String]) -> Vec<String> {
    let mut order: Vec<(usize, String)> = modules
        .iter()
        .filter_map(|m| {
            lib.find(&format!("//! - [`{m}`]"))
                .map(|at| (at, m.clone()))
        })
        .collect();
    order.sort();
    order.into_iter().map(|(_, m)| m).collect()
}

/// A source file without its comments and its test module.
fn code(text: &str) -> String {
    let text = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text);
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with("tests.rs")
        || ["testing.rs", "testkit.rs", "test_nodes.rs"].contains(&name)
        || path.components().any(|c| c.as_os_str() == "tests")
}

/// Every top-level module each module's files name (`crate::x`), with a file that does.
fn imports(src: &Path, modules: &[String]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut found: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || is_test_file(&path) {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let owner = first.to_str().unwrap().trim_end_matches(".rs").to_owned();
            if !modules.contains(&owner) {
                continue;
            }
            let text = code(&std::fs::read_to_string(&path).unwrap());
            for (at, _) in text.match_indices("crate::") {
                let name: String = text[at + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name != owner && modules.contains(&name) {
                    found
                        .entry(owner.clone())
                        .or_default()
                        .entry(name)
                        .or_insert_with(|| relative.display().to_string());
                }
            }
        }
    }
    found
}

#[test]
fn modules_import_only_those_below_them_in_the_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let modules = declared(&lib);
    let order = map_order(&lib, &modules);
    let mut unmapped: Vec<&String> = modules.iter().filter(|m| !order.contains(m)).collect();
    unmapped.sort();
    assert!(unmapped.is_empty(), "lib.rs's map leaves out {unmapped:?}");
    let rank = |m: &str| order.iter().position(|o| o == m).unwrap();
    let mut upwards = Vec::new();
    for (module, used) in imports(&root.join("src"), &modules) {
        for (target, file) in used {
            if rank(&target) < rank(&module) {
                upwards.push(format!(
                    "{file} uses crate::{target}, listed above {module}"
                ));
            }
        }
    }
    assert!(
        upwards.is_empty(),
        "imports against the map:\n{}",
        upwards.join("\n")
    );
}
