//! The docs name source files and functions so a reader can follow along;
//! this test keeps every such reference alive. In docs/lifecycle.md and
//! docs/architecture.md, a backticked `path.rs` must be a file under
//! crates/runtime/src (or the workspace), and the backticked names right
//! after it (`path.rs`, `name`, `Type::name` or `path.rs` (`name`)) must be
//! functions, structs or enums defined in that file.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every .rs file of the workspace, relative to the workspace root.
fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.ends_with("target") && !p.ends_with(".git") {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&workspace().join("crates"), &mut out);
    out
}

/// Resolve a doc's path (`crates/runtime/src/x.rs`, `init/mod.rs`, `spawn.rs`).
fn resolve(reference: &str, all: &[PathBuf]) -> Option<PathBuf> {
    all.iter().find(|p| p.ends_with(reference)).cloned()
}

/// Backticked tokens with the text between them.
fn tokens(text: &str) -> Vec<(String, String)> {
    // (token, text before it since the previous token)
    let mut out = Vec::new();
    let mut rest = text;
    let mut gap = String::new();
    while let Some(start) = rest.find('`') {
        gap.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        out.push((after[..end].to_string(), std::mem::take(&mut gap)));
        rest = &after[end + 1..];
    }
    out
}

fn is_ident(t: &str) -> bool {
    !t.is_empty()
        && t.split("::").all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[test]
fn every_named_file_and_function_exists() {
    let all = sources();
    let mut checked = 0;
    for doc in ["docs/lifecycle.md", "docs/architecture.md"] {
        let text = std::fs::read_to_string(workspace().join(doc)).unwrap();
        let mut current: Option<PathBuf> = None;
        for (token, gap) in tokens(&text) {
            if token.ends_with(".rs") {
                let file = resolve(&token, &all);
                assert!(file.is_some(), "{doc}: `{token}` names no source file");
                current = file;
                continue;
            }
            // A name belongs to the file just before it when only commas,
            // colons, an opening parenthesis or spaces stand between them.
            let joined = gap.chars().all(|c| matches!(c, ',' | ':' | ';' | '(' | ' '));
            let Some(file) = current.as_ref().filter(|_| joined) else {
                current = None;
                continue;
            };
            if !is_ident(&token) {
                current = None;
                continue;
            }
            let name = token.rsplit("::").next().unwrap();
            let source = std::fs::read_to_string(file).unwrap();
            let defined = ["fn ", "struct ", "enum ", "const ", "trait "].iter().any(|kw| {
                source.contains(&format!("{kw}{name}("))
                    || source.contains(&format!("{kw}{name} "))
                    || source.contains(&format!("{kw}{name}<"))
            });
            assert!(defined, "{doc}: `{token}` is not defined in {}", file.display());
            checked += 1;
        }
    }
    assert!(
        checked > 10,
        "only {checked} references checked: the parser lost its way"
    );
}
