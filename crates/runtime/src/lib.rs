//! mini-containerd's runtime library.
//!
//! Read it in the order a container comes to life:
//! [`bundle`] (config.json) → [`state`] (the state directory) →
//! [`lifecycle`] (`create` spawns the init through [`process`]) →
//! [`init`] (namespaces, mounts, `pivot_root`, exec FIFO, `execve`).
//! [`sys`] is the only module with `unsafe`.

pub mod bundle;
pub mod cgroups;
pub mod console;
pub mod error;
pub mod features;
pub mod hooks;
pub mod idmap;
pub mod init;
pub mod lifecycle;
pub mod passwd;
pub mod process;
pub mod seccomp_cache;
pub mod spec;
pub mod state;
pub mod sys;
pub mod time;
pub mod userns;

pub use error::{Error, Result};

/// The version of the OCI runtime specification this runtime implements.
pub const OCI_SPEC_VERSION: &str = state::OCI_VERSION;
