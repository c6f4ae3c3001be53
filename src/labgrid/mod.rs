//! Boards shared across a lab through labgrid (docs/labgrid.md): a rig's `labgrid:`
//! requests are served by a labgrid coordinator, whose exporters publish each bench
//! host's boards as places (serial console through ser2net, power, tags). For a run,
//! otarig reserves matching places, waits for them, locks them and composes ordinary rig
//! boards from their resources ([`take`]); the [`Lease`] releases them on every way out.
//! labgrid is driven through `labgrid-client` ([`client`]); otarig keeps no lab state.
//!
//! This module only finds and holds boards: the runner drives them through the parts the
//! rig describes, as any board (`board::serial` speaks to the ser2net console).

pub mod client;
mod compose;
mod lease;
pub mod output;
pub mod status;
mod take;

pub use compose::PlaceInfo;
pub use lease::{HeldPlace, Lease};
pub use take::take;

use crate::config::rig::Rig;

/// Why labgrid could not provide the boards. Always a bench problem, never the firmware's.
#[derive(Debug, thiserror::Error)]
pub enum LabgridError {
    #[error("`{program}` not found: install labgrid 25.0 or newer (`pip install labgrid`) on this host, or set `labgrid.client` in the rig to the program's path")]
    ClientMissing { program: String },
    #[error("`{command}` failed: {message}")]
    Client { command: String, message: String },
    #[error("`{command}` printed what otarig cannot read: {message}")]
    Output { command: String, message: String },
    #[error("waited {waited} for {wanted} labgrid place(s) and locked {got}: {others}; everything was released (raise `labgrid.wait` or `labgrid.priority` in the rig, or free the places)")]
    Timeout {
        waited: String,
        wanted: usize,
        got: usize,
        others: String,
    },
    #[error("request `{request}` wants {wanted} board(s) but only {matching} place(s) have the tags {tags}: tag more places (`labgrid-client -p PLACE set-tags …`) or lower its `count`")]
    TooFewPlaces {
        request: String,
        tags: String,
        wanted: usize,
        matching: usize,
    },
    #[error(
        "interrupted while waiting for labgrid places; everything was released and nothing ran"
    )]
    Interrupted,
    #[error("board {board}: labgrid place {place}: {message}")]
    Place {
        board: String,
        place: String,
        message: String,
    },
}

/// Takes the rig's labgrid boards before a run (see [`take`]), outside any runtime:
/// Ctrl-C or SIGTERM while waiting stops the wait and gives everything back.
pub fn take_blocking(
    rig: &mut Rig,
    only: Option<&[String]>,
) -> Result<Option<Lease>, LabgridError> {
    if rig.labgrid.is_none() {
        return Ok(None);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LabgridError::Client {
            command: "labgrid".into(),
            message: format!("cannot start the async runtime: {e}"),
        })?;
    runtime.block_on(take(rig, only, interrupt()))
}

/// The first SIGINT or SIGTERM.
pub async fn interrupt() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// Who locks places: `HOST/USER` as labgrid-client names its user (`LG_HOSTNAME`,
/// `LG_USERNAME`, else this host's name and the login name).
pub fn owner() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let host = var("LG_HOSTNAME").unwrap_or_else(|| {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into())
    });
    // Python's getpass.getuser(), which labgrid uses: these variables, then the password
    // database.
    let user = ["LG_USERNAME", "LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|v| var(v))
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "unknown".into());
    format!("{host}/{user}")
}

/// UTC, to the millisecond: lock and release times in the log compare across runs.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
