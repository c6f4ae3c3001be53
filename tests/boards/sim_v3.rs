//! The OTA library v3 personality end to end through the real gateway over mutual TLS
//! (thing-scoped policy), case for case as the v1 agent in sim_update: a good update,
//! then a corrupt, an untrusted and a missing signature, a downgrade, the same version,
//! a hanging self-test and a crash on boot, each failed with the v3 codes (docs/protocol.md
//! §4.5–§4.7, §7, §9) and without ever booting an image that did not verify.
//! v3 subscribes to notify-next and the stream data only (§0, §9): what it learns about
//! its job after a reboot comes as direct replies to its own requests.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::gateway::mqtt_packets;
use crate::support::sim::SimProcess;
use crate::support::sim_bench::{Bench, T};
use otarig::cloud::jobdoc::ImageFault;
use otarig::cloud::jobs::ExecutionStatus;
use otarig::timeline::{Direction, EventKind};

const JOBS: &str = "$aws/things/Thing1/jobs";
/// The images are 65,560-byte OTA files: 65 blocks of 1 KiB; v3 reports after the
/// first block and then every 64th (§3.6).
const PROGRESS: [&str; 2] = [
    r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"1/65"}}"#,
    r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"64/65"}}"#,
];
/// What the bootloader says of the upper bank after the PAL erased it.
const NOTHING_IN_UPPER: &str = "No application image or magic code present at: 0x9d080000";
/// ... and of a new image that never committed (flag CommitPending).
const STILL_PENDING: &str = "Invalid image flags: 0xfe at: 0x9d000000";
const READY_FROM_0_9_4: &str =
    r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":"ready","updatedBy":"0x00090004"}}"#;
const ACTIVE_AS_0_9_5: &str =
    r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":"active","updatedBy":"0x00090005"}}"#;

/// Waits for one whole v3 agent line (§5.4): `[LEVEL] [OTA] [file:line] text`.
fn say(board: &mut SimProcess, level: &str, at: &str, text: &str) {
    let line = format!(r"^\[{level}\] \[OTA\] \[{at}\] {}$", regex::escape(text));
    board.expect(&line, T);
}

fn banner(version: &str) -> String {
    format!(
        r"^\[INFO\] otarig-sim app version {} \(thing Thing1\)$",
        regex::escape(version)
    )
}

/// A reset: the bootloader (noting `validation` if given) starts `sequence` from `at`,
/// which runs as `version`.
fn boots(board: &mut SimProcess, validation: Option<&str>, sequence: u32, at: &str, version: &str) {
    board.expect(r"^Bootloader version 00\.09\.00$", T);
    if let Some(v) = validation {
        board.expect(&format!(r"^\[prvValidateImage\] {}$", regex::escape(v)), T);
    }
    let booting = format!("Booting image with sequence number {sequence} at {at}");
    board.expect(&format!(r"^\[prvBOOT_ValidateImages\] {booting}$"), T);
    board.expect(&banner(version), T);
}

/// The agent has heard "no job" since the last match: online, idle, ready for a job.
fn idle(board: &mut SimProcess) {
    say(board, "INFO", "ota.c:2297", "No active job available in received job document: OtaJobParseErr_t=OtaJobParseErrNoActiveJobs");
}

fn in_self_test(board: &mut SimProcess) {
    say(board, "INFO", "ota.c:2139", "In self test mode.");
}

/// The rolled-back 0.9.4 finds the job in self-test with a newer `updatedBy`.
fn rejects_as_downgrade(board: &mut SimProcess) {
    in_self_test(board);
    say(board, "WARN", "ota.c:1959", "Application version of the new image is lower than the current image: New images are expected to have a higher version number.");
    say(board, "WARN", "ota.c:2180", "New image is being rejected: Application version of the new image is invalid: OtaErr_t=OtaErrDowngradeNotAllowed");
}

/// 0.9.4 finds the job in self-test with its own version as `updatedBy`.
fn rejects_as_same_version(board: &mut SimProcess) {
    in_self_test(board);
    // The real line ends in ": " (§5.4); the console reader trims it.
    say(board, "WARN", "ota.c:1952", "Application version of the new image is identical to the current image: New images are expected to have a higher version number:");
    say(board, "WARN", "ota.c:2180", "New image is being rejected: Application version of the new image is invalid: OtaErr_t=OtaErrSameFirmwareVersion");
}

/// 0.9.5 on its first boot passes the version check and starts its self-test.
fn starts_self_test_as_0_9_5(board: &mut SimProcess) {
    in_self_test(board);
    say(board, "INFO", "ota.c:1970", "New image has a higher version number than the current image: New image version=0.9.5, Previous image version=0.9.4");
    say(
        board,
        "INFO",
        "ota.c:2163",
        "Image version is valid: Begin testing file: File ID=0",
    );
    say(board, "INFO", "ota.c:807", "Beginning self-test.");
}

/// Creates job `id` and follows the v3 agent through a download that verifies, up to
/// the reset.
fn download_and_reset(bench: &mut Bench, id: &str, fixture: &str) {
    bench.job(id, fixture, &[]);
    let board = &mut bench.board;
    say(
        board,
        "INFO",
        "ota.c:2258",
        "Job document was accepted. Attempting to begin the update.",
    );
    let parsed = format!("Job parsing success: OtaJobParseErr_t=OtaJobParseErrNone, Job name={id}");
    say(board, "INFO", "ota.c:2384", &parsed);
    say(
        board,
        "INFO",
        "ota.c:2718",
        "Received final block of the update.",
    );
    say(
        board,
        "INFO",
        "ota.c:2742",
        "Received entire update and validated the signature.",
    );
}

/// (direction, packet, topic, payload) of every MQTT packet through the gateway so far.
fn packets(bench: &Bench) -> Vec<(Direction, String, String, String)> {
    mqtt_packets(&bench.transcript)
        .into_iter()
        .map(|(dir, packet, topic, payload)| {
            (
                dir,
                packet,
                topic.unwrap_or_default(),
                payload.unwrap_or_default(),
            )
        })
        .collect()
}

/// Every job status update the board published for `job`, in order.
fn updates(bench: &Bench, job: &str) -> Vec<String> {
    let topic = format!("{JOBS}/{job}/update");
    packets(bench)
        .into_iter()
        .filter(|(dir, packet, t, _)| *dir == Direction::In && packet == "PUBLISH" && *t == topic)
        .map(|(_, _, _, payload)| payload)
        .collect()
}

/// Waits for the execution's final `status`; returns the statusDetails the Jobs service kept.
fn final_details(
    bench: &mut Bench,
    job: &str,
    status: ExecutionStatus,
) -> BTreeMap<String, String> {
    bench.wait_for(job, status);
    bench
        .services
        .execution(job, "Thing1")
        .unwrap()
        .status_details
}

fn details(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The job ended FAILED with `reason`, in the service and on the wire, where the board
/// sent the progress, then `between`, then the failure.
fn failed_with(bench: &mut Bench, job: &str, reason: &str, between: &[&str]) {
    let kept = final_details(bench, job, ExecutionStatus::Failed);
    assert_eq!(kept, details(&[("reason", reason)]), "{job}");
    let failed = format!(r#"{{"status":"FAILED","statusDetails":{{"reason":"{reason}"}}}}"#);
    let mut sent: Vec<&str> = PROGRESS.to_vec();
    sent.extend(between);
    sent.push(&failed);
    assert_eq!(updates(bench, job), sent, "{job}");
}

/// Every console line so far is a bootloader, banner or v3 line: no v1 `<msgNo> <tick>` prefix.
fn v3_console_only(board: &SimProcess) {
    let v1 = regex::Regex::new(r"^\d+ \d+ \[").unwrap();
    let stray: Vec<&String> = board.seen.iter().filter(|l| v1.is_match(l)).collect();
    assert!(stray.is_empty(), "v1-format lines on a v3 board: {stray:?}");
}

#[test]
fn a_good_update_from_0_9_4_to_0_9_5_with_direct_replies() {
    let mut bench = Bench::new("app-v4-v3agent");
    download_and_reset(&mut bench, "update-v5", "app-v5-v3agent");
    let board = &mut bench.board;
    boots(board, None, 20, "0x9d080000", "0.9.5");
    starts_self_test_as_0_9_5(board);
    board.expect(
        r"^\[INFO\] \[OTA_PAL\] \[prvPAL_SetPlatformImageState\] Accepted and committed final image\.$",
        T,
    );
    say(
        board,
        "INFO",
        "ota.c:2939",
        "Current State=[WaitingForJob], Event=[StartSelfTest], New state=[WaitingForJob]",
    );
    let kept = final_details(&mut bench, "update-v5", ExecutionStatus::Succeeded);
    assert_eq!(
        kept,
        details(&[("reason", "accepted  v.9.5"), ("updatedBy", "  v.9.4")])
    );
    idle(&mut bench.board);
    let mut sent = PROGRESS.to_vec();
    sent.extend([
        READY_FROM_0_9_4,
        ACTIVE_AS_0_9_5,
        r#"{"status":"SUCCEEDED","statusDetails":{"reason":"accepted  v.9.5","updatedBy":"  v.9.4"}}"#,
    ]);
    assert_eq!(updates(&bench, "update-v5"), sent);

    // Direct replies: the board subscribed to nothing but notify-next and the stream's
    // data, yet the answers to its requests reached it.
    let all = packets(&bench);
    let subscribed: BTreeSet<&str> = all
        .iter()
        .filter(|(dir, packet, ..)| *dir == Direction::In && packet == "SUBSCRIBE")
        .flat_map(|(_, _, topics, _)| topics.split(", "))
        .collect();
    let expected: BTreeSet<&str> = [
        "$aws/things/Thing1/jobs/notify-next",
        "$aws/things/Thing1/streams/s-update-v5/data/cbor",
    ]
    .into();
    assert_eq!(subscribed, expected);
    let to_board = |topic: &str| {
        all.iter()
            .filter(|(dir, packet, t, _)| {
                *dir == Direction::Out && packet == "PUBLISH" && t == topic
            })
            .count()
    };
    let next_get = format!("{JOBS}/$next/get/accepted");
    assert_eq!(to_board(&next_get), 2, "one $next/get answer per boot");
    assert!(to_board(&format!("{JOBS}/update-v5/update/accepted")) >= 1);
    // After the reboot, the job in self-test reached 0.9.5 only as the reply to its
    // `$next/get` (notify-next is not re-sent for a statusDetails change, §1.4).
    let self_test_doc: Vec<&str> = all
        .iter()
        .filter(|(dir, packet, _, p)| {
            *dir == Direction::Out
                && packet == "PUBLISH"
                && p.contains(r#""jobId":"update-v5""#)
                && p.contains(r#""self_test":"ready""#)
        })
        .map(|(_, _, t, _)| t.as_str())
        .collect();
    assert_eq!(self_test_doc, [next_get.as_str()]);
    // The counter-0 client token prints as ":<thing>" (§9).
    let requests: Vec<&str> = all
        .iter()
        .filter(|(dir, _, t, _)| *dir == Direction::In && *t == format!("{JOBS}/$next/get"))
        .map(|(.., p)| p.as_str())
        .collect();
    assert_eq!(requests, [r#"{"clientToken":":Thing1"}"#; 2]);
    v3_console_only(&bench.board);
}

#[test]
fn corrupt_untrusted_and_missing_signatures_fail_with_0xe3_and_never_boot() {
    let mut bench = Bench::new("app-v4-v3agent");
    let cases = [
        ("corrupt-sig", ImageFault::CorruptSignature),
        ("untrusted-key", ImageFault::UntrustedKey),
        ("unsigned", ImageFault::Unsigned),
    ];
    for (id, fault) in cases {
        bench.job(id, "app-v5-v3agent", &[fault]);
        let board = &mut bench.board;
        let parsed =
            format!("Job parsing success: OtaJobParseErr_t=OtaJobParseErrNone, Job name={id}");
        say(board, "INFO", "ota.c:2384", &parsed);
        say(
            board,
            "INFO",
            "ota.c:2718",
            "Received final block of the update.",
        );
        say(
            board,
            "ERROR",
            "ota.c:2747",
            "Failed to close the OTA file: Error=(OtaPalSignatureCheckFailed:0xe3000000)",
        );
        say(board, "ERROR", "ota.c:1238", "Failed to ingest data block, rejecting image: ingestDataBlock returned error: OtaErr_t=-2");
        say(board, "INFO", "ota.c:1315", "Closing file: file index=0");
        say(
            board,
            "INFO",
            "ota.c:2939",
            "Current State=[WaitingForJob], Event=[CloseFile], New state=[WaitingForJob]",
        );
        failed_with(&mut bench, id, "0x000000e3: 0x00000000", &[]);
        // Still running 0.9.4 and listening before the next job goes out.
        idle(&mut bench.board);
    }
    // No reset at all: the board's one connection never closed, one boot on the console.
    let connections: Vec<bool> = bench
        .transcript
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Connection { connected, .. } => Some(connected),
            _ => None,
        })
        .collect();
    assert_eq!(connections, [true]);
    let bootloader_runs = bench
        .board
        .seen
        .iter()
        .filter(|l| l.starts_with("Bootloader"))
        .count();
    assert_eq!(bootloader_runs, 1);
    // And none to come: the PAL erased what failed, so a reset finds nothing new to boot.
    bench.board.reset_line();
    let board = &mut bench.board;
    boots(board, Some(NOTHING_IN_UPPER), 10, "0x9d000000", "0.9.4");
    idle(board);
    v3_console_only(board);
}

#[test]
fn a_downgrade_and_the_same_version_fail_with_0xf_and_0x10_after_the_reboot() {
    let mut bench = Bench::new("app-v4-v3agent");

    // 0.9.3 has the higher sequence number, so it boots, and rejects itself.
    download_and_reset(&mut bench, "downgrade", "app-v3-v3agent");
    let board = &mut bench.board;
    boots(board, None, 11, "0x9d080000", "0.9.3");
    rejects_as_downgrade(board);
    // Rejected while pending commit: flagged invalid, so the bootloader drops it.
    let invalid = "Invalid image flags: 0xf8 at: 0x9d000000";
    boots(board, Some(invalid), 10, "0x9d080000", "0.9.4");
    idle(board);
    failed_with(
        &mut bench,
        "downgrade",
        "rejected: 0x0000000f",
        &[READY_FROM_0_9_4],
    );

    // Same sequence number: the bootloader keeps the running 0.9.4 (ties go to the lower bank).
    download_and_reset(&mut bench, "same-version", "app-v4-v3agent");
    let board = &mut bench.board;
    boots(board, None, 10, "0x9d000000", "0.9.4");
    rejects_as_same_version(board);
    // Not pending commit: the PAL erases the downloaded copy before the reset.
    boots(board, Some(NOTHING_IN_UPPER), 10, "0x9d000000", "0.9.4");
    idle(board);
    failed_with(
        &mut bench,
        "same-version",
        "rejected: 0x00000010",
        &[READY_FROM_0_9_4],
    );
    v3_console_only(&bench.board);
}

#[test]
fn a_hanging_self_test_and_a_crash_on_boot_roll_back_to_0_9_4_and_fail_the_job() {
    let mut bench = Bench::new("app-v4-v3agent");

    // The self-test timer (2 s in the fixture) resets the hung 0.9.5 after its `active`
    // update; the bootloader drops the still-pending image and 0.9.4 finds `updatedBy` 0.9.5.
    download_and_reset(&mut bench, "selftest-hang", "app-v5-v3agent-selftest-hang");
    let board = &mut bench.board;
    boots(board, None, 20, "0x9d080000", "0.9.5");
    starts_self_test_as_0_9_5(board);
    say(
        board,
        "ERROR",
        "ota.c:637",
        "Self test failed to complete within 2000ms",
    );
    boots(board, Some(STILL_PENDING), 10, "0x9d080000", "0.9.4");
    rejects_as_downgrade(board);
    boots(board, None, 10, "0x9d000000", "0.9.4");
    idle(board);
    let between = [READY_FROM_0_9_4, ACTIVE_AS_0_9_5];
    failed_with(
        &mut bench,
        "selftest-hang",
        "rejected: 0x0000000f",
        &between,
    );

    // The crashing 0.9.5 never reaches its agent; the watchdog (2 s in the fixture) resets
    // it and 0.9.4 finds its own version as `updatedBy`.
    download_and_reset(&mut bench, "crash-on-boot", "app-v5-v3agent-crash-on-boot");
    let board = &mut bench.board;
    boots(board, None, 20, "0x9d080000", "0.9.5");
    board.expect(r"^Hard fault: ", T);
    boots(board, Some(STILL_PENDING), 10, "0x9d080000", "0.9.4");
    rejects_as_same_version(board);
    boots(board, None, 10, "0x9d000000", "0.9.4");
    idle(board);
    failed_with(
        &mut bench,
        "crash-on-boot",
        "rejected: 0x00000010",
        &[READY_FROM_0_9_4],
    );
    v3_console_only(&bench.board);
}
