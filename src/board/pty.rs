//! Pseudo-terminal pairs whose descriptors are close-on-exec from birth. The rig starts
//! board processes and tools from many threads at once; a pty end inherited by another
//! board's process would keep this pty open after its own board is killed, and the rig
//! would wait for an end of output that never comes.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use nix::fcntl::OFlag;

pub struct PtyPair {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    /// The slave's device, e.g. `/dev/pts/3`.
    pub slave_path: PathBuf,
}

pub fn open_pair() -> io::Result<PtyPair> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let name = nix::pty::ptsname_r(&master)?;
    // std opens with O_CLOEXEC.
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)?;
    // SAFETY: the descriptor comes straight from the PtyMaster, which gives up its ownership.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    Ok(PtyPair {
        master,
        slave: slave.into(),
        slave_path: name.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use std::os::fd::AsRawFd;

    #[test]
    fn both_ends_are_close_on_exec() {
        let pair = open_pair().unwrap();
        for fd in [&pair.master, &pair.slave] {
            let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
            assert!(flags.contains(FdFlag::FD_CLOEXEC));
        }
    }

    #[test]
    fn a_process_started_meanwhile_does_not_inherit_either_end() {
        let pair = open_pair().unwrap();
        let slave =
            std::fs::read_link(format!("/proc/self/fd/{}", pair.slave.as_raw_fd())).unwrap();
        assert_eq!(slave, pair.slave_path);
        let mut other = std::process::Command::new("sleep")
            .arg("5")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let held: Vec<_> = std::fs::read_dir(format!("/proc/{}/fd", other.id()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
            .collect();
        let _ = other.kill();
        let _ = other.wait();
        assert!(!held.contains(&slave), "{held:?} holds {}", slave.display());
    }
}
