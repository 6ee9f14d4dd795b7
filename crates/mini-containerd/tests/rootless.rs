//! Rootless: an unprivileged user (here: nobody) makes a config with
//! `spec --rootless` and runs the whole lifecycle; state lives under its
//! $XDG_RUNTIME_DIR, its root is root only inside the user namespace.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::BIN;

const NOBODY: &str = "65534";

/// Run the runtime as nobody, with `dir` as its cwd and runtime dir.
fn as_nobody(dir: &Path, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", BIN])
        .args(args)
        .current_dir(dir.join("bundle"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn an_unprivileged_user_runs_a_container() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "run as root: the test switches to nobody itself"
    );
    let tmp = tempfile::Builder::new().prefix("mc-rootless").tempdir().unwrap();
    let dir = tmp.path();
    for sub in ["bundle", "run"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        nix::unistd::chown(&dir.join(sub), Some(65534.into()), Some(65534.into())).unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = as_nobody(dir, &["spec", "--rootless"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config_path = dir.join("bundle/config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert_eq!(config["linux"]["uidMappings"][0]["hostID"], 65534);
    config["root"]["path"] = serde_json::json!(common::rootfs().canonicalize().unwrap().display().to_string());
    config["process"]["terminal"] = serde_json::json!(false);
    config["process"]["args"] = serde_json::json!(["sh", "-c", "id -u; cat /proc/self/uid_map; exit 5"]);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();

    let out = as_nobody(dir, &["run", "c1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "65534", "1"], "{stdout}");

    // the lifecycle by hand, state under $XDG_RUNTIME_DIR
    config["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            NOBODY,
            "--regid",
            NOBODY,
            "--clear-groups",
            BIN,
            "create",
            "c2",
        ])
        .current_dir(dir.join("bundle"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    assert!(dir.join("run/mini-containerd/c2/state.json").exists());
    assert!(as_nobody(dir, &["start", "c2"]).status.success());
    let state: serde_json::Value = serde_json::from_slice(&as_nobody(dir, &["state", "c2"]).stdout).unwrap();
    assert_eq!(state["status"], "running");
    let exec = as_nobody(dir, &["exec", "c2", "id", "-u"]);
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );
    assert!(as_nobody(dir, &["kill", "c2", "KILL"]).status.success());
    assert!(as_nobody(dir, &["delete", "--force", "c2"]).status.success());
    assert!(!dir.join("run/mini-containerd/c2").exists());
}
