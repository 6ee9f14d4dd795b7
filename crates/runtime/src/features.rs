//! What this runtime supports, in one place: the `features` subcommand
//! (OCI features.md) and `docs/spec-coverage.md` are both generated from
//! [`COVERAGE`], and a test fails when the committed document drifts.

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Supported,
    Partial,
    Unsupported,
}

impl Support {
    fn label(self) -> &'static str {
        match self {
            Support::Supported => "supported",
            Support::Partial => "partial",
            Support::Unsupported => "unsupported",
        }
    }
}

/// One config field, its status, and where it is tested.
pub struct Field {
    pub path: &'static str,
    pub support: Support,
    pub note: &'static str,
    /// Integration tests (`file::test`) and conformance tests (`conformance:name`).
    pub tests: &'static str,
}

const fn f(path: &'static str, support: Support, note: &'static str, tests: &'static str) -> Field {
    Field {
        path,
        support,
        note,
        tests,
    }
}

use Support::{Partial, Supported, Unsupported};

pub const COVERAGE: &[Field] = &[
    // config.md
    f("ociVersion", Supported, "every 1.x accepted; other majors refused", "lifecycle::bad_bundles_are_rejected_cleanly"),
    f("root.path", Supported, "relative to the bundle or absolute", "lifecycle::root_is_switched; conformance:root.*"),
    f("root.readonly", Supported, "remounted read-only after all mounts", "conformance:root.readonly"),
    f("mounts", Supported, "bind/rbind, proc, sysfs, tmpfs, devpts, mqueue, cgroup (v1 hierarchies bound read-only), propagation flags; destinations resolved with openat2(RESOLVE_IN_ROOT)", "security::mount_destination_symlink_stays_inside; conformance:mounts.*"),
    f("mounts[].options (recursive rro, rnosuid, rnoatime …)", Supported, "mount_setattr(AT_RECURSIVE)", "config_linux::recursive_read_only_bind"),
    f("mounts[].options (tmpcopyup)", Supported, "runc extension: a tmpfs starts with a copy of what it covers (podman --read-only, --tmpfs)", "config_linux::tmpcopyup_copies_what_the_tmpfs_covers; just engines"),
    f("mounts[].uidMappings/gidMappings", Supported, "id-mapped bind mounts: the runtime makes a detached copy with the mapping (open_tree + mount_setattr), the init attaches it (move_mount); works in a user-namespaced container", "config_linux::id_mapped_bind_mount"),
    f("process.terminal", Supported, "pty on the container's devpts, master sent over --console-socket (runc's protocol); run without a socket proxies its own terminal; /dev/console bound to the slave", "terminal::console_socket_terminal; terminal::run_proxies_the_terminal; terminal::exec_with_a_terminal"),
    f("process.consoleSize", Supported, "TIOCSWINSZ on the master", "terminal::console_socket_terminal"),
    f("process.cwd", Supported, "absolute; created when missing", "lifecycle::process_env_cwd_and_user"),
    f("process.env", Supported, "HOME added from /etc/passwd when unset", "lifecycle::process_env_cwd_and_user"),
    f("process.args", Supported, "PATH lookup in the container at create", "lifecycle::bad_bundles_are_rejected_cleanly"),
    f("process.commandLine", Supported, "ignored on Linux, as the spec says", ""),
    f("process.rlimits", Supported, "duplicates and soft > hard refused", "conformance:process.rlimits*"),
    f("process.user.uid/gid/umask/additionalGids", Supported, "", "lifecycle::process_env_cwd_and_user"),
    f("process.capabilities", Supported, "all five sets; caps newer than the kernel skipped", "lifecycle::capabilities_are_applied; lifecycle::ambient_capabilities_for_a_non_root_user"),
    f("process.noNewPrivileges", Supported, "", "conformance:process.noNewPrivileges"),
    f("process.oomScoreAdj", Supported, "lowering needs CAP_SYS_RESOURCE", "config_linux::oom_score_adj_is_applied"),
    f("process.apparmorProfile", Partial, "written to attr/exec when AppArmor is enabled, an error otherwise; untested here (no AppArmor on the development host)", "config_linux::unavailable_lsm_and_rdt_are_errors"),
    f("process.selinuxLabel", Partial, "written to attr/exec when SELinux is enabled, an error otherwise; untested here (no SELinux)", "config_linux::unavailable_lsm_and_rdt_are_errors"),
    f("process.ioPriority", Supported, "", "config_linux::io_priority_scheduler_and_affinity"),
    f("process.scheduler", Supported, "sched_setattr with policy, nice, priority, flags, deadline parameters", "config_linux::io_priority_scheduler_and_affinity"),
    f("process.execCPUAffinity", Supported, "initial set by the runtime on the init, final before exec", "config_linux::io_priority_scheduler_and_affinity"),
    f("hostname", Supported, "needs a UTS namespace", "lifecycle::hostname_is_the_containers"),
    f("domainname", Supported, "needs a UTS namespace", "config_linux::domainname_is_set"),
    f("hooks", Supported, "all six kinds; state on stdin, env, args, timeout (killed); prestart/createRuntime by the runtime between the init's mounts and pivot_root, createContainer in the init before pivot_root, startContainer in the container before exec, poststart after exec, poststop after delete; failures abort create/start and destroy the container, poststop failures are warnings", "hooks::*; conformance:hooks.*"),
    f("annotations", Supported, "reported by state", "conformance:state.*"),
    // config-linux.md
    f("linux.namespaces", Supported, "pid, network, mount, ipc, uts, user, cgroup, time; new or joined by path", "lifecycle::pid_namespace_shows_only_the_container; conformance:linux.namespaces.*"),
    f("linux.uidMappings/gidMappings", Supported, "written by the runtime; rootless, a map of only the caller's own id is written directly (setgroups denied), any other through newuidmap/newgidmap from $PATH, which check /etc/subuid and /etc/subgid", "config_linux::user_namespace_with_mappings; rootless::subordinate_id_ranges_are_mapped_through_newuidmap"),
    f("linux.timeOffsets", Supported, "monotonic and boottime", "config_linux::time_namespace_offsets"),
    f("linux.devices", Supported, "mknod, or a bind of the host node in a user namespace", "config_linux::devices_are_created_as_configured"),
    f("linux.cgroupsPath", Supported, "absolute, relative to the caller's cgroup, or /<id>; v1/hybrid tested here, v2 by the VM test bed (just test-cgroup2); with --systemd-cgroup, slice:prefix:name is placed at systemd's path through cgroupfs (systemd itself is not asked over D-Bus)", "cgroups::resources_land_in_the_cgroup_and_it_goes_with_delete; cgroups::systemd_cgroup_path_form; conformance:linux.cgroupsPath"),
    f("linux.resources", Supported, "cgroup v1, v2 and hybrid hosts; each field below", "cgroups::*; just test-cgroup2; conformance:linux.resources.*"),
    f("linux.resources.memory", Supported, "limit, reservation, swap (v2: swap minus limit), kernel/kernelTCP and swappiness/disableOOMKiller on v1 (logged on v2, which has no such files), useHierarchy, checkBeforeUpdate", "cgroups::resources_land_in_the_cgroup_and_it_goes_with_delete; cgroups::check_before_update_refuses_a_limit_below_usage; verbs::oom_kill_is_reported_by_events"),
    f("linux.resources.cpu", Supported, "shares (v2: weight by runc's formula), quota/period, burst, realtime (v1), cpus/mems, idle", "cgroups::cpu_quota_bites; cgroups::resources_land_in_the_cgroup_and_it_goes_with_delete"),
    f("linux.resources.pids", Supported, "", "cgroups::pids_limit_bites"),
    f("linux.resources.blockIO", Supported, "weight/leafWeight/weightDevice (v2: io.weight), throttle bps/iops (v2: io.max)", "cgroups::resources_land_in_the_cgroup_and_it_goes_with_delete; just test-cgroup2"),
    f("linux.resources.hugepageLimits", Supported, "an error naming the controller where hugetlb is not mounted", ""),
    f("linux.resources.network", Partial, "classID and priorities on v1 (an error where net_cls/net_prio are not mounted); no v2 equivalent (logged)", ""),
    f("linux.resources.rdma", Supported, "rdma.max on v1 and v2 (an error where the controller is missing)", "cgroups v1.rs unit tests"),
    f("linux.resources.devices", Supported, "v1 devices.allow/deny; v2 an eBPF program attached to the cgroup; runc's default nodes allowed", "cgroups::device_rules_bite; just test-cgroup2"),
    f("linux.resources.unified", Supported, "v2 key/values written verbatim; refused on v1", "just test-cgroup2"),
    f("linux.rootfsPropagation", Supported, "applied to / before the mounts (so nothing propagates back to the host), the parent of the rootfs made private, and the container's / given the propagation after pivot_root", "config_linux::rootfs_propagation_shared; hardening::rshared_rootfs_propagation_leaks_nothing"),
    f("linux.seccomp", Supported, "libseccomp: every action (SCMP_ACT_NOTIFY sends the notify fd and the container process state to listenerPath; for exec the state's pid is the container's init), every operator, architectures, flags; unknown syscall names skipped", "seccomp::*; conformance:linux.seccomp"),
    f("linux.sysctl", Supported, "only keys of namespaces the container creates", "config_linux::sysctl_is_applied"),
    f("linux.maskedPaths", Supported, "files behind the checked /dev/null, directories behind a read-only tmpfs", "conformance:linux.maskedPaths"),
    f("linux.readonlyPaths", Supported, "", "conformance:linux.readonlyPaths"),
    f("linux.mountLabel", Unsupported, "an error when set: no SELinux mount labelling yet", "config_linux::unavailable_lsm_and_rdt_are_errors"),
    f("linux.personality", Supported, "LINUX and LINUX32", "config_linux::personality_linux32"),
    f("linux.intelRdt", Unsupported, "an error when set, naming whether resctrl is mounted", "config_linux::unavailable_lsm_and_rdt_are_errors"),
    f("linux.netDevices", Unsupported, "", ""),
];

/// Mount options the runtime recognises (features.md "mountOptions").
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nosymfollow",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "tmpcopyup",
    "symfollow",
    "sync",
    "unbindable",
];

/// Every mount option name, plain and recursive, sorted.
pub fn mount_options() -> Vec<&'static str> {
    let mut all: Vec<&str> = MOUNT_OPTIONS.to_vec();
    all.extend(crate::init::mount_opts::recursive_names());
    all.sort_unstable();
    all
}

/// The `features` document (features.md, features-linux.md).
pub fn features() -> Value {
    let mut caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    caps.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::OCI_SPEC_VERSION,
        "hooks": crate::hooks::Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "mountOptions": mount_options(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
                          "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
                          "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
                          "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32",
                          "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                               "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                   "SECCOMP_FILTER_FLAG_TSYNC"]
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": true } },
            "netDevices": { "enabled": false }
        },
        "annotations": {
            "io.github.mini-containerd.version": env!("CARGO_PKG_VERSION")
        }
    })
}

/// `docs/spec-coverage.md`, rendered from [`COVERAGE`].
pub fn coverage_markdown() -> String {
    let mut out = String::from(
        "# Spec coverage\n\n\
         Every field of config.md and config-linux.md, its state in mini-containerd, and the tests that prove it.\n\
         Generated from `crates/runtime/src/features.rs`, the same table `mini-containerd features` reports from;\n\
         regenerate with `just spec-coverage` (a unit test fails when this file is stale).\n\n\
         | field | status | notes | tests |\n|---|---|---|---|\n",
    );
    for field in COVERAGE {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            field.path,
            field.support.label(),
            field.note,
            field.tests
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_mount_option_is_parsed_as_a_flag() {
        for opt in mount_options() {
            let parsed = crate::init::mount_opts::parse(&[opt.to_string()]);
            assert!(parsed.data.is_empty(), "{opt} fell through to filesystem data");
        }
    }

    #[test]
    fn spec_coverage_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/spec-coverage.md");
        let want = coverage_markdown();
        if std::env::var_os("UPDATE_SPEC_COVERAGE").is_some() {
            std::fs::write(path, &want).expect("writing docs/spec-coverage.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/spec-coverage.md is stale: run `just spec-coverage`");
    }

    #[test]
    fn features_agree_with_coverage() {
        let features = features();
        let supported = |path: &str| {
            COVERAGE
                .iter()
                .any(|f| f.path == path && f.support == Support::Supported)
        };
        assert_eq!(
            features["hooks"].as_array().map(|h| !h.is_empty()),
            Some(supported("hooks"))
        );
        let partial = |path: &str| {
            COVERAGE
                .iter()
                .any(|f| f.path == path && f.support != Support::Unsupported)
        };
        assert_eq!(
            features["linux"]["cgroup"]["v1"].as_bool(),
            Some(partial("linux.resources"))
        );
        assert_eq!(features["linux"]["seccomp"]["enabled"], partial("linux.seccomp"));
        assert_eq!(
            features["linux"]["cgroup"]["v2"].as_bool(),
            Some(partial("linux.resources"))
        );
        assert_eq!(
            features["linux"]["apparmor"]["enabled"],
            supported("process.apparmorProfile")
        );
        assert_eq!(
            features["linux"]["selinux"]["enabled"],
            supported("process.selinuxLabel")
        );
        assert_eq!(features["linux"]["intelRdt"]["enabled"], supported("linux.intelRdt"));
        assert_eq!(
            features["linux"]["mountExtensions"]["idmap"]["enabled"],
            supported("mounts[].uidMappings/gidMappings")
        );
    }
}
