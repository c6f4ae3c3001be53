//! Modes that do not depend on the umask. Every file and directory of the PKI is created
//! with its final mode (a umask can only remove bits, never add them), and what already
//! exists is tightened when it is ours or refused when it is not: another local user must
//! reach neither the keys nor the admin socket next to them.

use std::fs::{self, DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::PkiError;

/// PKI directories: the owner only.
pub(super) const DIR_MODE: u32 = 0o700;
/// Private keys.
pub(super) const KEY_MODE: u32 = 0o600;
/// Certificates: public, but nobody else may write them.
pub(super) const CERT_MODE: u32 = 0o644;

/// A mode `init` changed on something that existed: path, old mode, new mode.
pub type Tightened = (PathBuf, u32, u32);

/// Creates `dir` and missing parents with mode 0700, or makes an existing one 0700. Refuses
/// a directory of another user and a shared one (sticky bit, like /tmp): tightening those
/// would take them from their other users.
pub(super) fn private_dir(dir: &Path, tightened: &mut Vec<Tightened>) -> Result<(), PkiError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| io("create directory", dir, source))?;
    let meta = fs::metadata(dir).map_err(|source| io("inspect", dir, source))?;
    let mode = meta.mode() & 0o7777;
    let me = nix::unistd::geteuid().as_raw();
    let refuse = |reason: String| PkiError::NotPrivate {
        path: dir.to_owned(),
        reason,
    };
    if !meta.is_dir() {
        return Err(refuse("is not a directory".into()));
    }
    if meta.uid() != me {
        return Err(refuse(format!(
            "belongs to uid {}, not to this user (uid {me})",
            meta.uid()
        )));
    }
    if mode & 0o1000 != 0 {
        return Err(refuse(format!(
            "is a shared directory (mode {mode:04o}, sticky)"
        )));
    }
    if mode != DIR_MODE {
        set_mode(dir, DIR_MODE)?;
        tightened.push((dir.to_owned(), mode, DIR_MODE));
    }
    Ok(())
}

/// Removes from an existing file the bits `max` does not allow (a key left 0644 by an older
/// otarig or by hand becomes 0600).
pub(super) fn tighten_file(
    path: &Path,
    max: u32,
    tightened: &mut Vec<Tightened>,
) -> Result<(), PkiError> {
    let mode = fs::metadata(path)
        .map_err(|source| io("inspect", path, source))?
        .mode()
        & 0o7777;
    if mode & !max != 0 {
        set_mode(path, mode & max)?;
        tightened.push((path.to_owned(), mode, mode & max));
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), PkiError> {
    fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(|source| io("change the mode of", path, source))
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> PkiError {
    PkiError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
