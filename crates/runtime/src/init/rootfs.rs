//! The container's root filesystem: mounts, `/dev`, `pivot_root`, masked and
//! read-only paths (config.md "Root", "Mounts"; config-linux.md "Masked
//! Paths", "Readonly Paths", "Default Devices").
//!
//! Every path under the rootfs is resolved with `openat2(RESOLVE_IN_ROOT)`
//! relative to an fd of the rootfs, and mounts target `/proc/self/fd/N` of
//! the resolved fd: a symlink planted in the image (`/proc -> /`, `a -> ../../..`)
//! can never make us mount onto the host (CVE-2021-30465).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{Mount, Spec};

use super::mount_opts::{self, MountOptions};
use crate::sys;

type Res<T> = Result<T, String>;

/// How many dangling symlinks `mkdir_all` follows before giving up (the
/// kernel's own limit for one path lookup).
const MAX_SYMLINKS: u32 = 40;

fn fail(what: impl std::fmt::Display) -> impl FnOnce(Errno) -> String {
    move |e| format!("{what}: {}", e.desc())
}

/// `/proc/self/fd/N`: a path the kernel resolves to exactly the object the
/// fd refers to, whatever has happened to the name since.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The rootfs as a directory fd, and the operations confined to it.
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    pub fn open(host_path: &Path) -> Res<Root> {
        let fd = sys::openat2(libc::AT_FDCWD, host_path, libc::O_PATH | libc::O_DIRECTORY, 0, 0)
            .map_err(fail(format!("opening rootfs {}", host_path.display())))?;
        Ok(Root { fd })
    }

    /// Open `path` (container-absolute) as an O_PATH fd, resolved inside.
    pub fn open_path(&self, path: &Path) -> Result<OwnedFd, Errno> {
        sys::openat2(
            self.fd.as_raw_fd(),
            &relative(path),
            libc::O_PATH,
            0,
            sys::RESOLVE_IN_ROOT,
        )
    }

    /// `mkdir -p` inside the rootfs; returns an fd of the final directory.
    pub fn mkdir_all(&self, path: &Path) -> Res<OwnedFd> {
        self.mkdir_all_depth(path, 0)
    }

    fn mkdir_all_depth(&self, path: &Path, depth: u32) -> Res<OwnedFd> {
        let mut prefix = PathBuf::new();
        let mut cur = self.open_dir(&prefix).map_err(fail("opening rootfs"))?;
        for comp in relative(path).components().filter(|c| *c != Component::CurDir) {
            let parent = prefix.clone();
            prefix.push(comp);
            let opening = |e| fail(format!("opening directory {}", show(&prefix)))(e);
            cur = match self.open_dir(&prefix) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    let name = comp.as_os_str();
                    match nix::sys::stat::mkdirat(Some(cur.as_raw_fd()), name, Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(fail(format!("creating directory {}", show(&prefix)))(e)),
                    }
                    match self.open_dir(&prefix) {
                        Ok(fd) => fd,
                        // A dangling symlink: make what it points to, read
                        // as a path inside the rootfs, as runc does.
                        Err(Errno::ENOENT) if depth < MAX_SYMLINKS => {
                            let link = nix::fcntl::readlinkat(Some(cur.as_raw_fd()), name).map_err(opening)?;
                            let target = Path::new("/").join(&parent).join(link);
                            self.mkdir_all_depth(&target, depth + 1)?;
                            self.open_dir(&prefix).map_err(opening)?
                        }
                        Err(e) => return Err(opening(e)),
                    }
                }
                Err(e) => return Err(opening(e)),
            };
        }
        Ok(cur)
    }

    /// Make sure a file exists at `path` (for bind-mounting a file onto it).
    pub fn ensure_file(&self, path: &Path) -> Res<OwnedFd> {
        self.ensure_file_depth(path, 0)
    }

    fn ensure_file_depth(&self, path: &Path, depth: u32) -> Res<OwnedFd> {
        if let Ok(fd) = self.open_path(path) {
            return Ok(fd);
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        let name = path
            .file_name()
            .ok_or_else(|| format!("{}: not a file path", path.display()))?;
        let dir = self.mkdir_all(parent)?;
        // O_NOFOLLOW|O_EXCL: never create through a symlink planted here.
        match nix::fcntl::openat(
            Some(dir.as_raw_fd()),
            name,
            nix::fcntl::OFlag::O_CREAT
                | nix::fcntl::OFlag::O_EXCL
                | nix::fcntl::OFlag::O_WRONLY
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(fd) => drop(nix::unistd::close(fd)),
            Err(Errno::EEXIST) => {
                // A dangling symlink (/etc/resolv.conf -> /run/…, common in
                // images): create its target, read inside the rootfs.
                if let Ok(link) = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name) {
                    if depth < MAX_SYMLINKS {
                        let target = parent.join(link);
                        self.ensure_file_depth(&Path::new("/").join(target), depth + 1)?;
                    }
                }
            }
            Err(e) => return Err(fail(format!("creating file {}", path.display()))(e)),
        }
        self.open_path(path)
            .map_err(fail(format!("opening {}", path.display())))
    }

    fn open_dir(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        let p = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        sys::openat2(
            self.fd.as_raw_fd(),
            p,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            sys::RESOLVE_IN_ROOT,
        )
    }
}

/// The path relative to the rootfs fd; `/` itself becomes `.`.
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

fn show(rel: &Path) -> String {
    format!("/{}", rel.display())
}

/// Step 1: make our copy of the host's mounts stop propagating back to the
/// host (`linux.rootfsPropagation`, rslave by default as in runc), then bind
/// the rootfs onto itself so it is a mount point, as `pivot_root` requires.
pub fn prepare_root(spec: &Spec, rootfs: &Path) -> Res<()> {
    let propagation = match spec.linux().as_ref().and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Some(p) => {
            mount_opts::propagation(p).ok_or_else(|| format!("linux.rootfsPropagation: unknown propagation {p:?}"))?
        }
    };
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .map_err(fail("making / non-propagating (linux.rootfsPropagation)"))?;
    make_parent_mount_private(rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(fail(format!("bind-mounting rootfs {} onto itself", rootfs.display())))?;
    Ok(())
}

/// With shared propagation on `/` (rootfsPropagation "shared", or a host
/// whose mounts are shared), the bind of the rootfs and every mount under
/// it would propagate back out, and pivot_root refuses a shared parent.
/// Make just the mount that holds the rootfs private, as runc does.
fn make_parent_mount_private(rootfs: &Path) -> Res<()> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    let Some((mountpoint, shared)) = parent_mount(&mountinfo, rootfs) else {
        return Ok(());
    };
    if shared {
        mount(
            None::<&str>,
            mountpoint.as_str(),
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(fail(format!(
            "making {mountpoint}, the mount holding the rootfs, private"
        )))?;
    }
    Ok(())
}

/// The mount point that holds `path` (the longest one that is a prefix of
/// it), and whether it is shared.
fn parent_mount(mountinfo: &str, path: &Path) -> Option<(String, bool)> {
    let mut best: Option<(String, bool)> = None;
    for line in mountinfo.lines() {
        let Some((pre, _)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = pre.split_whitespace().collect();
        let Some(mp) = fields.get(4) else { continue };
        let mp = mp.replace("\\040", " ");
        if path.starts_with(&mp) && best.as_ref().is_none_or(|(b, _)| mp.len() >= b.len()) {
            let shared = fields.iter().skip(6).any(|f| f.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    best
}

/// Step 2: every entry of `mounts`, in order (config.md: "the runtime MUST
/// mount entries in the listed order").
pub fn mount_all(root: &Root, spec: &Spec, bundle: &Path) -> Res<()> {
    let cgroupns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Cgroup)
        });
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        // An id-mapped mount arrives ready-made from the runtime.
        let idmapped = if crate::idmap::wants_idmap(m) {
            super::inherited_fd_if_any(&crate::idmap::env_name(i))?
        } else {
            None
        };
        mount_one(root, m, bundle, cgroupns, idmapped)?;
    }
    Ok(())
}

fn mount_one(root: &Root, m: &Mount, bundle: &Path, cgroupns: bool, idmapped: Option<OwnedFd>) -> Res<()> {
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("");
    let mut opts = mount_opts::parse(m.options().as_deref().unwrap_or(&[]));
    if typ == "bind" {
        opts.flags |= MsFlags::MS_BIND;
    }
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(root, dest, &opts, cgroupns);
    }
    let step = |what: &str| format!("mount {} on {} ({what})", typ_or_bind(typ, &opts), dest.display());

    if opts.is_bind() {
        let source = m
            .source()
            .as_deref()
            .ok_or_else(|| step("bind mount without a source"))?;
        let source = if source.is_absolute() {
            source.to_path_buf()
        } else {
            bundle.join(source)
        };
        let meta =
            std::fs::metadata(&source).map_err(|e| format!("{}: source {}: {e}", step("stat"), source.display()))?;
        let target = if meta.is_dir() {
            root.mkdir_all(dest)?
        } else {
            root.ensure_file(dest)?
        };
        match idmapped {
            Some(tree) => sys::move_mount_onto(&tree, &target)
                .map_err(fail(step(&format!("attach id-mapped {}", source.display()))))?,
            None => mount(
                Some(&source),
                &fd_path(&target),
                None::<&str>,
                opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
                None::<&str>,
            )
            .map_err(fail(step(&format!("bind from {}", source.display()))))?,
        }
        let remount = opts.bind_remount_flags();
        if !remount.is_empty() {
            // The fd still names the directory *under* the new mount: reopen
            // so the remount reaches the bind mount itself.
            let top = root.open_path(dest).map_err(fail(step("reopening")))?;
            remount_bind(&top, remount).map_err(fail(step("remounting with options")))?;
        }
    } else {
        let target = root.mkdir_all(dest)?;
        // tmpcopyup: hold the covered directory open, so its contents stay
        // reachable after the tmpfs hides them.
        let covered = if opts.tmpcopyup && typ == "tmpfs" {
            Some(
                sys::openat2(
                    libc::AT_FDCWD,
                    &fd_path(&target),
                    libc::O_RDONLY | libc::O_DIRECTORY,
                    0,
                    0,
                )
                .map_err(fail(step("opening what tmpcopyup copies")))?,
            )
        } else {
            None
        };
        let source = m
            .source()
            .as_deref()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(typ));
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        mount(Some(&source), &fd_path(&target), Some(typ), opts.flags, data).map_err(fail(step("mount")))?;
        if let Some(covered) = covered {
            let top = root.open_path(dest).map_err(fail(step("reopening")))?;
            copy_tree(&fd_path(&covered), &fd_path(&top)).map_err(|e| format!("{}: {e}", step("tmpcopyup")))?;
        }
    }
    if opts.rec_set != 0 || opts.rec_clr != 0 {
        let top = root.open_path(dest).map_err(fail(step("reopening")))?;
        let attr = sys::MountAttr {
            attr_set: opts.rec_set,
            attr_clr: opts.rec_clr,
            propagation: 0,
            userns_fd: 0,
        };
        sys::mount_setattr_recursive(top.as_raw_fd(), &attr)
            .map_err(fail(step("setting recursive attributes (mount_setattr)")))?;
    }
    if !opts.propagation.is_empty() {
        let top = root.open_path(dest).map_err(fail(step("reopening")))?;
        mount(
            None::<&str>,
            &fd_path(&top),
            None::<&str>,
            opts.propagation,
            None::<&str>,
        )
        .map_err(fail(step("setting propagation")))?;
    }
    Ok(())
}

/// Copy a directory tree (files, directories, symlinks, with modes and
/// owners), never following a symlink: for `tmpcopyup`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(from).map_err(|e| format!("reading {}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link = std::fs::read_link(&src).map_err(|e| format!("{}: {e}", src.display()))?;
            std::os::unix::fs::symlink(&link, &dst).map_err(|e| format!("{}: {e}", dst.display()))?;
        } else if kind.is_dir() {
            std::fs::create_dir(&dst).map_err(|e| format!("{}: {e}", dst.display()))?;
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).map_err(|e| format!("{}: {e}", dst.display()))?;
        } else {
            continue; // devices, sockets and FIFOs are not copied
        }
        let _ = nix::unistd::fchownat(
            None,
            &dst,
            Some(nix::unistd::Uid::from_raw(meta.uid())),
            Some(nix::unistd::Gid::from_raw(meta.gid())),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        if !kind.is_symlink() {
            let _ = std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777));
        }
    }
    Ok(())
}

fn typ_or_bind(typ: &str, opts: &MountOptions) -> String {
    if opts.is_bind() {
        "bind".to_string()
    } else {
        typ.to_string()
    }
}

/// A `cgroup` mount. On a cgroup v2 host: cgroup2. On v1 or hybrid hosts,
/// as runc does: a tmpfs holding one mount per v1 hierarchy. With a cgroup
/// namespace of its own, each is a fresh cgroup mount, which shows the
/// namespace's root; without one, a bind of our cgroup directory in that
/// hierarchy.
///
/// Always read-only for now: the runtime does not give the container a
/// cgroup of its own yet (issue 6), so what it sees is the caller's
/// cgroup, which it must not be able to change.
fn mount_cgroup(root: &Root, dest: &Path, opts: &MountOptions, cgroupns: bool) -> Res<()> {
    let flags = (opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC)) | MsFlags::MS_RDONLY;
    let target = root.mkdir_all(dest)?;
    let unified = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    if unified {
        return mount(Some("cgroup2"), &fd_path(&target), Some("cgroup2"), flags, None::<&str>)
            .map_err(fail(format!("mount cgroup2 on {}", dest.display())));
    }
    mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        flags - MsFlags::MS_RDONLY,
        Some("mode=755"),
    )
    .map_err(fail(format!("mount tmpfs for cgroup v1 on {}", dest.display())))?;
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("reading /proc/self/cgroup: {e}"))?;
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    for h in crate::cgroups::v1_mounts(&mountinfo, &own) {
        let Some(name) = h.mountpoint.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        let sub_fd = root.mkdir_all(&sub)?;
        if cgroupns {
            let step = format!("mount cgroup ({}) on {}", h.names, sub.display());
            mount(
                Some("cgroup"),
                &fd_path(&sub_fd),
                Some("cgroup"),
                flags,
                Some(h.names.as_str()),
            )
            .map_err(fail(&step))?;
            continue;
        }
        // The mount may itself show only part of the hierarchy (its root
        // field): our path is relative to that.
        let rel = h.cg_path.strip_prefix(h.mount_root.as_str()).unwrap_or(&h.cg_path);
        let host_dir = h.mountpoint.join(rel.trim_start_matches('/'));
        let step = format!("bind cgroup {} on {}", host_dir.display(), sub.display());
        mount(
            Some(&host_dir),
            &fd_path(&sub_fd),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(fail(&step))?;
        let top = root.open_path(&sub).map_err(fail(&step))?;
        remount_bind(&top, flags).map_err(fail(&step))?;
    }
    let top = root.open_path(dest).map_err(fail("reopening cgroup tmpfs"))?;
    mount(
        None::<&str>,
        &fd_path(&top),
        None::<&str>,
        MsFlags::MS_REMOUNT | flags,
        Some("mode=755"),
    )
    .map_err(fail(format!("remounting {} read-only", dest.display())))?;
    Ok(())
}

/// The devices every container gets (config-linux.md "Default Devices").
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Is `/dev` a bind mount from the config? Then it is the caller's, and we
/// leave it alone (as runc does).
pub fn needs_dev_setup(spec: &Spec) -> bool {
    !spec.mounts().iter().flatten().any(|m| {
        relative(m.destination()) == Path::new("dev")
            && (m.typ().as_deref() == Some("bind") || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind"))
    })
}

/// Step 3: device nodes and the conventional symlinks in `/dev`.
pub fn setup_dev(root: &Root) -> Res<()> {
    let dev = root.mkdir_all(Path::new("/dev"))?;
    for &(name, major, minor) in DEFAULT_DEVICES {
        let made = nix::sys::stat::mknodat(
            Some(dev.as_raw_fd()),
            name,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(major, minor),
        );
        match made {
            Ok(()) | Err(Errno::EEXIST) => {}
            // In a user namespace mknod is refused: bind the host's node.
            Err(Errno::EPERM) => {
                let path = Path::new("/dev").join(name);
                let target = root.ensure_file(&path)?;
                mount(
                    Some(&Path::new("/dev").join(name)),
                    &fd_path(&target),
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(fail(format!("bind-mounting host /dev/{name}")))?;
            }
            Err(e) => return Err(fail(format!("mknod /dev/{name}"))(e)),
        }
    }
    let links: &[(&str, &str)] = &[
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ];
    let mut links = links.to_vec();
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    for (name, target) in links {
        match nix::unistd::symlinkat(target, Some(dev.as_raw_fd()), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(fail(format!("symlink /dev/{name} -> {target}"))(e)),
        }
    }
    Ok(())
}

/// Step 4: make the rootfs our `/` with `pivot_root(".", ".")`: the old root
/// ends up stacked on top of the new one, and we detach it. Unlike chroot,
/// nothing of the host stays reachable through `..` or open directories.
pub fn pivot_root(rootfs: &Path) -> Res<()> {
    let open_dir = |p: &Path| {
        nix::fcntl::open(
            p,
            nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(fail(format!("opening {}", p.display())))
    };
    let old_root = open_dir(Path::new("/"))?;
    let new_root = open_dir(rootfs)?;
    let result = (|| {
        nix::unistd::fchdir(new_root).map_err(fail(format!("chdir {}", rootfs.display())))?;
        sys::pivot_root(Path::new("."), Path::new(".")).map_err(fail(format!("pivot_root {}", rootfs.display())))?;
        // "." is still the new root; the old one is stacked on top of it.
        // Step onto the old root itself, so the propagation change below
        // applies to it and not to the container's mounts (which would turn
        // every `shared` mount of the config private).
        nix::unistd::fchdir(old_root).map_err(fail("chdir to the old root"))?;
        // Keep the detach of the old root from propagating to the host.
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(fail("making the old root a slave"))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(fail("detaching the old root"))?;
        nix::unistd::chdir("/").map_err(fail("chdir /"))
    })();
    let _ = nix::unistd::close(old_root);
    let _ = nix::unistd::close(new_root);
    result
}

/// `linux.rootfsPropagation` for the container's own `/` (config-linux.md
/// "Rootfs Mount Propagation"): before pivot_root the host's mounts were
/// made to stop propagating out; now the new root gets the asked-for kind,
/// e.g. `shared` puts it in a new peer group for nested containers.
pub fn set_root_propagation(spec: &Spec) -> Res<()> {
    let Some(name) = spec.linux().as_ref().and_then(|l| l.rootfs_propagation().clone()) else {
        return Ok(());
    };
    if name.is_empty() {
        return Ok(());
    }
    let flags = mount_opts::propagation(&name)
        .ok_or_else(|| format!("linux.rootfsPropagation: unknown propagation {name:?}"))?;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .map_err(fail(format!("making / {name} (linux.rootfsPropagation)")))
}

/// `--no-pivot`: move the rootfs mount onto `/` and chroot into it. Weaker
/// than pivot_root (the old root stays reachable to a process that can
/// escape a chroot), but works where pivot_root cannot (rootfs on ramfs).
pub fn move_root(rootfs: &Path) -> Res<()> {
    nix::unistd::chdir(rootfs).map_err(fail(format!("chdir {}", rootfs.display())))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(fail(format!("moving {} onto / (--no-pivot)", rootfs.display())))?;
    nix::unistd::chroot(".").map_err(fail("chroot ."))?;
    nix::unistd::chdir("/").map_err(fail("chdir /"))
}

/// After `pivot_root`: `linux.maskedPaths` (files hidden behind `/dev/null`,
/// directories behind an empty read-only tmpfs) and `linux.readonlyPaths`.
pub fn mask_and_protect(spec: &Spec) -> Res<()> {
    let Some(linux) = spec.linux() else { return Ok(()) };
    let root = Root::open(Path::new("/"))?;
    if let Some(masked) = linux.masked_paths() {
        // Bind from an fd we checked is the real null device, never from a
        // name the image could have replaced (CVE-2025-31133).
        // O_PATH|O_NOFOLLOW: the image's /dev/null could be a FIFO (open
        // would block forever) or a symlink; we only look at what it is.
        let null = sys::openat2(
            libc::AT_FDCWD,
            Path::new("/dev/null"),
            libc::O_PATH | libc::O_NOFOLLOW,
            0,
            0,
        )
        .map_err(fail("opening /dev/null for maskedPaths"))?;
        let st = nix::sys::stat::fstat(null.as_raw_fd()).map_err(fail("stat /dev/null"))?;
        let is_null = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR
            && st.st_rdev == nix::sys::stat::makedev(1, 3);
        if !is_null {
            return Err("maskedPaths: /dev/null in the container is not the null device".into());
        }
        let null_fd: OwnedFd = null;
        for p in masked {
            let Ok(fd) = root.open_path(Path::new(p)) else { continue };
            let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(fail(format!("stat masked path {p}")))?;
            let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
            let res = if is_dir {
                mount(
                    Some("tmpfs"),
                    &fd_path(&fd),
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    Some("size=0k,mode=755"),
                )
            } else {
                mount(
                    Some(&fd_path(&null_fd)),
                    &fd_path(&fd),
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
            };
            res.map_err(fail(format!("masking {p} (linux.maskedPaths)")))?;
        }
    }
    for p in linux.readonly_paths().iter().flatten() {
        let Ok(fd) = root.open_path(Path::new(p)) else { continue };
        mount(
            Some(&fd_path(&fd)),
            &fd_path(&fd),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(fail(format!("bind {p} (linux.readonlyPaths)")))?;
        let top = root.open_path(Path::new(p)).map_err(fail(format!("reopening {p}")))?;
        remount_readonly(&top).map_err(fail(format!("remounting {p} read-only (linux.readonlyPaths)")))?;
    }
    Ok(())
}

/// `root.readonly`: remount `/` read-only once everything is mounted on it.
pub fn readonly_root() -> Res<()> {
    let root = Root::open(Path::new("/"))?;
    let fd = root.open_path(Path::new("/")).map_err(fail("opening /"))?;
    remount_readonly(&fd).map_err(fail("remounting / read-only (root.readonly)"))
}

/// Remount a bind mount with `flags`. In a user namespace the kernel locks
/// the nosuid/nodev/noexec/ro/atime flags a mount inherited from the host;
/// a remount that would clear one is refused with EPERM, so retry with the
/// locked ones kept, as runc does.
fn remount_bind(fd: &OwnedFd, flags: MsFlags) -> Result<(), Errno> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(None::<&str>, &fd_path(fd), None::<&str>, base | flags, None::<&str>) {
        Err(Errno::EPERM) => {
            let locked = current_flags(fd)?;
            mount(
                None::<&str>,
                &fd_path(fd),
                None::<&str>,
                base | flags | locked,
                None::<&str>,
            )
        }
        other => other,
    }
}

/// The per-mount flags a mount has now, as MS_* flags.
fn current_flags(fd: &OwnedFd) -> Result<MsFlags, Errno> {
    use nix::sys::statvfs::FsFlags;
    let st = nix::sys::statvfs::fstatvfs(fd)?;
    let mut flags = MsFlags::empty();
    for (have, want) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        // ST_RELATIME is the kernel's 0x1000; nix names it only for glibc.
        (FsFlags::from_bits_retain(0x1000), MsFlags::MS_RELATIME),
    ] {
        if st.flags().contains(have) {
            flags |= want;
        }
    }
    Ok(flags)
}

/// Remount read-only, keeping the nosuid/nodev/noexec flags the mount has:
/// a bind remount that dropped them would be refused (or would loosen them).
fn remount_readonly(fd: &OwnedFd) -> Result<(), Errno> {
    let keep = current_flags(fd)? & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    remount_bind(fd, MsFlags::MS_RDONLY | keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_mount_is_the_longest_prefix() {
        let mi = "1 0 8:1 / / rw shared:1 - ext4 /dev/vda rw\n\
                  2 1 0:5 / /work rw - ext4 /dev/vdb rw\n\
                  3 1 0:6 / /workshop rw shared:7 - tmpfs tmpfs rw\n";
        assert_eq!(
            parent_mount(mi, Path::new("/work/b/rootfs")),
            Some(("/work".into(), false))
        );
        assert_eq!(parent_mount(mi, Path::new("/srv/rootfs")), Some(("/".into(), true)));
    }

    #[test]
    fn relative_strips_root() {
        assert_eq!(relative(Path::new("/dev/pts")), PathBuf::from("dev/pts"));
        assert_eq!(relative(Path::new("/")), PathBuf::from("."));
    }
}
