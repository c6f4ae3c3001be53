//! The PKI as a rig's identity. Every board of a physical bench trusts one CA and holds a
//! certificate built into its firmware, so a new CA means re-flashing every board: only a
//! rig that says `create_pki: true` (simulated boards, which are told their credentials
//! at each start) has one created for it. `run`, `doctor`, `cloud --rig` and `job --rig`
//! all go through here, so they read the same PKI.

use std::path::PathBuf;

use super::{init, FileAction, PkiError, PkiLayout, PkiOptions};
use crate::config::Rig;

#[derive(Debug, thiserror::Error)]
pub enum RigPkiError {
    #[error(
        "rig {rig}: the bench PKI in {dir} is missing {missing}; a physical bench keeps one PKI (its boards' firmware holds its CA and certificates), so otarig creates none for this rig: run `{command}` once and build the certificates into the firmware (docs/pic32mz-bench.md), or set `cloud: {{ create_pki: true }}` for simulated boards"
    )]
    Missing {
        rig: String,
        dir: PathBuf,
        missing: String,
        command: String,
    },
    #[error("rig {rig}: preparing the bench PKI in {dir}: {source}")]
    Init {
        rig: String,
        dir: PathBuf,
        #[source]
        source: Box<PkiError>,
    },
}

/// The files a run on `rig` reads, with what each is.
pub fn needed_files(rig: &Rig) -> Vec<(&'static str, PathBuf)> {
    let layout = PkiLayout::new(&rig.cloud.pki);
    let mut files = vec![
        ("bench CA", layout.ca_cert()),
        ("code-signing cert", layout.codesign_cert()),
        ("code-signing key", layout.codesign_key()),
    ];
    if rig.cloud.endpoint.tls && rig.cloud.client.is_none() {
        files.push(("endpoint cert", layout.endpoint_cert()));
        files.push(("endpoint key", layout.endpoint_key()));
    }
    for board in &rig.boards {
        files.push(("thing cert", layout.thing_cert(&board.thing_name)));
        files.push(("thing key", layout.thing_key(&board.thing_name)));
    }
    files
}

/// The needed files that are not there, as `what path`.
pub fn missing_files(rig: &Rig) -> Vec<String> {
    needed_files(rig)
        .into_iter()
        .filter(|(_, path)| !path.is_file())
        .map(|(what, path)| format!("{what} {}", path.display()))
        .collect()
}

/// The `otarig pki init` line that creates (or completes) what this rig needs.
pub fn init_command(rig: &Rig) -> String {
    let mut things: Vec<&str> = rig.boards.iter().map(|b| b.thing_name.as_str()).collect();
    things.dedup();
    let mut line = format!(
        "otarig pki init --dir {} --things {}",
        rig.cloud.pki.display(),
        things.join(",")
    );
    let endpoint = &rig.cloud.endpoint;
    for host in std::iter::once(&endpoint.host).chain(&endpoint.hosts) {
        if host != "127.0.0.1" && host != "localhost" {
            line.push_str(&format!(" --host {host}"));
        }
    }
    line
}

/// Makes sure the rig's PKI is there: created or completed where the rig allows it,
/// else checked. Returns a line for the user when a new CA was created.
pub fn prepare(rig: &Rig) -> Result<Option<String>, RigPkiError> {
    if !rig.cloud.create_pki {
        let missing = missing_files(rig);
        if missing.is_empty() {
            return Ok(None);
        }
        const SHOWN: usize = 3;
        let more = missing.len().saturating_sub(SHOWN);
        let mut shown = missing[..missing.len().min(SHOWN)].join(", ");
        if more > 0 {
            shown.push_str(&format!(" and {more} more"));
        }
        return Err(RigPkiError::Missing {
            rig: rig.file.display().to_string(),
            dir: rig.cloud.pki.clone(),
            missing: shown,
            command: init_command(rig),
        });
    }
    let mut hosts = rig.cloud.endpoint.hosts.clone();
    hosts.push(rig.cloud.endpoint.host.clone());
    let things = rig.boards.iter().map(|b| b.thing_name.clone()).collect();
    let report = init(
        &rig.cloud.pki,
        &PkiOptions {
            things,
            hosts,
            reissue_endpoint: false,
        },
    )
    .map_err(|source| RigPkiError::Init {
        rig: rig.file.display().to_string(),
        dir: rig.cloud.pki.clone(),
        source: Box::new(source),
    })?;
    let ca = PkiLayout::new(&rig.cloud.pki).ca_cert();
    let new_ca = report
        .files
        .iter()
        .any(|(path, action)| *path == ca && *action == FileAction::Created);
    Ok(new_ca.then(|| {
        format!(
            "created a new bench PKI in {} (rig {} has `create_pki: true`)",
            rig.cloud.pki.display(),
            rig.file.display()
        )
    }))
}
