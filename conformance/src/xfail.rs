//! Tests known to fail on a given runtime, with the reason.
//!
//! Applied only when the runtime under test is that runtime (by the
//! basename of `--runtime`, or `--xfail NAME`). An expected failure that
//! passes is reported as a failure ("unexpected pass"), so that this list
//! is pruned as soon as the feature lands.
//!
//! For runc the entries are runc deviations from the spec, each with the
//! sentence runc does not follow; they are not test bugs.

pub struct Expected {
    pub runtime: &'static str,
    pub test: &'static str,
    pub reason: &'static str,
}

const fn x(runtime: &'static str, test: &'static str, reason: &'static str) -> Expected {
    Expected { runtime, test, reason }
}

// No known gaps of mini-containerd today; entries name it with MC.
#[allow(dead_code)]
const MC: &str = "mini-containerd";
const RUNC: &str = "runc";

pub const EXPECTED: &[Expected] = &[
    // runc 1.1.5 deviations from the spec (not suite bugs):
    x(
        RUNC,
        "op.delete.created",
        "runc deletes a created container without --force (runtime.md#delete: Attempting to delete a container \
         that is not stopped MUST have no effect on the container and MUST generate an error)",
    ),
    x(
        RUNC,
        "process.rlimits-duplicate",
        "runc 1.1.5 accepts duplicated rlimits (config.md: If rlimits contains duplicated entries with same type, \
         the runtime MUST generate an error)",
    ),
    x(
        RUNC,
        "hostname.domainname",
        "runc 1.1.5 does not set domainname (config.md#domainname)",
    ),
    x(
        RUNC,
        "hooks.poststart-after-startContainer",
        "runc 1.1.5 runs poststart hooks as soon as start releases the init, before the init's startContainer \
         hooks and exec (config.md#poststart: MUST be called after the user-specified process is executed)",
    ),
];

/// The expected-failure reason of `test` on `runtime`, if any.
pub fn lookup(runtime: &str, test: &str) -> Option<&'static str> {
    EXPECTED
        .iter()
        .find(|e| e.runtime == runtime && e.test == test)
        .map(|e| e.reason)
}
