//! `linux.devices` (config-linux.md "Devices"): device nodes the container
//! gets besides the default ones, with the given type, numbers, mode and
//! owner. Where `mknod` is refused (a user namespace), the host's node at
//! the same path is bind-mounted instead.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Spec};

use super::rootfs::Root;

pub fn create(root: &Root, spec: &Spec) -> Result<(), String> {
    let devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    for d in &devices {
        create_one(root, d)?;
    }
    Ok(())
}

/// The file type bits for a device entry.
pub fn kind(t: LinuxDeviceType) -> Result<SFlag, String> {
    match t {
        LinuxDeviceType::C | LinuxDeviceType::U => Ok(SFlag::S_IFCHR),
        LinuxDeviceType::B => Ok(SFlag::S_IFBLK),
        LinuxDeviceType::P => Ok(SFlag::S_IFIFO),
        LinuxDeviceType::A => Err("type \"a\" is only for cgroup device rules".into()),
    }
}

fn create_one(root: &Root, d: &LinuxDevice) -> Result<(), String> {
    let path = d.path();
    let what = |e: Errno, step: &str| format!("linux.devices {}: {step}: {}", path.display(), e.desc());
    let kind = kind(d.typ()).map_err(|e| format!("linux.devices {}: {e}", path.display()))?;
    let name = path
        .file_name()
        .ok_or_else(|| format!("linux.devices {}: not a file path", path.display()))?;
    let parent = root.mkdir_all(path.parent().unwrap_or(Path::new("/")))?;
    let dev = nix::sys::stat::makedev(d.major() as u64, d.minor() as u64);
    let perm = Mode::from_bits_truncate(d.file_mode().unwrap_or(0o666));
    // The config's node replaces whatever the image or the defaults put there.
    match nix::unistd::unlinkat(Some(parent.as_raw_fd()), name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(what(e, "removing what was there")),
    }
    match nix::sys::stat::mknodat(Some(parent.as_raw_fd()), name, kind, perm, dev) {
        Ok(()) => {}
        Err(Errno::EPERM) => return bind_from_host(root, path),
        Err(e) => return Err(what(e, "mknod")),
    }
    set_owner(&parent, name, d.uid(), d.gid()).map_err(|e| what(e, "chown"))
}

fn set_owner(parent: &OwnedFd, name: &std::ffi::OsStr, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    nix::unistd::fchownat(
        Some(parent.as_raw_fd()),
        name,
        uid.map(Uid::from_raw),
        gid.map(Gid::from_raw),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

fn bind_from_host(root: &Root, path: &Path) -> Result<(), String> {
    let target = root.ensure_file(path)?;
    mount(
        Some(path),
        &std::path::PathBuf::from(format!("/proc/self/fd/{}", target.as_raw_fd())),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        format!(
            "linux.devices {}: bind-mounting the host's node: {}",
            path.display(),
            e.desc()
        )
    })
}
