//! Where the bench PKI keeps its files. Users script against these paths, so
//! they are fixed: `DIR/ca.pem`, `DIR/things/<thing>.pem`, ...

use std::path::{Path, PathBuf};

use super::PkiError;

/// The file layout of one PKI directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiLayout {
    dir: PathBuf,
}

impl PkiLayout {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    pub fn endpoint_cert(&self) -> PathBuf {
        self.dir.join("endpoint.pem")
    }

    pub fn endpoint_key(&self) -> PathBuf {
        self.dir.join("endpoint.key")
    }

    pub fn things_dir(&self) -> PathBuf {
        self.dir.join("things")
    }

    /// `DIR/things/<thing>.pem`; the name must be valid (see [`validate_thing_name`]).
    pub fn thing_cert(&self, thing: &str) -> PathBuf {
        self.things_dir().join(format!("{thing}.pem"))
    }

    pub fn thing_key(&self, thing: &str) -> PathBuf {
        self.things_dir().join(format!("{thing}.key"))
    }

    pub fn codesign_cert(&self) -> PathBuf {
        self.dir.join("codesign.pem")
    }

    pub fn codesign_key(&self) -> PathBuf {
        self.dir.join("codesign.key")
    }

    pub fn untrusted_codesign_cert(&self) -> PathBuf {
        self.dir.join("untrusted-codesign.pem")
    }

    pub fn untrusted_codesign_key(&self) -> PathBuf {
        self.dir.join("untrusted-codesign.key")
    }
}

/// AWS IoT thing names: 1..128 of `[a-zA-Z0-9:_-]`. Also keeps names safe as
/// file names under `things/`.
pub fn validate_thing_name(name: &str) -> Result<(), PkiError> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidThingName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thing_names_follow_the_aws_pattern() {
        for good in ["Thing1", "a", "x:y_z-1", &"a".repeat(128)] {
            assert!(validate_thing_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a/b", "../x", "th ing", "é", &"a".repeat(129)] {
            assert!(validate_thing_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn thing_files_live_under_things() {
        let l = PkiLayout::new("/p");
        assert_eq!(l.thing_cert("T1"), Path::new("/p/things/T1.pem"));
        assert_eq!(l.thing_key("T1"), Path::new("/p/things/T1.key"));
    }
}
