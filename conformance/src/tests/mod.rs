//! The tests, one module per section of the spec.

use crate::harness::{Ctx, TResult};

mod config_linux;
mod hooks;
mod lifecycle;
mod mounts;
mod negative;
mod operations;
mod process;
mod root;
mod state;

pub struct Test {
    /// Unique, dotted: `<section>.<field>`.
    pub name: &'static str,
    /// The spec file and anchor, e.g. `runtime.md#start`.
    pub section: &'static str,
    /// The sentence checked.
    pub spec: &'static str,
    pub run: fn(&mut Ctx) -> TResult,
}

pub const fn t(name: &'static str, section: &'static str, spec: &'static str, run: fn(&mut Ctx) -> TResult) -> Test {
    Test {
        name,
        section,
        spec,
        run,
    }
}

pub fn all() -> Vec<Test> {
    let mut v = Vec::new();
    v.extend(state::tests());
    v.extend(lifecycle::tests());
    v.extend(operations::tests());
    v.extend(root::tests());
    v.extend(mounts::tests());
    v.extend(process::tests());
    v.extend(hooks::tests());
    v.extend(config_linux::tests());
    v.extend(negative::tests());
    v
}
