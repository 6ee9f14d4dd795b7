//! Lifecycle hooks (config.md "POSIX-platform Hooks"; runtime.md
//! "Lifecycle" steps 3–13).
//!
//! One function runs a list of hooks for every caller: the runtime (prestart,
//! createRuntime, poststart, poststop) and the init inside the container
//! (createContainer, startContainer). It uses no threads — the init must stay
//! single-threaded — so the state goes in and the output comes out through
//! memfds rather than pipes: a hook that never reads its stdin, or writes
//! more than a pipe holds, cannot block us, and the timeout is a `poll` on
//! the hook's pidfd.

use std::ffi::OsStr;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, Spec};
use serde::{Deserialize, Serialize};

/// The most of a hook's output that goes into an error message; all of it
/// goes to the log.
const ERROR_OUTPUT_TAIL: usize = 512;

/// The hook lists of config.md, in the order the lifecycle calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ];

    /// The name config.md gives the list.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in `spec` (none when absent).
    pub fn of(self, spec: &Spec) -> &[Hook] {
        let Some(hooks) = spec.hooks() else { return &[] };
        #[allow(deprecated)]
        let list = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or(&[])
    }
}

/// config.md "POSIX-platform Hooks": `path` MUST be absolute and a
/// `timeout`, if set, MUST be greater than zero. Checked at load, so a bad
/// hook fails `create` before anything exists.
pub fn validate(spec: &Spec) -> Result<(), String> {
    for kind in Kind::ALL {
        for (i, hook) in kind.of(spec).iter().enumerate() {
            if !hook.path().is_absolute() {
                return Err(format!(
                    "{}[{i}].path must be absolute, got {:?}",
                    kind.name(),
                    hook.path()
                ));
            }
            if let Some(t) = hook.timeout().filter(|t| *t <= 0) {
                return Err(format!(
                    "{}[{i}].timeout must be greater than zero, got {t}",
                    kind.name()
                ));
            }
        }
    }
    Ok(())
}

/// The state a hook reads on stdin: exactly runtime.md "State".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub status: String,
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
}

impl State {
    /// The state of a stored container, with the status the hook's step
    /// implies (the derived one can lag: `create` still holds the lock).
    pub fn of(stored: &crate::state::Stored, status: crate::state::Status) -> State {
        State {
            oci_version: crate::state::OCI_VERSION.to_string(),
            id: stored.id.clone(),
            status: status.to_string(),
            pid: stored.pid,
            bundle: stored.bundle.clone(),
            annotations: stored.annotations.clone(),
        }
    }
}

/// Where a hook's output goes: the runtime logs it with `tracing`; the init
/// sends it to the runtime over the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Level {
    Debug,
    Warn,
}

/// Log a line the way the runtime does (also for lines the init forwards).
pub fn log(level: Level, msg: &str) {
    match level {
        Level::Debug => tracing::debug!("{msg}"),
        Level::Warn => tracing::warn!("{msg}"),
    }
}

/// Run every hook of `kind` in order; stop at the first failure and return
/// its error, naming the kind, the path and the exit status or timeout.
pub fn run(kind: Kind, spec: &Spec, state: &State, out: &mut dyn FnMut(Level, String)) -> Result<(), String> {
    let hooks = kind.of(spec);
    if hooks.is_empty() {
        return Ok(());
    }
    let _span = tracing::info_span!("hooks", kind = kind.name()).entered();
    let input = encode(kind, state)?;
    for (i, hook) in hooks.iter().enumerate() {
        run_hook(kind, i, hook, &input, out)?;
    }
    Ok(())
}

/// runtime.md step 13: a failing poststop hook is only a warning, and "the
/// remaining hooks and lifecycle continue as if the hook had succeeded".
pub fn run_poststop(spec: &Spec, state: &State) {
    let hooks = Kind::Poststop.of(spec);
    if hooks.is_empty() {
        return;
    }
    let _span = tracing::info_span!("hooks", kind = Kind::Poststop.name()).entered();
    let mut out = |level: Level, msg: String| log(level, &msg);
    let input = match encode(Kind::Poststop, state) {
        Ok(i) => i,
        Err(e) => return tracing::warn!("{e}"),
    };
    for (i, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_hook(Kind::Poststop, i, hook, &input, &mut out) {
            tracing::warn!("{e} (ignored: the lifecycle continues)");
        }
    }
}

fn encode(kind: Kind, state: &State) -> Result<Vec<u8>, String> {
    serde_json::to_vec(state).map_err(|e| format!("{} hooks: encoding the state: {e}", kind.name()))
}

/// Run hook `i` of `kind`; its output goes to `out`, at debug level when it
/// succeeds and as a warning when it fails.
fn run_hook(kind: Kind, i: usize, hook: &Hook, input: &[u8], out: &mut dyn FnMut(Level, String)) -> Result<(), String> {
    let what = format!("{} hook #{i} {}", kind.name(), hook.path().display());
    let (output, failure) = match run_one(hook, input) {
        Ok((output, status)) if status.success() => (output, None),
        Ok((output, status)) => (output, Some(describe(status))),
        Err(Failure::TimedOut(output, secs)) => (output, Some(format!("timed out after {secs}s (killed)"))),
        Err(Failure::Other(why)) => (String::new(), Some(why)),
    };
    let output = output.trim_end();
    match failure {
        None => {
            if !output.is_empty() {
                out(Level::Debug, format!("{what} output: {output}"));
            }
            Ok(())
        }
        Some(why) => {
            if !output.is_empty() {
                out(Level::Warn, format!("{what} output: {output}"));
            }
            Err(format!("{what}: {why}{}", tail(output)))
        }
    }
}

enum Failure {
    TimedOut(String, i64),
    Other(String),
}

/// Spawn one hook with the state on stdin and wait for it, at most its
/// `timeout`. Returns its combined stdout and stderr and its status.
fn run_one(hook: &Hook, input: &[u8]) -> Result<(String, ExitStatus), Failure> {
    let memfd = |name: &str| -> Result<std::fs::File, Failure> {
        use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
        let c = std::ffi::CString::new(name).map_err(|_| Failure::Other("memfd name".into()))?;
        memfd_create(&c, MemFdCreateFlag::MFD_CLOEXEC)
            .map(std::fs::File::from)
            .map_err(|e| Failure::Other(format!("memfd_create: {}", e.desc())))
    };
    let io = |what: &str, e: std::io::Error| Failure::Other(format!("{what}: {e}"));
    let mut stdin = memfd("hook-state")?;
    stdin.write_all(input).map_err(|e| io("writing the state", e))?;
    stdin.seek(SeekFrom::Start(0)).map_err(|e| io("writing the state", e))?;
    let mut output = memfd("hook-output")?;
    let stderr = output.try_clone().map_err(|e| io("duplicating the output fd", e))?;

    let mut cmd = command(hook);
    cmd.stdin(Stdio::from(stdin))
        .stdout(Stdio::from(
            output.try_clone().map_err(|e| io("duplicating the output fd", e))?,
        ))
        .stderr(Stdio::from(stderr));
    let spawned = cmd.spawn();
    // Our copies of the child's stdio live in `cmd`: close them now.
    drop(cmd);
    let mut child = spawned.map_err(|e| Failure::Other(format!("spawning: {e}")))?;
    let waited = wait(&mut child, hook.timeout());
    let mut text = Vec::new();
    output
        .seek(SeekFrom::Start(0))
        .and_then(|_| output.read_to_end(&mut text))
        .map_err(|e| io("reading the hook's output", e))?;
    let text = String::from_utf8_lossy(&text).into_owned();
    match waited {
        Ok(Some(status)) => Ok((text, status)),
        Ok(None) => Err(Failure::TimedOut(text, hook.timeout().unwrap_or(0))),
        Err(why) => Err(Failure::Other(why)),
    }
}

/// The hook's command: `path` exec'd with `args` as argv (argv[0] included,
/// as execv has it) and `env` as the whole environment — nothing of the
/// runtime's own environment leaks in (config.md: "same semantics as
/// environ").
fn command(hook: &Hook) -> Command {
    let mut cmd = Command::new(hook.path());
    if let Some((arg0, rest)) = hook.args().as_deref().and_then(|a| a.split_first()) {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for entry in hook.env().iter().flatten() {
        let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        cmd.env(OsStr::from_bytes(key.as_bytes()), value);
    }
    cmd
}

/// Wait for the child; `Ok(None)` if `timeout` seconds passed first, in
/// which case the child has been killed and reaped.
fn wait(child: &mut Child, timeout: Option<i64>) -> Result<Option<ExitStatus>, String> {
    let Some(secs) = timeout else {
        return child.wait().map(Some).map_err(|e| format!("waiting: {e}"));
    };
    let pid = Pid::from_raw(i32::try_from(child.id()).map_err(|_| "pid out of range")?);
    let pidfd = crate::sys::pidfd_open(pid).map_err(|e| format!("pidfd_open: {}", e.desc()))?;
    let deadline = Instant::now() + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => {
                // config.md: "the number of seconds before aborting the hook".
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(_) => return child.wait().map(Some).map_err(|e| format!("waiting: {e}")),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("waiting: {}", e.desc())),
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{status}"),
    }
}

/// The end of a failed hook's output, for the error message.
fn tail(output: &str) -> String {
    if output.is_empty() {
        return String::new();
    }
    let start = output
        .char_indices()
        .map(|(i, _)| i)
        .find(|i| output.len() - i <= ERROR_OUTPUT_TAIL)
        .unwrap_or(0);
    let cut = if start > 0 { "…" } else { "" };
    format!(" (output: {cut}{})", output[start..].replace('\n', "; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(kind: &str, hooks: serde_json::Value) -> Spec {
        let mut v = serde_json::to_value(Spec::default()).expect("default spec");
        v["hooks"] = serde_json::json!({ kind: hooks });
        serde_json::from_value(v).expect("spec")
    }

    fn state() -> State {
        State {
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            status: "creating".into(),
            pid: 42,
            bundle: "/b".into(),
            annotations: Default::default(),
        }
    }

    #[test]
    fn state_args_env_and_output() {
        let spec = spec_with(
            "createRuntime",
            serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", "cat; echo \" $0 $1 $FOO\"", "zero", "one"], "env": ["FOO=bar"]}]),
        );
        let mut lines = Vec::new();
        run(Kind::CreateRuntime, &spec, &state(), &mut |l, m| lines.push((l, m))).expect("hook runs");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0, Level::Debug);
        assert!(lines[0].1.contains("\"id\":\"c1\""), "{lines:?}");
        assert!(lines[0].1.contains("\"pid\":42"), "{lines:?}");
        assert!(lines[0].1.ends_with(" zero one bar"), "{lines:?}");
    }

    #[test]
    fn failure_names_kind_path_and_status() {
        let spec = spec_with(
            "prestart",
            serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo oops >&2; exit 3"]}]),
        );
        let err = run(Kind::Prestart, &spec, &state(), &mut |_, _| {}).expect_err("fails");
        assert_eq!(err, "prestart hook #0 /bin/sh: exit status 3 (output: oops)");
        let spec = spec_with("poststart", serde_json::json!([{"path": "/nonexistent/hook"}]));
        let err = run(Kind::Poststart, &spec, &state(), &mut |_, _| {}).expect_err("fails");
        assert!(
            err.starts_with("poststart hook #0 /nonexistent/hook: spawning:"),
            "{err}"
        );
    }

    #[test]
    fn timeout_kills_the_hook() {
        let spec = spec_with(
            "createRuntime",
            serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 30"], "timeout": 1}]),
        );
        let t = Instant::now();
        let err = run(Kind::CreateRuntime, &spec, &state(), &mut |_, _| {}).expect_err("times out");
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(err, "createRuntime hook #0 /bin/sh: timed out after 1s (killed)");
    }

    #[test]
    fn validation() {
        let ok = spec_with("poststop", serde_json::json!([{"path": "/bin/true", "timeout": 1}]));
        assert!(validate(&ok).is_ok());
        let relative = spec_with("createContainer", serde_json::json!([{"path": "bin/true"}]));
        assert_eq!(
            validate(&relative).unwrap_err(),
            "createContainer[0].path must be absolute, got \"bin/true\""
        );
        let zero = spec_with("prestart", serde_json::json!([{"path": "/bin/true", "timeout": 0}]));
        assert_eq!(
            validate(&zero).unwrap_err(),
            "prestart[0].timeout must be greater than zero, got 0"
        );
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail(""), "");
        let long = "x".repeat(ERROR_OUTPUT_TAIL + 10);
        assert!(tail(&long).starts_with(" (output: …x"));
        assert_eq!(tail(&long).len(), ERROR_OUTPUT_TAIL + " (output: …)".len());
    }
}
