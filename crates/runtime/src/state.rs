//! The state directory: `<root>/<id>/` holds `state.json` and `exec.fifo`.
//!
//! Three guarantees the reference runtimes do not all give:
//! - **atomic writes**: `state.json` is written to a temp file and renamed
//!   over the old one, so a reader (or a runtime killed mid-write) never
//!   sees half a file. There is no fsync: it guards against power loss,
//!   after which no container survives anyway, and it cost 1–5 ms per `run`
//!   on a disk (runc and crun do not sync either; `/run` is tmpfs);
//! - **a per-container lock**: verbs that change a container hold `flock` on
//!   its directory, so concurrent `create`/`start`/`kill`/`delete` of one id
//!   run one after another;
//! - **derived status**: the pid saved on disk is trusted only if the process
//!   with that pid still has the start time we saved (field 22 of
//!   `/proc/PID/stat`), so a recycled pid is never mistaken for the container.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
pub const CONFIG_FILE: &str = "config.json";
/// The OCI runtime-spec version whose state format we print.
pub const OCI_VERSION: &str = "1.2.0";

/// Container ids: `^[A-Za-z0-9][A-Za-z0-9_.+-]*$`, which rules out `..`,
/// `/` and the empty string, so an id can never name a path outside `--root`.
pub fn validate_id(id: &str) -> Result<()> {
    let invalid = |why| {
        Err(Error::InvalidId {
            id: id.to_string(),
            why,
        })
    };
    let mut chars = id.chars();
    match chars.next() {
        None => return invalid("it is empty"),
        Some(c) if !c.is_ascii_alphanumeric() => return invalid("it must start with a letter or digit"),
        _ => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c)) {
        return invalid("only letters, digits and _ . + - are allowed");
    }
    if id.len() > 1024 {
        return invalid("it is longer than 1024 characters");
    }
    Ok(())
}

/// The status of a container, as runtime.md's "State" defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    /// runc's extra state: every process frozen (`pause`).
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
    /// runtime.md "Start": only a `created` container may be started.
    pub fn can_start(self) -> bool {
        matches!(self, Status::Created)
    }
    /// runtime.md "Kill": only `created` or `running` containers take signals.
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }
    /// runtime.md "Delete": only a `stopped` container may be deleted
    /// (`--force` kills it first).
    pub fn can_delete(self) -> bool {
        matches!(self, Status::Stopped)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What we keep on disk about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub id: String,
    /// `creating` until the init reported ready, then `created`. Anything
    /// later is derived from the process, never written.
    pub status: Status,
    /// The init's pid in the runtime's PID namespace; 0 before it exists.
    pub pid: i32,
    /// The init's start time in clock ticks since boot (`/proc/PID/stat` #22).
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup (empty where cgroups are not managed).
    #[serde(default)]
    pub cgroup: crate::cgroups::Cgroup,
}

/// The state as `state` and `list` print it: the OCI state (runtime.md) plus
/// runc's extra fields `rootfs`, `created` and `owner`.
#[derive(Debug, Clone, Serialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub owner: String,
}

/// `--root`: the directory that holds one subdirectory per container.
#[derive(Debug, Clone)]
pub struct StateRoot {
    pub path: PathBuf,
}

impl StateRoot {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateRoot { path: path.into() }
    }

    /// Create the root (mode 0700, as it holds every container's secrets).
    pub fn ensure(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .context(|| format!("creating state root {}", self.path.display()))
    }

    /// Reserve `id`: `mkdir` is atomic, so of two concurrent `create`s of one
    /// id exactly one succeeds. The new directory comes back locked.
    pub fn create_container(&self, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        self.ensure()?;
        let path = self.path.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(Error::Exists(id.to_string())),
            Err(e) => return Err(e).context(|| format!("creating {}", path.display())),
        }
        let dir = open_dir(&path).context(|| format!("opening {}", path.display()))?;
        let dir = lock_exclusive(dir).context(|| format!("locking {}", path.display()))?;
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            lock: Some(dir),
        })
    }

    /// Open an existing container without locking it (for `state`, `list`).
    pub fn open(&self, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        let path = self.path.join(id);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Ok(ContainerDir {
                id: id.to_string(),
                path,
                lock: None,
            }),
            Ok(_) => Err(Error::NotFound(id.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound(id.to_string())),
            Err(e) => Err(e).context(|| format!("opening {}", path.display())),
        }
    }

    /// Open and lock an existing container for a verb that changes it.
    pub fn lock(&self, id: &str) -> Result<ContainerDir> {
        let mut c = self.open(id)?;
        let dir = open_dir(&c.path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(id.to_string()),
            _ => Error::Io {
                context: format!("opening {}", c.path.display()),
                source: e,
            },
        })?;
        let dir = lock_exclusive(dir).context(|| format!("locking {}", c.path.display()))?;
        // A `delete` may have removed (or a `create` re-made) the directory
        // while we waited for the lock: check we hold the one at the path.
        let held = dir.metadata().context(|| format!("stat {}", c.path.display()))?;
        match fs::symlink_metadata(&c.path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {}
            _ => return Err(Error::NotFound(id.to_string())),
        }
        c.lock = Some(dir);
        Ok(c)
    }

    /// Ids of every container under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).context(|| format!("reading {}", self.path.display())),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

fn lock_exclusive(dir: File) -> std::result::Result<Flock<File>, Errno> {
    Flock::lock(dir, FlockArg::LockExclusive).map_err(|(_, e)| e)
}

fn open_dir(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// One container's directory, locked or not.
#[derive(Debug)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    lock: Option<Flock<File>>,
}

impl ContainerDir {
    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Read `state.json`. `None` while `create` has not written it yet.
    pub fn load(&self) -> Result<Option<Stored>> {
        let path = self.path.join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context(|| format!("reading {}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("{}: corrupt state: {e}", path.display())))
    }

    /// Keep the container's config for later verbs (`exec`).
    pub fn save_config(&self, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let path = self.path.join(CONFIG_FILE);
        let data = serde_json::to_vec(spec).map_err(|e| Error::Invalid(format!("encoding config: {e}")))?;
        write_atomic(&self.path, &path, &data)
    }

    pub fn load_config(&self) -> Result<oci_spec::runtime::Spec> {
        let path = self.path.join(CONFIG_FILE);
        let text = fs::read_to_string(&path).context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: corrupt config: {e}", path.display())))
    }

    /// Write `state.json` atomically: temp file, rename.
    pub fn save(&self, stored: &Stored) -> Result<()> {
        let path = self.path.join(STATE_FILE);
        let data = serde_json::to_vec(stored).map_err(|e| Error::Invalid(format!("encoding state: {e}")))?;
        write_atomic(&self.path, &path, &data)
    }

    /// The container's status, derived from what is on disk and in /proc.
    pub fn status(&self, stored: Option<&Stored>) -> Status {
        let Some(stored) = stored else {
            // The directory exists but `create` has not written state yet.
            return if self.creator_alive() {
                Status::Creating
            } else {
                Status::Stopped
            };
        };
        if stored.status == Status::Creating {
            // Only the `create` that holds the lock may finish the job; if
            // it died, the container will never come to life.
            return if self.creator_alive() {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !process_matches(stored.pid, stored.pid_start) {
            return Status::Stopped;
        }
        if stored.cgroup.is_frozen() {
            return Status::Paused;
        }
        // The init removes nothing; `start` deletes the FIFO once it has
        // released the init, so its presence means "not started yet".
        if self.fifo_path().exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// Is a `create` still holding this directory's lock? Only meaningful
    /// when we do not hold the lock ourselves.
    fn creator_alive(&self) -> bool {
        if self.lock.is_some() {
            return false;
        }
        let Ok(dir) = open_dir(&self.path) else { return false };
        match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
            Ok(_) => false,
            Err((_, Errno::EWOULDBLOCK)) => true,
            Err(_) => false,
        }
    }

    /// The printable state, runc-style: `pid` is 0 once stopped.
    pub fn oci_state(&self, stored: Option<&Stored>) -> Result<OciState> {
        let status = self.status(stored);
        let owner = self.owner();
        let (pid, bundle, rootfs, created, annotations) = match stored {
            Some(s) => (
                if matches!(status, Status::Stopped) { 0 } else { s.pid },
                s.bundle.clone(),
                s.rootfs.clone(),
                s.created.clone(),
                s.annotations.clone(),
            ),
            None => (0, PathBuf::new(), PathBuf::new(), String::new(), HashMap::new()),
        };
        Ok(OciState {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            pid,
            status: status.to_string(),
            bundle,
            rootfs,
            created,
            annotations,
            owner,
        })
    }

    /// The user name owning the container's directory (runc's `owner`).
    pub fn owner(&self) -> String {
        let uid = match fs::metadata(&self.path) {
            Ok(m) => m.uid(),
            Err(_) => return String::new(),
        };
        crate::passwd::field_of_uid(uid, 0).unwrap_or_else(|| format!("#{uid}"))
    }

    /// Remove the directory and everything in it.
    pub fn remove(self) -> Result<()> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).context(|| format!("removing {}", self.path.display())),
        }
    }
}

/// Temp file in the same directory, rename over `path`: atomic for readers
/// and crashes of the runtime (not for power loss; see the module comment).
fn write_atomic(dir: &Path, path: &Path, data: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    };
    write().context(|| format!("writing {}", path.display()))
}

/// Start time of `pid` in clock ticks since boot, field 22 of /proc/PID/stat.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 counted after the command name, which may itself hold spaces
/// and parentheses: split after the *last* ')'.
fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3 (state); starttime is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Is `pid` alive (not a zombie) and the very process we started?
pub fn process_matches(pid: i32, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else { return false };
    let state = stat[close + 1..].split_whitespace().next();
    if matches!(state, Some("Z") | Some("X")) {
        return false;
    }
    parse_start_time(&stat) == Some(start)
}

/// Is `pid` a live process we may signal, as a `Pid`? Convenience for verbs.
pub fn live_pid(stored: &Stored) -> Option<Pid> {
    process_matches(stored.pid, stored.pid_start).then(|| Pid::from_raw(stored.pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "box1", "A.b_c+d-e", "0"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", "..", ".hidden", "-x", "a b", "/abs"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn start_time_parses_after_odd_comm() {
        let stat = "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_start_time(stat), Some(123456));
        let me = std::process::id() as i32;
        let start = process_start_time(me).expect("own stat");
        assert!(process_matches(me, start));
        assert!(!process_matches(me, start + 1));
    }

    #[test]
    fn create_is_exclusive_and_state_round_trips() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = StateRoot::new(tmp.path().join("root"));
        let c = root.create_container("c1").expect("create");
        assert!(matches!(root.create_container("c1"), Err(Error::Exists(_))));
        let stored = Stored {
            id: "c1".into(),
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "t".into(),
            annotations: HashMap::new(),
            cgroup: Default::default(),
        };
        c.save(&stored).expect("save");
        let back = root.open("c1").expect("open").load().expect("load").expect("some");
        assert_eq!(back.bundle, PathBuf::from("/b"));
        // pid 0 is never alive: a saved "created" with a dead pid is stopped.
        assert_eq!(root.open("c1").expect("open").status(Some(&back)), Status::Stopped);
        let mode = fs::metadata(tmp.path().join("root")).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
