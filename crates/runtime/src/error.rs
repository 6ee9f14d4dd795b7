//! The runtime's error type. Every message is one line that says what was
//! being done, on which path or field, and why — the CLI prints it as is.

use nix::errno::Errno;

use crate::bundle::BundleError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container does not exist: {0}")]
    NotFound(String),
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("invalid container id {id:?}: {why}")]
    InvalidId { id: String, why: &'static str },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("cannot {verb} container {id}: it is {status}{hint}")]
    WrongState {
        verb: &'static str,
        id: String,
        status: String,
        hint: &'static str,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {}", .source.desc())]
    Sys {
        context: String,
        #[source]
        source: Errno,
    },
    /// An error reported by the container's init over the sync channel: it
    /// already names the step, path and errno.
    #[error("container init: {0}")]
    Init(String),
    /// A prestart, createRuntime, createContainer, startContainer or
    /// poststart hook failed (runtime.md "Lifecycle" steps 3–9): the
    /// message names the kind, the path and the exit status or timeout.
    #[error("{0}")]
    Hook(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach "what we were doing" to an `io::Error` or `Errno`.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, Errno> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sys {
            context: what(),
            source,
        })
    }
}
