//! Taking a rig's labgrid boards for a run: for every board at once, a reservation
//! (`reserve` with the request's tags and the rig's priority), waiting for its place
//! (`wait`), the lock (`acquire`), the place's resources (`env`), and the board composed
//! from them. All within the rig's `wait`; on a timeout, an error or an interrupt,
//! whatever was locked is released and every reservation cancelled before returning.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::labgrid::{BoardRequest, Labgrid, THING_FROM_TAG};
use crate::config::rig::{Board, Rig};

use super::client::{Client, QUICK};
use super::compose::{compose, PlaceInfo};
use super::lease::{cancel, release_one, HeldPlace, Lease};
use super::{output, LabgridError};

/// How long an exporter may take to start ser2net for a place just locked.
const CONSOLE_READY_WITHIN: Duration = Duration::from_secs(30);
const CONSOLE_POLL: Duration = Duration::from_millis(250);

/// What the slots have got so far: the cleanup's list if the take fails part-way.
#[derive(Default)]
struct Progress {
    tokens: Vec<String>,
    held: Vec<HeldPlace>,
    /// `reserve` and `acquire` commands still running (see [`to_end`]).
    running: Vec<tokio::task::JoinHandle<()>>,
}

/// One board to take.
struct Slot<'a> {
    request: &'a BoardRequest,
    template: Board,
}

/// Takes the labgrid boards of `rig` (only those named in `only`, when given): on return
/// their templates in `rig.boards` are boards on locked places, held by the lease. `None`
/// when the rig has no labgrid boards (to take).
pub async fn take(
    rig: &mut Rig,
    only: Option<&[String]>,
    interrupted: impl Future<Output = ()>,
) -> Result<Option<Lease>, LabgridError> {
    let Some(labgrid) = rig.labgrid.clone() else {
        return Ok(None);
    };
    let slots: Vec<Slot<'_>> = labgrid
        .requests
        .iter()
        .flat_map(|request| request.boards.iter().map(move |b| (request, b)))
        .filter(|(_, b)| only.is_none_or(|only| only.contains(b)))
        .filter_map(|(request, b)| {
            Some(Slot {
                request,
                template: rig.board(b)?.clone(),
            })
        })
        .collect();
    if slots.is_empty() {
        return Ok(None);
    }
    let client = Client::new(&labgrid);
    let wanted: Vec<String> = labgrid
        .requests
        .iter()
        .map(|r| format!("{}× {}", r.boards.len(), r.tags_text()))
        .collect();
    eprintln!(
        "otarig: labgrid: taking {} board(s) ({}) from {} as {} (waiting up to {}, priority {})",
        slots.len(),
        wanted.join(", "),
        labgrid.coordinator_text(),
        super::owner(),
        humantime::format_duration(labgrid.wait),
        labgrid.priority
    );
    // A request more places could never serve would wait out `wait` for nothing.
    let listed = output::places(&client.run(None, &["-v", "places"], QUICK).await?);
    for request in &labgrid.requests {
        let wanted = slots
            .iter()
            .filter(|s| s.request.name == request.name)
            .count();
        let matching = listed.iter().filter(|p| p.matches(&request.tags)).count();
        if matching < wanted {
            return Err(LabgridError::TooFewPlaces {
                request: request.name.clone(),
                tags: request.tags_text(),
                wanted,
                matching,
            });
        }
    }
    let progress = Arc::new(Mutex::new(Progress::default()));
    let all = futures::future::try_join_all(
        slots
            .iter()
            .map(|slot| take_one(&client, &labgrid, slot, progress.clone())),
    );
    let outcome = tokio::select! {
        r = all => r,
        _ = tokio::time::sleep(labgrid.wait) => {
            let got = progress.lock().map(|p| p.held.len()).unwrap_or(0);
            Err(LabgridError::Timeout {
                waited: humantime::format_duration(labgrid.wait).to_string(),
                wanted: slots.len(),
                got,
                others: others(&client, &labgrid, &progress).await,
            })
        }
        _ = interrupted => Err(LabgridError::Interrupted),
    };
    if outcome.is_err() {
        let running = std::mem::take(&mut progress.lock().expect("labgrid progress lock").running);
        futures::future::join_all(running).await;
    }
    let progress = std::mem::take(&mut *progress.lock().expect("labgrid progress lock"));
    match outcome {
        Ok(boards) => {
            for board in boards {
                if let Some(slot) = rig.boards.iter_mut().find(|b| b.name == board.name) {
                    *slot = board;
                }
            }
            Ok(Some(Lease::new(client, progress.held)))
        }
        Err(e) => {
            // The slots' `wait`s are gone (dropped futures kill them) and their
            // `reserve`s and `acquire`s have ended: give back what they got.
            for h in &progress.held {
                release_one(&client, h);
            }
            let released: Vec<&String> = progress.held.iter().map(|h| &h.token).collect();
            for token in progress.tokens.iter().filter(|t| !released.contains(t)) {
                cancel(&client, token);
            }
            Err(e)
        }
    }
}

async fn take_one(
    client: &Client,
    labgrid: &Labgrid,
    slot: &Slot<'_>,
    progress: Arc<Mutex<Progress>>,
) -> Result<Board, LabgridError> {
    let board = &slot.template.name;
    let priority = labgrid.priority.to_string();
    let mut reserve = vec!["reserve", "--shell", "--prio", &priority];
    let tags: Vec<String> = slot
        .request
        .tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    reserve.extend(tags.iter().map(String::as_str));
    let reserve: Vec<String> = reserve.into_iter().map(String::from).collect();
    let c = client.clone();
    let token = to_end(
        &progress,
        async move {
            let reserve: Vec<&str> = reserve.iter().map(String::as_str).collect();
            let out = c.run_own_group(None, &reserve, QUICK).await?;
            output::token(&out).ok_or_else(|| LabgridError::Output {
                command: c.line(None, &reserve),
                message: format!("no `export LG_TOKEN=…` line in {out:?}"),
            })
        },
        |p, token: &String| p.tokens.push(token.clone()),
    )
    .await?;
    // `wait` polls the coordinator every second (which also keeps the reservation from
    // expiring) until a place is allocated; the rig's `wait` bounds it from outside.
    let waited = client.run(None, &["wait", &token], labgrid.wait).await?;
    let reservation = output::reservations(&waited).pop().unwrap_or_default();
    let place = match (reservation.state.as_str(), reservation.place) {
        ("allocated" | "acquired", Some(place)) => place,
        (state, _) => {
            return Err(LabgridError::Output {
                command: client.line(None, &["wait", &token]),
                message: format!("reservation {token} ended `{state}` without a place"),
            })
        }
    };
    let (c, p) = (client.clone(), place.clone());
    let held = HeldPlace {
        place: place.clone(),
        token,
        board: board.clone(),
    };
    to_end(
        &progress,
        async move { c.run_own_group(Some(&p), &["acquire"], QUICK).await },
        move |p, _: &String| p.held.push(held),
    )
    .await?;
    let locked_at = super::now();
    let info = place_info(client, &place, slot).await?;
    let place_error = |message: String| LabgridError::Place {
        board: board.clone(),
        place: place.clone(),
        message,
    };
    let deadline = Instant::now() + CONSOLE_READY_WITHIN;
    let mut info = info;
    let (console, speed) = loop {
        match info.console(slot.request.console.as_deref()).map_err(place_error)? {
            Some(console) => break console,
            // The exporter starts ser2net when the place is locked; its port follows.
            None if Instant::now() < deadline => {
                tokio::time::sleep(CONSOLE_POLL).await;
                info.resources = resources(client, &place).await?;
            }
            None => {
                return Err(place_error(format!(
                    "its NetworkSerialPort has no TCP port {} after locking it: is ser2net installed on its exporter host?",
                    humantime::format_duration(CONSOLE_READY_WITHIN)
                )))
            }
        }
    };
    let composed =
        compose(&slot.template, slot.request, &info, (&console, speed)).map_err(place_error)?;
    eprintln!(
        "otarig: labgrid: board {board} is place {place} (thing {}, console {console}), locked by {} at {locked_at}",
        composed.thing_name,
        super::owner()
    );
    Ok(composed)
}

/// Runs `command`, which changes the coordinator's state, to its end even when the take
/// is abandoned (timeout, interrupt, another slot's error), and records what it got from
/// inside its own task: cut off between the coordinator's change and our reading of the
/// answer, it would leave a reservation or a lock that nobody gives back.
async fn to_end<T: Send + 'static>(
    progress: &Arc<Mutex<Progress>>,
    command: impl Future<Output = Result<T, LabgridError>> + Send + 'static,
    record: impl FnOnce(&mut Progress, &T) + Send + 'static,
) -> Result<T, LabgridError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let recorded = progress.clone();
    let task = tokio::spawn(async move {
        let out = command.await;
        if let Ok(got) = &out {
            record(&mut recorded.lock().expect("labgrid progress lock"), got);
        }
        let _ = tx.send(out);
    });
    progress
        .lock()
        .expect("labgrid progress lock")
        .running
        .push(task);
    rx.await.unwrap_or_else(|_| {
        Err(LabgridError::Client {
            command: "labgrid-client".into(),
            message: "its task ended without an answer (a bug in otarig)".into(),
        })
    })
}

async fn place_info(
    client: &Client,
    place: &str,
    slot: &Slot<'_>,
) -> Result<PlaceInfo, LabgridError> {
    let resources = resources(client, place).await?;
    // Tags only when the thing name comes from one (`show` is another client round trip).
    let tags = if slot.template.thing_name == THING_FROM_TAG {
        let shown = client.run(Some(place), &["show"], QUICK).await?;
        output::places(&shown)
            .into_iter()
            .next()
            .map(|p| p.tags)
            .unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    Ok(PlaceInfo {
        name: place.to_string(),
        tags,
        resources,
    })
}

async fn resources(client: &Client, place: &str) -> Result<Vec<output::Resource>, LabgridError> {
    let env = client.run(Some(place), &["env"], QUICK).await?;
    output::env(&env, place).map_err(|message| LabgridError::Output {
        command: client.line(Some(place), &["env"]),
        message,
    })
}

/// For a timeout: who has the places this run wanted and did not get.
async fn others(client: &Client, labgrid: &Labgrid, progress: &Arc<Mutex<Progress>>) -> String {
    let mine: Vec<String> = progress
        .lock()
        .map(|p| p.held.iter().map(|h| h.place.clone()).collect())
        .unwrap_or_default();
    let listed = match client.run(None, &["-v", "places"], QUICK).await {
        Ok(text) => output::places(&text),
        Err(e) => return format!("the coordinator could not be asked who holds them: {e}"),
    };
    let mut lines = Vec::new();
    for request in &labgrid.requests {
        let matching: Vec<&output::Place> = listed
            .iter()
            .filter(|p| p.matches(&request.tags) && !mine.contains(&p.name))
            .collect();
        if matching.is_empty() {
            lines.push(format!("no other place matches {}", request.tags_text()));
        }
        for p in matching {
            lines.push(match (&p.acquired, &p.reservation) {
                (Some(holder), _) => format!("{} is held by {holder}", p.name),
                (None, Some(token)) => format!("{} is reserved ({token})", p.name),
                (None, None) => format!("{} is free", p.name),
            });
        }
    }
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;

    /// A `labgrid-client` whose `reserve` creates the reservation at once but answers late,
    /// as a Python client does; every call is logged.
    fn scripted_client(dir: &Path) -> std::path::PathBuf {
        let script = dir.join("labgrid-client");
        let text = format!(
            r#"#!/bin/sh
echo "$*" >> {dir}/calls
case "$*" in
  *places*) printf "Place 'board-1':\n  tags: board=otarig-sim\n" ;;
  *reserve*) touch {dir}/reserved; sleep 1; echo "export LG_TOKEN=TOKEN1" ;;
  *wait*) sleep 30 ;;
esac
"#,
            dir = dir.display()
        );
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    #[tokio::test]
    async fn an_interrupt_while_reserve_is_answering_still_cancels_its_reservation() {
        let dir = tempfile::tempdir().unwrap();
        let client = scripted_client(dir.path());
        let text = format!(
            "boards: []\nlabgrid:\n  client: {}\n  boards:\n    - {{ name: lab, match: board=otarig-sim, thing_names: [Thing1], platform: sim, power: none, flash: {{ command: {{ program: 'true', args: ['{{image}}'] }} }} }}\n",
            client.display()
        );
        let mut rig = crate::config::load_rig_str(&text, &dir.path().join("rig.yaml"))
            .unwrap_or_else(|d| panic!("{d}"));
        let reserved = dir.path().join("reserved");
        // Interrupted once the coordinator has the reservation, before the client answers.
        let interrupted = async {
            while !reserved.exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let err = take(&mut rig, None, interrupted).await.err();
        assert!(matches!(err, Some(LabgridError::Interrupted)), "{err:?}");
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert!(
            calls.contains("cancel-reservation TOKEN1"),
            "the reservation made as the run was interrupted is cancelled:\n{calls}"
        );
    }
}
