//! The bench's keys and admin socket stay the bench user's whatever the umask: the real
//! `otarig` started under `umask 000`, then another local user (uid/gid 65534, in a forked
//! child) trying to reach what it created.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::support::process::{otarig_umask0, Background, USAGE};

const NOBODY: u32 = 65534;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// What the other user tries.
enum Attempt<'a> {
    Read(&'a Path),
    Connect(&'a Path),
}

/// Runs `attempt` as uid/gid 65534 in a forked child; `Ok(())` or the errno it met.
fn as_other_user(attempt: Attempt) -> Result<(), nix::errno::Errno> {
    use nix::errno::Errno;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    // Everything the child needs is prepared here: after fork it only makes system calls.
    let (path, connect) = match attempt {
        Attempt::Read(p) => (p, false),
        Attempt::Connect(p) => (p, true),
    };
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let addr = nix::sys::socket::UnixAddr::new(path).unwrap();
    // SAFETY: the child calls only async-signal-safe functions, then _exit.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => unsafe {
            let groups: [libc::gid_t; 0] = [];
            if libc::setgroups(0, groups.as_ptr()) != 0
                || libc::setgid(NOBODY) != 0
                || libc::setuid(NOBODY) != 0
            {
                libc::_exit(200);
            }
            let ok = if connect {
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                use nix::sys::socket::SockaddrLike;
                fd >= 0 && libc::connect(fd, addr.as_ptr().cast(), addr.len()) == 0
            } else {
                libc::open(c_path.as_ptr(), libc::O_RDONLY) >= 0
            };
            libc::_exit(if ok { 0 } else { *libc::__errno_location() });
        },
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, 0) => Ok(()),
            WaitStatus::Exited(_, 200) => panic!("the child could not become uid {NOBODY}"),
            WaitStatus::Exited(_, errno) => Err(Errno::from_raw(errno)),
            other => panic!("the other user's child ended as {other:?}"),
        },
    }
}

/// A temporary folder every user may traverse, so only what otarig creates inside guards it.
fn open_tempdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    tmp
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_cloud_started_under_umask_000_keeps_its_keys_and_admin_socket_from_other_users() {
    let tmp = open_tempdir();
    let pki = tmp.path().join("state/pki");
    let mut cloud = Background::otarig_umask0(&[
        "cloud",
        "--pki",
        pki.to_str().unwrap(),
        "--things",
        "Thing1",
        "--bind",
        "127.0.0.1:0",
    ]);
    let banner = cloud.ready();
    let socket = pki.join("admin.sock");
    assert!(
        banner.iter().any(|l| l.contains(socket.to_str().unwrap())),
        "{banner:?}"
    );

    for dir in [tmp.path().join("state"), pki.clone(), pki.join("things")] {
        assert_eq!(mode(&dir), 0o700, "{}: {:04o}", dir.display(), mode(&dir));
    }
    let files = files_under(&pki);
    assert!(files.len() >= 11, "{files:?}");
    for file in &files {
        let meta = std::fs::metadata(file).unwrap();
        let want = match file.extension().and_then(|e| e.to_str()) {
            Some("key") => 0o600,
            Some("pem") => 0o644,
            _ => {
                assert!(meta.file_type().is_socket(), "{}", file.display());
                0o600
            }
        };
        let got = meta.mode() & 0o7777;
        assert_eq!(got, want, "{}: mode {got:04o}", file.display());
    }

    // The owner reaches the socket: it is live.
    std::os::unix::net::UnixStream::connect(&socket).expect("the owner connects");
    if !is_root() {
        eprintln!("skipped the other-user half: becoming uid {NOBODY} needs root");
        return;
    }
    // Control: the other user can reach the temporary folder, so a refusal below is otarig's.
    let public = tmp.path().join("public.txt");
    std::fs::write(&public, "x").unwrap();
    chmod(&public, 0o644);
    assert_eq!(as_other_user(Attempt::Read(&public)), Ok(()));
    use nix::errno::Errno::EACCES;
    assert_eq!(as_other_user(Attempt::Connect(&socket)), Err(EACCES));
    assert_eq!(
        as_other_user(Attempt::Read(&pki.join("ca.key"))),
        Err(EACCES)
    );
    assert_eq!(
        as_other_user(Attempt::Read(&pki.join("things/Thing1.key"))),
        Err(EACCES)
    );
    assert_eq!(cloud.interrupt().code(), Some(0), "{}", cloud.context());
}

#[test]
fn pki_init_tightens_what_it_owns_and_refuses_a_shared_or_foreign_directory() {
    let tmp = open_tempdir();
    let dir = tmp.path().join("open");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o777);
    let init = |dir: &Path| otarig_umask0(&["pki", "init", "--dir", dir.to_str().unwrap()]);

    let out = init(&dir);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(mode(&dir), 0o700);
    assert!(
        out.stderr.contains(dir.to_str().unwrap()) && out.stderr.contains("0777"),
        "says what it tightened: {}",
        out.stderr
    );
    // Files loosened by hand (or by an older otarig) are narrowed when reused.
    chmod(&dir.join("ca.key"), 0o644);
    chmod(&dir.join("ca.pem"), 0o666);
    let out = init(&dir);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(mode(&dir.join("ca.key")), 0o600, "{}", out.stderr);
    assert_eq!(mode(&dir.join("ca.pem")), 0o644, "{}", out.stderr);

    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let out = init(&shared);
    assert_eq!(out.code, Some(USAGE), "{}", out.stderr);
    assert!(
        out.stderr.contains(shared.to_str().unwrap()) && out.stderr.contains("shared"),
        "{}",
        out.stderr
    );
    assert_eq!(mode(&shared), 0o1777, "left alone");
    assert!(!shared.join("ca.key").exists(), "nothing written");

    if !is_root() {
        eprintln!("skipped the foreign-directory half: chown needs root");
        return;
    }
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    chmod(&foreign, 0o755);
    std::os::unix::fs::chown(&foreign, Some(NOBODY), Some(NOBODY)).unwrap();
    let out = init(&foreign);
    assert_eq!(out.code, Some(USAGE), "{}", out.stderr);
    assert!(
        out.stderr.contains(foreign.to_str().unwrap()) && out.stderr.contains("uid 65534"),
        "{}",
        out.stderr
    );
    assert_eq!(mode(&foreign), 0o755, "left alone");
    assert!(!foreign.join("ca.key").exists(), "nothing written");
}
