//! config-linux.md fields, checked from inside the container.
#![allow(clippy::unwrap_used)]

mod common;

use common::Env;
use serde_json::json;

/// config-linux.md "Devices": type, major/minor, fileMode, uid and gid.
#[test]
fn devices_are_created_as_configured() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "stat -c '%n %F %t:%T %a %u:%g' /dev/fuse /dev/sub/pipe /dev/null",
        ],
        |c| {
            c["linux"]["devices"] = json!([
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 416, "uid": 7, "gid": 8},
                {"path": "/dev/sub/pipe", "type": "p", "major": 0, "minor": 0, "fileMode": 420},
                // replaces the default node
                {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 432}
            ]);
        },
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/dev/fuse character special file a:e5 640 7:8"), "{out}");
    assert!(out.contains("/dev/sub/pipe fifo 0:0 644 0:0"), "{out}");
    assert!(out.contains("/dev/null character special file 1:3 660 0:0"), "{out}");
}

/// config-linux.md "Sysctl": namespaced keys are set inside the container.
#[test]
fn sysctl_is_applied() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmni"],
        |c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}),
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1\n1234\n");
}

/// A sysctl outside the container's namespaces would change the host:
/// refused at create, naming the key, with nothing left behind.
#[test]
fn sysctl_outside_the_namespaces_is_refused() {
    let env = Env::new();
    for (name, sysctl, namespaces, needle) in [
        ("global", json!({"vm.swappiness": "10"}), None, "not namespaced"),
        (
            "no-netns",
            json!({"net.ipv4.ip_forward": "1"}),
            Some(json!([{"type": "mount"}, {"type": "pid"}, {"type": "uts"}])),
            "net namespace",
        ),
    ] {
        let b = env.bundle(name, &["true"], |c| {
            c["linux"]["sysctl"] = sysctl;
            if let Some(ns) = namespaces {
                c["linux"]["namespaces"] = ns;
            }
        });
        let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), name]);
        assert!(err.contains("linux.sysctl") && err.contains(needle), "{err}");
        assert!(env.ids().is_empty());
    }
}

/// config.md "process.oomScoreAdj".
#[test]
fn oom_score_adj_is_applied() {
    let env = Env::new();
    let b = env.bundle("b", &["cat", "/proc/self/oom_score_adj"], |c| {
        c["process"]["oomScoreAdj"] = json!(500)
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "500");
}

/// config.md "Domainname", in the container's UTS namespace; and refused
/// without one.
#[test]
fn domainname_is_set() {
    let env = Env::new();
    let b = env.bundle("b", &["cat", "/proc/sys/kernel/domainname"], |c| {
        c["domainname"] = json!("example.test")
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "example.test");
    let b = env.bundle("b2", &["true"], |c| {
        c["domainname"] = json!("example.test");
        c["hostname"] = json!(null);
        c["linux"]["namespaces"] = json!([{"type": "mount"}]);
    });
    let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), "c2"]);
    assert!(err.contains("domainname"), "{err}");
}

/// config-linux.md "Personality": LINUX32 makes uname report a 32-bit machine.
#[test]
fn personality_linux32() {
    let env = Env::new();
    let b = env.bundle("b", &["uname", "-m"], |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX32"})
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "i686");
}

/// config-linux.md "User namespace mappings": the runtime writes the maps,
/// the process is root of its namespace only, and host root's files show
/// up as the overflow id.
#[test]
fn user_namespace_with_mappings() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u /bin/busybox",
        ],
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
            c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        },
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        ["0", "0", "200000", "65536", "0", "200000", "65536", "65534"],
        "{out}"
    );
}

/// A user namespace without mappings, or mappings without one, is refused.
#[test]
fn user_namespace_mapping_errors() {
    let env = Env::new();
    let b = env.bundle("nomap", &["true"], |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
    });
    let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), "c1"]);
    assert!(err.contains("linux.uidMappings"), "{err}");
    let b = env.bundle("nons", &["true"], |c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 1}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 1}]);
    });
    let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), "c2"]);
    assert!(err.contains("without a new user namespace"), "{err}");
    assert!(env.ids().is_empty());
}

/// config-linux.md "timeOffsets": the container's process sees the
/// boot-time clock shifted by the offset, the host does not.
#[test]
fn time_namespace_offsets() {
    let env = Env::new();
    let b = env.bundle("b", &["cat", "/proc/uptime"], |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 1000000, "nanosecs": 0}});
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    let uptime = |s: &str| s.split_whitespace().next().unwrap().parse::<f64>().unwrap();
    let host = uptime(&std::fs::read_to_string("/proc/uptime").unwrap());
    let inside = uptime(&out);
    assert!(
        (inside - host - 1_000_000.0).abs() < 60.0,
        "host {host}, container {inside}"
    );
    let b = env.bundle("b2", &["true"], |c| {
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 1}});
    });
    let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), "c2"]);
    assert!(err.contains("linux.timeOffsets"), "{err}");
}

/// config.md "ioPriority", "scheduler" and "execCPUAffinity", seen by the
/// process itself.
#[test]
fn io_priority_scheduler_and_affinity() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "ionice; grep -E '^policy' /proc/self/sched; grep Cpus_allowed_list /proc/self/status",
        ],
        |c| {
            c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
            c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 3});
            c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "0"});
        },
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("best-effort: prio 6"), "{out}");
    assert!(
        out.split_whitespace()
            .collect::<Vec<_>>()
            .windows(3)
            .any(|w| w == ["policy", ":", "3"]),
        "{out}"
    );
    assert!(out.contains("Cpus_allowed_list:\t0\n"), "{out}");
}

/// An LSM label or Intel RDT the host cannot provide is an error, not
/// silently ignored (this host runs neither AppArmor, SELinux nor resctrl).
#[test]
fn unavailable_lsm_and_rdt_are_errors() {
    let env = Env::new();
    for (name, edit, needle) in [
        (
            "apparmor",
            json!({"process": {"apparmorProfile": "docker-default"}}),
            "AppArmor",
        ),
        (
            "selinux",
            json!({"process": {"selinuxLabel": "system_u:system_r:container_t:s0"}}),
            "SELinux",
        ),
        ("rdt", json!({"linux": {"intelRdt": {"closID": "x"}}}), "intelRdt"),
    ] {
        if name == "apparmor"
            && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
        {
            continue;
        }
        let b = env.bundle(name, &["true"], |c| merge(c, &edit));
        let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), name]);
        assert!(err.contains(needle), "{name}: {err}");
        assert!(env.ids().is_empty());
    }
}

fn merge(into: &mut serde_json::Value, from: &serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Recursive mount attributes (`rro`): a read-only rbind is read-only in
/// its submounts too, which a plain `ro` remount is not.
#[test]
fn recursive_read_only_bind() {
    let env = Env::new();
    // The host's /dev has writable submounts (/dev/shm); never write there
    // for real: the name is unique and removed afterwards in any case.
    let name = format!("mc-rro-test-{}", std::process::id());
    let script =
        format!("touch /mnt/shm/{name} && echo WROTE || echo refused; touch /mnt/x-{name} || echo top-refused");
    let b = env.bundle("b", &["sh", "-c", &script], |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "bind", "source": "/dev", "options": ["rbind", "rro"]
        }));
    });
    let (code, out, err) = env.run(&b, "c1");
    let _ = std::fs::remove_file(format!("/dev/shm/{name}"));
    let _ = std::fs::remove_file(format!("/dev/x-{name}"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("refused\n") && !out.contains("WROTE"), "{out}");
    assert!(out.contains("top-refused"), "{out}");
}

/// runc's `tmpcopyup` (podman uses it for --read-only and --tmpfs): the
/// tmpfs starts with a copy of what it covers, and is writable.
#[test]
fn tmpcopyup_copies_what_the_tmpfs_covers() {
    let env = Env::new();
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "grep -c root /etc/passwd; touch /etc/new && echo writable; mount | grep ' /etc '",
        ],
        |c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
            }));
        },
    );
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("1\nwritable\n"), "{out}");
    assert!(out.contains("tmpfs on /etc type tmpfs"), "{out}");
    assert!(
        !common::rootfs().join("etc/new").exists(),
        "wrote through to the rootfs"
    );
}

/// config-linux.md "Rootfs Mount Propagation": `shared` puts the
/// container's root mount in a peer group of its own.
#[test]
fn rootfs_propagation_shared() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"], |c| {
        c["linux"]["rootfsPropagation"] = json!("shared");
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shared:"), "{out}");
    let b = env.bundle("b2", &["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"], |c| {
        c["linux"]["rootfsPropagation"] = json!("private");
    });
    let (code, out, err) = env.run(&b, "c2");
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("shared:") && !out.contains("master:"), "{out}");
}

/// config.md "Mounts" uidMappings/gidMappings: an id-mapped bind mount shows
/// the host's owners shifted by the mapping, nothing chown'ed on disk; in a
/// container whose user namespace has the same mapping, host root's files
/// are the container root's.
#[test]
fn id_mapped_bind_mount() {
    let env = Env::new();
    let src = env.tmp.path().join("shared");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "hello").unwrap();
    let map = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    let mount = json!({"destination": "/mnt", "type": "bind", "source": src.display().to_string(),
                       "options": ["rbind"], "uidMappings": map, "gidMappings": map});
    let b = env.bundle("b", &["stat", "-c", "%u:%g", "/mnt/f"], |c| {
        c["mounts"].as_array_mut().unwrap().push(mount.clone());
    });
    let (code, out, err) = env.run(&b, "c1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "300000:300000");
    let b = env.bundle("b2", &["stat", "-c", "%u:%g", "/mnt/f"], |c| {
        c["mounts"].as_array_mut().unwrap().push(mount.clone());
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map.clone();
    });
    let (code, out, err) = env.run(&b, "c2");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "0:0");
    let meta = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(src.join("f")).unwrap());
    assert_eq!(meta, 0, "nothing chown'ed on disk");
    // only bind mounts can be id-mapped
    let b = env.bundle("b3", &["true"], |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
            "uidMappings": map, "gidMappings": map}));
    });
    let err = env.fails(&["create", "--bundle", b.to_str().unwrap(), "c3"]);
    assert!(err.contains("bind mount"), "{err}");
    assert!(env.ids().is_empty());
}
