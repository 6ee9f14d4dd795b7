//! What the load-and-validate path promises for any config.json text,
//! asserted in one place for its three drivers: the fuzz target
//! (crates/runtime/fuzz), the mutation test and the corpus replay
//! (tests/hostile_config.rs).
//!
//! No panic; every rejection is one line that says where — a syntax or type
//! error by line and column, a rule's error by the field's name.

use std::path::Path;

use runtime::bundle::{parse_config, problems, validate, BundleError};

/// Run `text` through `parse_config`, then the rules, as `create` and
/// `check` do; panic if an error breaks the contract.
pub fn check_config(text: &str) {
    match parse_config(Path::new("config.json"), text) {
        Ok(spec) => {
            let all = problems(&spec);
            for (field, why) in &all {
                assert!(!field.is_empty(), "a rule's error names no field: {why:?}");
                assert!(!why.is_empty(), "{field}: a rule's error says nothing");
                assert!(!why.starts_with(field), "the field twice: {field}: {why}");
                assert_one_line(&format!("config.json: {field}: {why}"));
            }
            // `create` stops at the first problem, `check` lists them all.
            assert_eq!(validate(&spec).err().as_ref(), all.first());
        }
        Err(BundleError::Json { line, column, msg, .. }) => {
            assert!(line >= 1, "a JSON error without a line: {msg:?}");
            assert!(!msg.is_empty(), "a JSON error says nothing at {line}:{column}");
            assert_one_line(&format!("config.json:{line}:{column}: {msg}"));
        }
        Err(other) => panic!("parse_config failed with something other than a JSON error: {other}"),
    }
}

/// The runtime prints a rejection as one line on stderr and in the log: a
/// control character would break that line, or reach the terminal.
fn assert_one_line(msg: &str) {
    assert!(
        !msg.chars().any(char::is_control),
        "a control character in an error: {msg:?}"
    );
}
