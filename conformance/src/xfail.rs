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
    // Fields runc 1.1.5 predates (added in runtime-spec 1.1/1.2, runc 1.2):
    // it ignores them (unknown fields are not an error), so the process
    // runs without them.
    x(
        RUNC,
        "process.ioPriority",
        "runc 1.1.5 lacks process.ioPriority and ignores it: ioprio_get gives class 0 (config.md#linux-process)",
    ),
    x(
        RUNC,
        "process.scheduler",
        "runc 1.1.5 lacks process.scheduler and ignores it: the policy stays SCHED_OTHER (config.md#linux-process)",
    ),
    x(
        RUNC,
        "linux.personality",
        "runc 1.1.5 lacks linux.personality and ignores it: uname shows x86_64 with LINUX32 \
         (config-linux.md#personality)",
    ),
    x(
        RUNC,
        "linux.timeOffsets",
        "runc 1.1.5 has no time namespace: create fails with namespace {\"time\" \"\"} does not exist \
         (config-linux.md#offset-for-time-namespace)",
    ),
    x(
        RUNC,
        "mounts.idmap",
        "runc 1.1.5 lacks id-mapped mounts (mounts[].uidMappings/gidMappings, option idmap) and makes a plain bind: \
         the file shows as 0:0 (config.md#posix-platform-mounts)",
    ),
    x(
        RUNC,
        "linux.rootfsPropagation",
        "runc 1.1.5 applies rootfsPropagation shared before it bind-mounts the rootfs under a parent it made \
         private, so the container's / is in no peer group (config-linux.md#rootfs-mount-propagation: shared: the \
         rootfs mount belongs to a new peer group)",
    ),
];

/// The expected-failure reason of `test` on `runtime`, if any.
pub fn lookup(runtime: &str, test: &str) -> Option<&'static str> {
    EXPECTED
        .iter()
        .find(|e| e.runtime == runtime && e.test == test)
        .map(|e| e.reason)
}
