//! The places a run holds, released on every way out: [`Lease`] releases them when
//! dropped (the run ended, failed, was interrupted once, or panicked), and an `atexit`
//! hook releases what is still held when the process exits without unwinding (a second
//! Ctrl-C quits at once through `std::process::exit`). Only SIGKILL escapes both: for that
//! the CI after-step of docs/labgrid.md releases whatever the job's owner
//! (`LG_HOSTNAME/LG_USERNAME`) still holds.
//!
//! Releasing a place also cancels its reservation: labgrid keeps a released place
//! allocated to its reservation for a minute, which would hold up the next run waiting.

use std::sync::{Mutex, Once};

use super::client::{Client, QUICK};

/// One locked place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldPlace {
    pub place: String,
    /// The reservation it was allocated through.
    pub token: String,
    /// The rig board it serves.
    pub board: String,
}

/// Places held by leases not yet released, for the exit hook.
static HELD: Mutex<Vec<(u64, Client, HeldPlace)>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static EXIT_HOOK: Once = Once::new();

/// The places of one run (or one `otarig board` command); released when dropped.
pub struct Lease {
    id: u64,
    client: Client,
    pub held: Vec<HeldPlace>,
}

impl Lease {
    pub(super) fn new(client: Client, held: Vec<HeldPlace>) -> Lease {
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        EXIT_HOOK.call_once(|| {
            // SAFETY: registers a plain `extern "C"` function taking no arguments.
            unsafe { libc::atexit(release_at_exit) };
        });
        if let Ok(mut all) = HELD.lock() {
            all.extend(held.iter().map(|h| (id, client.clone(), h.clone())));
        }
        Lease { id, client, held }
    }

    /// Releases now (what dropping does).
    pub fn release(mut self) {
        self.release_held();
    }

    fn release_held(&mut self) {
        if let Ok(mut all) = HELD.lock() {
            all.retain(|(id, _, _)| *id != self.id);
        }
        for h in std::mem::take(&mut self.held) {
            release_one(&self.client, &h);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release_held();
    }
}

/// Releases one place and cancels its reservation; says so on stderr, or what to run.
pub(super) fn release_one(client: &Client, h: &HeldPlace) {
    match client.run_blocking(Some(&h.place), &["release"], QUICK) {
        Ok(_) => eprintln!(
            "otarig: labgrid: released place {} (board {}) at {}",
            h.place,
            h.board,
            super::now()
        ),
        Err(e) => eprintln!(
            "otarig: labgrid: could not release place {} (board {}): {e}; run `{}`",
            h.place,
            h.board,
            client.line(Some(&h.place), &["release-from", &super::owner()])
        ),
    }
    cancel(client, &h.token);
}

/// Cancels a reservation; one that is already gone is no error.
pub(super) fn cancel(client: &Client, token: &str) {
    if let Err(e) = client.run_blocking(None, &["cancel-reservation", token], QUICK) {
        if !e.to_string().contains("does not exist") {
            eprintln!("otarig: labgrid: could not cancel reservation {token}: {e}");
        }
    }
}

extern "C" fn release_at_exit() {
    // `try_lock`: exit may be called by a thread holding the lock; better to leave the
    // places to the CI after-step than to hang.
    let held = match HELD.try_lock() {
        Ok(mut all) => std::mem::take(&mut *all),
        Err(_) => return,
    };
    for (_, client, h) in held {
        release_one(&client, &h);
    }
}
