//! The verbs of runtime.md "Operations", plus runc's `run` and `list`.
//! Each verb checks the container's status through `Status::can_*`.

mod create;
mod delete;
mod exec;
mod kill;
mod pause;
mod ps;
mod query;
mod run;
mod start;
mod update;

pub use create::{create, Console, CreateOptions, Created};
pub use delete::delete;
pub use exec::{exec, ExecOptions};
pub use kill::kill;
pub use pause::{pause, resume};
pub use ps::pids;
pub use query::{list, state};
pub use run::{run, RunOptions};
pub use start::start;
pub use update::{events, stats_event, update};

use std::path::Path;

/// Write `pid` to `path` atomically (temp file + rename), as engines read
/// the pid file as soon as the command returns.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> crate::Result<()> {
    use crate::error::Context;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .context(|| format!("writing pid file {}", path.display()))
}
