//! `pki::init`: the PKI directory on disk. Existing material is reused and
//! never silently overwritten; what is missing is issued; every file and
//! directory is created with its final mode (`private`), whatever the umask.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::inspect::{
    cert_common_name, cert_hosts, is_ca, is_issued_by, key_matches_cert, pem_cert_der,
};
use super::issue::{
    endpoint_hosts, issue_ca, issue_code_signer, issue_endpoint, issue_thing,
    issue_untrusted_code_signer, Host, Issued,
};
use super::private::{private_dir, tighten_file, Tightened, CERT_MODE, KEY_MODE};
use super::{validate_thing_name, PkiError, PkiLayout};

/// What `init` should make sure exists.
#[derive(Clone, Debug, Default)]
pub struct PkiOptions {
    /// Things that need a client certificate (CN = thing name).
    pub things: Vec<String>,
    /// Host names / IP addresses the endpoint certificate must cover besides
    /// `localhost` and `127.0.0.1`.
    pub hosts: Vec<String>,
    /// When the existing endpoint certificate lacks a requested host, issue a
    /// new one (replacing endpoint.pem/endpoint.key) instead of failing.
    pub reissue_endpoint: bool,
}

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileAction {
    Created,
    Reused,
    /// Replaced on request (`PkiOptions::reissue_endpoint`).
    Reissued,
}

/// The files `init` looked after, in the order it handled them.
#[derive(Clone, Debug)]
pub struct InitReport {
    pub layout: PkiLayout,
    pub files: Vec<(PathBuf, FileAction)>,
    /// Existing directories and files whose mode was too open (path, was, now).
    pub tightened: Vec<Tightened>,
}

impl InitReport {
    pub fn with_action(&self, action: FileAction) -> impl Iterator<Item = &Path> {
        self.files
            .iter()
            .filter(move |(_, a)| *a == action)
            .map(|(p, _)| p.as_path())
    }

    pub fn created(&self) -> impl Iterator<Item = &Path> {
        self.with_action(FileAction::Created)
    }

    pub fn reused(&self) -> impl Iterator<Item = &Path> {
        self.with_action(FileAction::Reused)
    }

    fn pair(&mut self, cert: &Path, key: &Path, action: FileAction) {
        self.files.push((cert.to_owned(), action));
        self.files.push((key.to_owned(), action));
    }
}

/// Creates or completes the PKI in `dir`.
pub fn init(dir: &Path, opts: &PkiOptions) -> Result<InitReport, PkiError> {
    // Validate every input before touching the disk.
    for thing in &opts.things {
        validate_thing_name(thing)?;
    }
    let hosts = endpoint_hosts(&opts.hosts)?;

    let layout = PkiLayout::new(dir);
    let mut report = InitReport {
        layout: layout.clone(),
        files: Vec::new(),
        tightened: Vec::new(),
    };
    private_dir(layout.dir(), &mut report.tightened)?;
    private_dir(&layout.things_dir(), &mut report.tightened)?;

    let (ca_cert, ca_key) = (layout.ca_cert(), layout.ca_key());
    let ca = match load_pair(&ca_cert, &ca_key)? {
        Some(ca) => {
            if !is_ca(&der_of(&ca, &ca_cert)?) {
                return Err(PkiError::BadFile {
                    path: ca_cert,
                    reason: "it is not a CA certificate".into(),
                });
            }
            report.pair(&ca_cert, &ca_key, FileAction::Reused);
            ca
        }
        None => {
            let ca = issue_ca()?;
            write_pair(&ca_cert, &ca_key, &ca, &mut report)?;
            ca
        }
    };
    let ca_der = der_of(&ca, &ca_cert)?;

    endpoint(
        &layout,
        &ca,
        &ca_der,
        &hosts,
        opts.reissue_endpoint,
        &mut report,
    )?;

    // Code signers are not checked against the CA: boards trust their public
    // keys, so replacing them would silently change what boards accept.
    let (cs_cert, cs_key) = (layout.codesign_cert(), layout.codesign_key());
    match load_pair(&cs_cert, &cs_key)? {
        Some(_) => report.pair(&cs_cert, &cs_key, FileAction::Reused),
        None => write_pair(&cs_cert, &cs_key, &issue_code_signer(&ca)?, &mut report)?,
    }
    let (un_cert, un_key) = (
        layout.untrusted_codesign_cert(),
        layout.untrusted_codesign_key(),
    );
    match load_pair(&un_cert, &un_key)? {
        Some(_) => report.pair(&un_cert, &un_key, FileAction::Reused),
        None => write_pair(
            &un_cert,
            &un_key,
            &issue_untrusted_code_signer()?,
            &mut report,
        )?,
    }

    for thing in &opts.things {
        let (cert, key) = (layout.thing_cert(thing), layout.thing_key(thing));
        match load_pair(&cert, &key)? {
            Some(existing) => {
                let der = der_of(&existing, &cert)?;
                check_issued_by(&der, &cert, &ca_der, &layout)?;
                let cn = cert_common_name(&der);
                if cn.as_deref() != Some(thing.as_str()) {
                    return Err(PkiError::BadFile {
                        path: cert,
                        reason: format!(
                            "its common name is {}, not the thing name `{thing}`",
                            cn.map_or("missing".to_owned(), |cn| format!("`{cn}`"))
                        ),
                    });
                }
                report.pair(&cert, &key, FileAction::Reused);
            }
            None => write_pair(&cert, &key, &issue_thing(&ca, thing)?, &mut report)?,
        }
    }
    let reused: Vec<PathBuf> = report.reused().map(Path::to_owned).collect();
    for path in reused {
        let max = if path.extension().is_some_and(|e| e == "key") {
            KEY_MODE
        } else {
            CERT_MODE
        };
        tighten_file(&path, max, &mut report.tightened)?;
    }
    Ok(report)
}

/// The things that have a certificate in `dir`, sorted. A directory without
/// `things/` has none.
pub fn things_in(dir: &Path) -> Result<Vec<String>, PkiError> {
    let things_dir = PkiLayout::new(dir).things_dir();
    let entries = match fs::read_dir(&things_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io_err("list", &things_dir, source)),
    };
    let mut things = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io_err("list", &things_dir, e))?.path();
        if path.extension().is_some_and(|e| e == "pem") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                if validate_thing_name(stem).is_ok() {
                    things.push(stem.to_owned());
                }
            }
        }
    }
    things.sort();
    Ok(things)
}

fn endpoint(
    layout: &PkiLayout,
    ca: &Issued,
    ca_der: &[u8],
    hosts: &[Host],
    reissue: bool,
    report: &mut InitReport,
) -> Result<(), PkiError> {
    let (cert, key) = (layout.endpoint_cert(), layout.endpoint_key());
    let Some(existing) = load_pair(&cert, &key)? else {
        return write_pair(&cert, &key, &issue_endpoint(ca, hosts)?, report);
    };
    let der = der_of(&existing, &cert)?;
    check_issued_by(&der, &cert, ca_der, layout)?;
    let covered = cert_hosts(&der).unwrap_or_default();
    let Some(missing) = hosts.iter().find(|h| !covered.contains(h)) else {
        report.pair(&cert, &key, FileAction::Reused);
        return Ok(());
    };
    if !reissue {
        return Err(PkiError::EndpointMissingHost {
            cert,
            key,
            host: missing.to_string(),
            covered: covered.iter().map(Host::to_string).collect(),
        });
    }
    // Cover the old names too, so nothing that connected before stops working.
    let mut all = hosts.to_vec();
    all.extend(covered.into_iter().filter(|h| !hosts.contains(h)));
    let issued = issue_endpoint(ca, &all)?;
    replace(&key, &issued.key_pem, KEY_MODE)?;
    replace(&cert, &issued.cert_pem, CERT_MODE)?;
    report.pair(&cert, &key, FileAction::Reissued);
    Ok(())
}

fn check_issued_by(
    der: &[u8],
    cert: &Path,
    ca_der: &[u8],
    layout: &PkiLayout,
) -> Result<(), PkiError> {
    if is_issued_by(der, ca_der) {
        Ok(())
    } else {
        Err(PkiError::NotIssuedByCa {
            cert: cert.to_owned(),
            ca: layout.ca_cert(),
        })
    }
}

fn der_of(pair: &Issued, cert: &Path) -> Result<Vec<u8>, PkiError> {
    pem_cert_der(&pair.cert_pem)
        .map(|d| d.to_vec())
        .map_err(|reason| PkiError::BadFile {
            path: cert.to_owned(),
            reason,
        })
}

/// Both files, checked to belong together; `None` when neither exists.
fn load_pair(cert: &Path, key: &Path) -> Result<Option<Issued>, PkiError> {
    match (read_optional(cert)?, read_optional(key)?) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(PkiError::HalfPair {
            present: cert.to_owned(),
            missing: key.to_owned(),
        }),
        (None, Some(_)) => Err(PkiError::HalfPair {
            present: key.to_owned(),
            missing: cert.to_owned(),
        }),
        (Some(cert_pem), Some(key_pem)) => {
            let pair = Issued { cert_pem, key_pem };
            let der = der_of(&pair, cert)?;
            match key_matches_cert(&pair.key_pem, &der) {
                Ok(true) => Ok(Some(pair)),
                Ok(false) => Err(PkiError::KeyMismatch {
                    cert: cert.to_owned(),
                    key: key.to_owned(),
                }),
                Err(reason) => Err(PkiError::BadFile {
                    path: key.to_owned(),
                    reason,
                }),
            }
        }
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io_err("read", path, source)),
    }
}

/// Key first: a crash in between leaves a half pair, which the next run reports.
fn write_pair(
    cert: &Path,
    key: &Path,
    pair: &Issued,
    report: &mut InitReport,
) -> Result<(), PkiError> {
    write_new(key, &pair.key_pem, KEY_MODE)?;
    write_new(cert, &pair.cert_pem, CERT_MODE)?;
    report.pair(cert, key, FileAction::Created);
    Ok(())
}

/// `create_new`: never overwrites, even if another process raced us here.
fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), PkiError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io_err("create", path, e))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err("write", path, e))
}

/// Writes a sibling temporary file with the final mode, then renames it over
/// `path`, so a reader never sees a half-written file.
fn replace(path: &Path, contents: &str, mode: u32) -> Result<(), PkiError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_err("remove", &tmp, e)),
        _ => {}
    }
    write_new(&tmp, contents, mode)?;
    fs::rename(&tmp, path).map_err(|e| io_err("replace", path, e))
}

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> PkiError {
    PkiError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
