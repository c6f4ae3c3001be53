//! The board's non-volatile storage: its identity and credentials, as provisioned on a
//! real board, kept as `nvs.json` in the board folder. The rig writes it when it creates
//! a board ([`super::provision`]); firmware that does not bake a thing name in reads it
//! from here (the fix of the field report).
//!
//! Relative paths in the file are relative to the board folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const NVS_FILE: &str = "nvs.json";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// TLS with the client certificate (AWS IoT); plain TCP when false.
    pub tls: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nvs {
    pub thing_name: String,
    pub endpoint: Endpoint,
    /// CA that issued the endpoint's certificate (PEM).
    pub ca_cert: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// Where the PAL looks up the job's `certfile` (the PKCS#11 labels of a real board).
    pub codesign_cert_dir: PathBuf,
    /// The trusted code-signing certificate: compiled into the bootloader (its public
    /// key) and into the firmware (the PAL's fallback certificate).
    pub bootloader_key: PathBuf,
    /// Printed once when the CPU jumps into flash holding no app; silent when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_line: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum NvsError {
    #[error("board NVS {path}: {source}; provision the board (the rig writes it when it creates a simulated board)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("board NVS {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("board NVS {path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Nvs {
    /// Reads `dir/nvs.json`; relative paths come back joined to `dir`.
    pub fn load(dir: &Path) -> Result<Nvs, NvsError> {
        let path = dir.join(NVS_FILE);
        let text = std::fs::read(&path).map_err(|source| NvsError::Read {
            path: path.clone(),
            source,
        })?;
        let mut nvs: Nvs =
            serde_json::from_slice(&text).map_err(|source| NvsError::Parse { path, source })?;
        for p in [
            &mut nvs.ca_cert,
            &mut nvs.client_cert,
            &mut nvs.client_key,
            &mut nvs.codesign_cert_dir,
            &mut nvs.bootloader_key,
        ] {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        Ok(nvs)
    }

    /// Writes `dir/nvs.json` (creating `dir`), atomically by rename.
    pub fn store(&self, dir: &Path) -> Result<(), NvsError> {
        let path = dir.join(NVS_FILE);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(".{NVS_FILE}.tmp"));
            std::fs::write(
                &tmp,
                serde_json::to_vec_pretty(self).expect("NVS serializes"),
            )?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|source| NvsError::Write { path, source })
    }
}

/// The simulator's identity boundary: the rig writes its NVS file in the board folder
/// before the board boots, as a factory would program a chip's NVS.
pub struct NvsProvision {
    pub dir: std::path::PathBuf,
}

#[async_trait::async_trait]
impl crate::board::Provision for NvsProvision {
    async fn provision(
        &self,
        identity: &crate::board::identity::Identity,
    ) -> Result<(), crate::board::BoardError> {
        let nvs = Nvs {
            thing_name: identity.thing.clone(),
            endpoint: Endpoint {
                host: identity.host.clone(),
                port: identity.port,
                tls: identity.tls,
            },
            ca_cert: identity.root_ca.clone(),
            client_cert: identity.client_cert.clone(),
            client_key: identity.client_key.clone(),
            // The PAL looks a job's `certfile` up next to the trusted certificate.
            codesign_cert_dir: identity
                .codesign_cert
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            bootloader_key: identity.codesign_cert.clone(),
            fault_line: None,
        };
        std::fs::create_dir_all(&self.dir)
            .and_then(|_| nvs.store(&self.dir).map_err(std::io::Error::other))
            .map_err(|e| {
                crate::board::BoardError::io(format!("write the NVS in {}", self.dir.display()), e)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvs_roundtrips_and_resolves_relative_paths_against_the_board_folder() {
        let dir = tempfile::tempdir().unwrap();
        let nvs = Nvs {
            thing_name: "Thing1".into(),
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port: 8883,
                tls: true,
            },
            ca_cert: "/pki/ca.pem".into(),
            client_cert: "certs/Thing1.pem".into(),
            client_key: "/pki/things/Thing1.key".into(),
            codesign_cert_dir: "/pki".into(),
            bootloader_key: "/pki/codesign.pem".into(),
            fault_line: None,
        };
        nvs.store(dir.path()).unwrap();
        let back = Nvs::load(dir.path()).unwrap();
        assert_eq!(back.client_cert, dir.path().join("certs/Thing1.pem"));
        assert_eq!(
            Nvs {
                client_cert: nvs.client_cert.clone(),
                ..back
            },
            nvs
        );
    }

    #[test]
    fn a_missing_nvs_names_the_file_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = Nvs::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("nvs.json") && err.contains("provision"),
            "{err}"
        );
    }
}
