//! Terminals (config.md `process.terminal`, `consoleSize`) and runc's
//! console-socket protocol.
//!
//! ```text
//!  caller (containerd shim, podman, a test)      runtime               init (in the container)
//!  listens on PATH ◄──── connect(PATH) ────────── create --console-socket PATH
//!                                                 passes the socket fd ──► after pivot_root:
//!                                                                          open /dev/ptmx (the container's devpts)
//!                                                                          TIOCSWINSZ consoleSize
//!  recvmsg: SCM_RIGHTS(master) ◄──────────────────────────────────────────  sendmsg(master)
//!                                                                          bind the slave on /dev/console,
//!                                                                          slave → stdin/stdout/stderr,
//!                                                                          setsid + TIOCSCTTY
//! ```
//!
//! The pty lives on the container's own devpts, so the container's
//! `/dev/pts` shows it. Without `--console-socket`, `run` plays the caller
//! itself through a socketpair and proxies the master to its own terminal.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

use crate::sys;

/// Environment variable naming the console socket's fd in the init.
pub const CONSOLE_FD_ENV: &str = "_MINI_CONTAINERD_CONSOLE_FD";

/// In the container, after `pivot_root`: make the pty, hand the master to
/// the caller, and make the slave our terminal. With `console` true (the
/// container's init) the slave is also bind-mounted on /dev/console.
pub fn setup_in_container(socket: OwnedFd, size: Option<(u16, u16)>, console: bool) -> Result<(), String> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| format!("terminal: opening /dev/ptmx: {}", e.desc()))?;
    nix::pty::grantpt(&master).map_err(|e| format!("terminal: grantpt: {}", e.desc()))?;
    nix::pty::unlockpt(&master).map_err(|e| format!("terminal: unlockpt: {}", e.desc()))?;
    let slave_path = nix::pty::ptsname_r(&master).map_err(|e| format!("terminal: ptsname: {}", e.desc()))?;
    let master = sys::owned_from_pty(master);
    if let Some((rows, cols)) = size {
        sys::set_winsize(master.as_raw_fd(), rows, cols)
            .map_err(|e| format!("process.consoleSize: TIOCSWINSZ: {}", e.desc()))?;
    }
    if console {
        mount_console(&slave_path)?;
    }
    send_fd(socket.as_raw_fd(), master.as_raw_fd(), "/dev/ptmx")
        .map_err(|e| format!("terminal: sending the pty master over the console socket: {}", e.desc()))?;
    drop(socket);
    drop(master);

    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags_noctty()
        .open(&slave_path)
        .map_err(|e| format!("terminal: opening {slave_path}: {e}"))?;
    for fd in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), fd).map_err(|e| format!("terminal: dup2 to fd {fd}: {}", e.desc()))?;
    }
    drop(slave);
    // A new session whose controlling terminal is the pty, so ^C on it
    // becomes SIGINT for the process group in the foreground.
    match nix::unistd::setsid() {
        // The init made its session already.
        Ok(_) | Err(nix::errno::Errno::EPERM) => {}
        Err(e) => return Err(format!("terminal: setsid: {}", e.desc())),
    }
    sys::set_controlling_tty(0).map_err(|e| format!("terminal: TIOCSCTTY: {}", e.desc()))
}

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}

impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NOCTTY)
    }
}

/// /dev/console is the container's terminal (config-linux.md "Default
/// Devices": /dev/console is set up if terminal is enabled).
fn mount_console(slave: &str) -> Result<(), String> {
    let console = Path::new("/dev/console");
    if !console.exists() {
        std::fs::File::create(console).map_err(|e| format!("terminal: creating /dev/console: {e}"))?;
    }
    mount(Some(slave), console, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| format!("terminal: bind-mounting {slave} on /dev/console: {}", e.desc()))
}

/// `--console-socket PATH`: connect to the caller's listening socket.
pub fn connect(path: &Path) -> crate::Result<OwnedFd> {
    use crate::error::Context;
    let s = std::os::unix::net::UnixStream::connect(path)
        .context(|| format!("connecting to console socket {}", path.display()))?;
    Ok(s.into())
}

/// Send one fd with SCM_RIGHTS; the payload is its name, as runc sends it.
pub fn send_fd(socket: RawFd, fd: RawFd, name: &str) -> nix::Result<()> {
    send_fd_with(socket, fd, name.as_bytes())
}

/// Send one fd with SCM_RIGHTS in the first message, and `payload` whole
/// (further sendmsg calls carry the rest, without fds, as the spec allows).
pub fn send_fd_with(socket: RawFd, fd: RawFd, payload: &[u8]) -> nix::Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let mut sent = sendmsg::<()>(socket, &[IoSlice::new(payload)], &cmsg, MsgFlags::empty(), None)?;
    while sent < payload.len() {
        sent += sendmsg::<()>(socket, &[IoSlice::new(&payload[sent..])], &[], MsgFlags::empty(), None)?;
    }
    Ok(())
}

/// Receive one fd sent with SCM_RIGHTS.
pub fn recv_fd(socket: RawFd) -> Result<OwnedFd, String> {
    recv_fd_with(socket).map(|(fd, _)| fd)
}

/// Receive one fd sent with SCM_RIGHTS, and the payload of that message.
pub fn recv_fd_with(socket: RawFd) -> Result<(OwnedFd, Vec<u8>), String> {
    let mut buf = [0u8; 4096];
    let (len, received) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(socket, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            .map_err(|e| format!("receiving an fd: {}", e.desc()))?;
        let mut received = None;
        for cmsg in msg.cmsgs().map_err(|e| format!("receiving an fd: {}", e.desc()))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(fd) = fds.first() {
                    received = Some(sys::take_received_fd(*fd));
                }
            }
        }
        (msg.bytes, received)
    };
    match received {
        Some(fd) => Ok((fd, buf[..len].to_vec())),
        None => Err("no file descriptor came with the message".into()),
    }
}

/// `run` with a terminal and no console socket: our terminal is the
/// container's. Stdin goes raw (if it is a terminal) and is restored when
/// the proxy finishes.
pub struct Proxy {
    master: OwnedFd,
    saved: Option<Termios>,
    output: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(master: OwnedFd) -> Result<Proxy, String> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        if let Some(saved) = &saved {
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
                .map_err(|e| format!("setting the terminal raw: {}", e.desc()))?;
        }
        let mut proxy = Proxy {
            master,
            saved,
            output: None,
        };
        proxy.resize();
        let mut to_master = std::fs::File::from(proxy.master.try_clone().map_err(|e| e.to_string())?);
        let mut from_master = std::fs::File::from(proxy.master.try_clone().map_err(|e| e.to_string())?);
        // Input: never joined (a read on our stdin may block forever); it
        // ends with the process.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut to_master);
        });
        // Output: until the pty's last slave fd is closed (read gives EIO).
        let output = std::thread::spawn(move || {
            let mut stdout = std::io::stdout();
            let mut buf = [0u8; 8192];
            while let Ok(n) = from_master.read(&mut buf) {
                if n == 0 || stdout.write_all(&buf[..n]).is_err() {
                    break;
                }
                let _ = stdout.flush();
            }
        });
        proxy.output = Some(output);
        Ok(proxy)
    }

    /// Give the container's terminal our terminal's size (on SIGWINCH too).
    pub fn resize(&self) {
        if let Ok((rows, cols)) = sys::get_winsize(std::io::stdin().as_raw_fd()) {
            let _ = sys::set_winsize(self.master.as_raw_fd(), rows, cols);
        }
    }

    /// Drain the output and put our terminal back as it was.
    pub fn finish(mut self) {
        if let Some(out) = self.output.take() {
            let _ = out.join();
        }
        self.restore();
    }

    fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &saved);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn fd_passing_round_trip() {
        let (a, b) = UnixStream::pair().expect("pair");
        let file = std::fs::File::open("/proc/self/status").expect("open");
        send_fd(a.as_raw_fd(), file.as_raw_fd(), "/dev/ptmx").expect("send");
        let got = recv_fd(b.as_raw_fd()).expect("recv");
        let mut text = String::new();
        std::fs::File::from(got).read_to_string(&mut text).expect("read");
        assert!(text.contains("Name:"));
    }
}
