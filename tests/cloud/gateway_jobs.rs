//! The AWS IoT Jobs device API (docs/protocol.md §1) through the gateway over
//! mutual TLS, with rumqttc as the device: one behaviour per test, exact
//! wire fields.
//!
//! Absence is proven by order, never by waiting. A device request is followed
//! by a probe publish on the same connection: the reply and every
//! notification the request caused reach the device before the probe. Admin
//! calls (create, cancel, tick, retry) notify through the gateway's
//! notification task instead, so they are followed by a barrier: a new job
//! for the thing `Barrier`, whose `notify` goes through that same task after
//! theirs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::gateway::*;
use otarig::cloud::gateway::Policy;
use otarig::cloud::jobs::{ExecutionStatus, JobSpec, JobStatus, RetryCriterion, RetryOn};
use rumqttc::{Publish, QoS};
use serde_json::{json, Value};

const BARRIER: &str = "Barrier";

fn topic(thing: &str, api: &str) -> String {
    format!("$aws/things/{thing}/jobs/{api}")
}

fn probe_topic(thing: &str) -> String {
    format!("$aws/things/{thing}/probe")
}

fn doc(name: &str) -> Value {
    json!({"afr_ota": {"protocols": ["MQTT"], "streamname": name, "files": []}})
}

fn spec(id: &str, things: &[&str]) -> JobSpec {
    JobSpec::new(id, doc(id), things.iter().map(|t| t.to_string()).collect())
}

/// Creates job `id` for `things` through the Rust API the runner uses.
fn queue(bench: &Bench, id: &str, things: &[&str]) {
    bench
        .services
        .create_job(spec(id, things), SystemTime::now())
        .unwrap();
}

/// The service's own record of `thing`'s execution of `job`.
fn assert_execution(
    bench: &Bench,
    job: &str,
    thing: &str,
    status: ExecutionStatus,
    number: u64,
    version: u64,
) {
    let exec = bench.services.execution(job, thing).unwrap();
    assert_eq!(
        (exec.status, exec.execution_number, exec.version_number),
        (status, number, version),
        "{thing}'s execution of {job}"
    );
}

fn now_secs() -> u64 {
    epoch(SystemTime::now())
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// An integer number of seconds in `lo..=hi` (milliseconds would be 1000× too big).
fn secs(v: &Value, lo: u64, hi: u64) -> u64 {
    let n = v
        .as_u64()
        .unwrap_or_else(|| panic!("{v} is not an integer"));
    assert!((lo..=hi).contains(&n), "{n} is not seconds in {lo}..={hi}");
    n
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("{v} is not an object"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// A device for `thing` (client id = thing) subscribed to `filters` and its probe topic.
async fn device(bench: &Bench, thing: &str, filters: &[String]) -> Device {
    let mut dev = bench.device(thing, thing).await;
    for f in filters.iter().cloned().chain([probe_topic(thing)]) {
        dev.subscribe(&f, QoS::AtLeastOnce).await;
    }
    dev
}

/// Sends `body` to the device's own `jobs/{api}`; returns all it caused, in order.
async fn exchange(dev: &mut Device, api: &str, body: Value) -> Vec<Publish> {
    let t = topic(&dev.client_id, api);
    dev.publish(&t, QoS::AtLeastOnce, body.to_string()).await;
    dev.before_probe(&probe_topic(&dev.client_id)).await
}

fn describe(got: &[Publish]) -> Vec<(String, String)> {
    got.iter()
        .map(|p| {
            let body = String::from_utf8_lossy(&p.payload).into_owned();
            (p.topic.clone(), body)
        })
        .collect()
}

/// The lone reply of a request that caused nothing else, on `{api}/{outcome}`.
async fn ask(dev: &mut Device, api: &str, body: Value, outcome: &str) -> Value {
    let got = exchange(dev, api, body).await;
    let want = topic(&dev.client_id, &format!("{api}/{outcome}"));
    assert!(
        got.len() == 1 && got[0].topic == want,
        "{}: expected only {want}, got {:?}",
        dev.client_id,
        describe(&got)
    );
    json(&got[0])
}

async fn accepted(dev: &mut Device, api: &str, body: Value) -> Value {
    ask(dev, api, body, "accepted").await
}

async fn rejected(dev: &mut Device, api: &str, body: Value) -> Value {
    ask(dev, api, body, "rejected").await
}

/// Creates job `barrier-{n}` for `Barrier` and returns, per device, what it
/// received before that job's `notify` (devices subscribe to Barrier's notify).
async fn barrier(bench: &Bench, n: u32, devs: &mut [&mut Device]) -> Vec<Vec<Publish>> {
    let id = format!("barrier-{n}");
    queue(bench, &id, &[BARRIER]);
    let mut out = Vec::new();
    for dev in devs.iter_mut() {
        let mut got = Vec::new();
        loop {
            let p = dev.publish_on(|_| true).await;
            if p.topic == topic(BARRIER, "notify") {
                let queued = json(&p)["jobs"]["QUEUED"].clone();
                let newest = queued.as_array().and_then(|a| a.last()).cloned();
                assert_eq!(newest.map(|j| j["jobId"].clone()), Some(json!(id)));
                break;
            }
            got.push(p);
        }
        out.push(got);
    }
    out
}

/// The single publish of `got`, which must be on `want`.
fn single(got: &[Publish], want: &str) -> Value {
    assert!(
        got.len() == 1 && got[0].topic == want,
        "expected only {want}, got {:?}",
        describe(got)
    );
    json(&got[0])
}

/// An update refused as InvalidStateTransition (§1.5): the requester's token
/// back and the execution's state as it stands.
fn assert_illegal(body: &Value, token: Option<&str>, state: Value) {
    assert_eq!(body["code"], "InvalidStateTransition", "{body}");
    assert_eq!(
        body.get("clientToken").and_then(Value::as_str),
        token,
        "{body}"
    );
    assert_eq!(body["executionState"], state, "{body}");
}

/// A JobExecutionSummary (get/accepted, notify): exactly these fields.
fn assert_summary(v: &Value, job: &str, version: u64, started: bool) {
    assert_eq!(v["jobId"], job, "{v}");
    assert_eq!(v["executionNumber"], 1, "{v}");
    assert_eq!(v["versionNumber"], version, "{v}");
    let mut want = vec![
        "executionNumber",
        "jobId",
        "lastUpdatedAt",
        "queuedAt",
        "versionNumber",
    ];
    if started {
        want.push("startedAt");
        want.sort_unstable();
    }
    assert_eq!(keys(v), want, "{v}");
}

#[tokio::test]
async fn the_1_0_x_lifecycle_counts_versions_keeps_details_and_ends_with_an_empty_queue() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let mut dev = device(&bench, "Thing1", &[topic("Thing1", "notify-next")]).await;
    let lo = now_secs();
    let built = create_job(&bench, "ota-1", &[5; 64], &["Thing1"]);
    let first = dev.publish_on(|t| t.ends_with("/notify-next")).await;
    assert_eq!(json(&first)["execution"]["jobId"], "ota-1");
    let hi = || now_secs() + 1;

    let body = accepted(&mut dev, "$next/get", json!({"clientToken": "0:Thing1"})).await;
    assert_eq!(keys(&body), ["clientToken", "execution", "timestamp"]);
    assert_eq!(body["clientToken"], "0:Thing1");
    secs(&body["timestamp"], lo, hi());
    let exec = &body["execution"];
    assert_eq!(
        keys(exec),
        [
            "executionNumber",
            "jobDocument",
            "jobId",
            "lastUpdatedAt",
            "queuedAt",
            "status",
            "thingName",
            "versionNumber"
        ]
    );
    assert_eq!(exec["thingName"], "Thing1");
    assert_eq!(
        (
            &exec["status"],
            &exec["executionNumber"],
            &exec["versionNumber"]
        ),
        (&json!("QUEUED"), &json!(1), &json!(1))
    );
    assert_eq!(exec["jobDocument"], built.document);
    let queued_at = secs(&exec["queuedAt"], lo, hi());

    let body = accepted(&mut dev, "start-next", json!({"clientToken": "sn"})).await;
    assert_eq!(body["clientToken"], "sn");
    let exec = &body["execution"];
    assert_eq!(
        (
            &exec["status"],
            &exec["executionNumber"],
            &exec["versionNumber"]
        ),
        (&json!("IN_PROGRESS"), &json!(1), &json!(2))
    );
    assert_eq!(exec["queuedAt"], queued_at);
    secs(&exec["startedAt"], queued_at, hi());
    assert_eq!(exec["jobDocument"], built.document);

    let details = json!({"self_test": "ready", "updatedBy": "0x10002"});
    let update = json!({"status": "IN_PROGRESS", "statusDetails": details, "includeJobExecutionState": true, "clientToken": "u1"});
    let body = accepted(&mut dev, "ota-1/update", update).await;
    assert_eq!(keys(&body), ["clientToken", "executionState", "timestamp"]);
    assert_eq!(
        body["executionState"],
        json!({"status": "IN_PROGRESS", "statusDetails": details, "versionNumber": 3})
    );

    // Without statusDetails the stored ones stay (the self-test path needs them).
    let update = json!({"status": "IN_PROGRESS", "includeJobExecutionState": true});
    let body = accepted(&mut dev, "ota-1/update", update).await;
    assert_eq!(
        body["executionState"],
        json!({"status": "IN_PROGRESS", "statusDetails": details, "versionNumber": 4})
    );
    let body = accepted(&mut dev, "ota-1/get", json!({"clientToken": "g"})).await;
    assert_eq!(body["execution"]["statusDetails"], details);
    assert_eq!(body["execution"]["versionNumber"], 4);
    assert_eq!(body["execution"]["status"], "IN_PROGRESS");

    // As the agent sends it: status and details only, so a bare accepted.
    let done = json!({"status": "SUCCEEDED", "statusDetails": {"reason": "accepted v1.0.3"}});
    let got = exchange(&mut dev, "ota-1/update", done).await;
    assert_eq!(got.len(), 2, "{:?}", describe(&got));
    let body = json(&got[0]);
    assert_eq!(got[0].topic, topic("Thing1", "ota-1/update/accepted"));
    assert_eq!(keys(&body), ["timestamp"]);
    let next = json(&got[1]);
    assert_eq!(got[1].topic, topic("Thing1", "notify-next"));
    assert_eq!(keys(&next), ["timestamp"], "the queue is empty: {next}");
    secs(&next["timestamp"], lo, hi());

    let body = accepted(&mut dev, "$next/get", json!({"clientToken": "1:Thing1"})).await;
    assert_eq!(keys(&body), ["clientToken", "timestamp"]);
    assert_execution(&bench, "ota-1", "Thing1", ExecutionStatus::Succeeded, 1, 5);
}

#[tokio::test]
async fn notify_next_is_sent_only_when_the_next_execution_changes_and_notify_lists_the_queue() {
    // Permissive: the device also listens to the barrier thing's notify.
    let bench = start_bench(&["Thing1"], Policy::Permissive, |_| {}).await;
    let subs = [
        topic("Thing1", "notify-next"),
        topic("Thing1", "notify"),
        topic(BARRIER, "notify"),
    ];
    let mut dev = device(&bench, "Thing1", &subs).await;
    let (lo, hi) = (now_secs(), || now_secs() + 1);

    queue(&bench, "job-a", &["Thing1"]);
    let got = barrier(&bench, 1, &mut [&mut dev]).await.remove(0);
    let topics: Vec<&str> = got.iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(
        topics,
        [topic("Thing1", "notify-next"), topic("Thing1", "notify")]
    );
    let next = json(&got[0]);
    assert_eq!(next["execution"]["jobId"], "job-a");
    assert_eq!(next["execution"]["status"], "QUEUED");
    assert_eq!(next["execution"]["jobDocument"], doc("job-a"));
    let notify = json(&got[1]);
    assert_eq!(keys(&notify), ["jobs", "timestamp"]);
    secs(&notify["timestamp"], lo, hi());
    assert_eq!(keys(&notify["jobs"]), ["QUEUED"]);
    assert_eq!(notify["jobs"]["QUEUED"].as_array().unwrap().len(), 1);
    assert_summary(&notify["jobs"]["QUEUED"][0], "job-a", 1, false);

    // A second job queues behind the first: the list changes, the next does not.
    queue(&bench, "job-b", &["Thing1"]);
    let got = barrier(&bench, 2, &mut [&mut dev]).await.remove(0);
    let notify = single(&got, &topic("Thing1", "notify"));
    let queued = notify["jobs"]["QUEUED"].as_array().unwrap();
    assert_eq!(queued.len(), 2, "{notify}");
    assert_summary(&queued[0], "job-a", 1, false);
    assert_summary(&queued[1], "job-b", 1, false);

    // The first job starts: still next, so notify only, IN_PROGRESS listed first.
    let start = json!({"status": "IN_PROGRESS", "statusDetails": {"receive": "0/4"}});
    let got = exchange(&mut dev, "job-a/update", start).await;
    assert_eq!(got.len(), 2, "{:?}", describe(&got));
    assert_eq!(got[0].topic, topic("Thing1", "job-a/update/accepted"));
    let notify = single(&got[1..], &topic("Thing1", "notify"));
    assert_eq!(keys(&notify["jobs"]), ["IN_PROGRESS", "QUEUED"]);
    assert_summary(&notify["jobs"]["IN_PROGRESS"][0], "job-a", 2, true);
    assert_summary(&notify["jobs"]["QUEUED"][0], "job-b", 1, false);

    // New statusDetails only: neither the next nor the list changes.
    let progress = json!({"status": "IN_PROGRESS", "statusDetails": {"receive": "2/4"}});
    accepted(&mut dev, "job-a/update", progress).await;

    // The first job ends: notify-next names the second, with its document.
    let done = json!({"status": "SUCCEEDED"});
    let got = exchange(&mut dev, "job-a/update", done).await;
    let topics: Vec<&str> = got.iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            topic("Thing1", "job-a/update/accepted"),
            topic("Thing1", "notify-next"),
            topic("Thing1", "notify")
        ]
    );
    let next = json(&got[1]);
    assert_eq!(keys(&next), ["execution", "timestamp"]);
    let exec = &next["execution"];
    assert_eq!(exec["jobId"], "job-b");
    assert_eq!(exec["status"], "QUEUED");
    assert_eq!(exec["executionNumber"], 1);
    assert_eq!(exec["versionNumber"], 1);
    assert_eq!(exec["jobDocument"], doc("job-b"));
    let notify = json(&got[2]);
    assert_eq!(keys(&notify["jobs"]), ["QUEUED"]);
    assert_eq!(notify["jobs"]["QUEUED"].as_array().unwrap().len(), 1);
    assert_summary(&notify["jobs"]["QUEUED"][0], "job-b", 1, false);
}

#[tokio::test]
async fn get_lists_in_progress_then_queued_and_describe_embeds_the_document_unless_told_not_to() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let mut dev = device(&bench, "Thing1", &[]).await;
    let (lo, hi) = (now_secs(), || now_secs() + 1);
    for id in ["job-a", "job-b", "job-c"] {
        queue(&bench, id, &["Thing1"]);
    }

    let body = accepted(&mut dev, "get", json!({"clientToken": "list-0"})).await;
    assert_eq!(
        keys(&body),
        ["clientToken", "inProgressJobs", "queuedJobs", "timestamp"]
    );
    assert_eq!(body["clientToken"], "list-0");
    secs(&body["timestamp"], lo, hi());
    assert_eq!(body["inProgressJobs"], json!([]));
    let queued = body["queuedJobs"].as_array().unwrap();
    assert_eq!(queued.len(), 3, "{body}");
    for (summary, id) in queued.iter().zip(["job-a", "job-b", "job-c"]) {
        assert_summary(summary, id, 1, false);
        secs(&summary["queuedAt"], lo, hi());
    }

    accepted(&mut dev, "start-next", json!({})).await;
    let body = accepted(&mut dev, "get", json!({})).await;
    assert_eq!(keys(&body), ["inProgressJobs", "queuedJobs", "timestamp"]);
    assert_eq!(body["inProgressJobs"].as_array().unwrap().len(), 1);
    assert_summary(&body["inProgressJobs"][0], "job-a", 2, true);
    let queued = body["queuedJobs"].as_array().unwrap();
    assert_eq!(queued.len(), 2, "{body}");
    assert_summary(&queued[0], "job-b", 1, false);
    assert_summary(&queued[1], "job-c", 1, false);

    // includeJobDocument defaults to true for DescribeJobExecution.
    let cases = [
        (json!({"includeJobDocument": false}), false),
        (json!({"includeJobDocument": true}), true),
        (json!({}), true),
    ];
    for (request, with_doc) in cases {
        let body = accepted(&mut dev, "job-b/get", request.clone()).await;
        let exec = &body["execution"];
        assert_eq!(exec["jobId"], "job-b", "{request}");
        assert_eq!(exec["status"], "QUEUED", "{request}");
        match with_doc {
            true => assert_eq!(exec["jobDocument"], doc("job-b"), "{request}"),
            false => assert!(exec.get("jobDocument").is_none(), "{request}: {exec}"),
        }
    }
    // $next is the IN_PROGRESS one, before older QUEUED ones.
    let body = accepted(
        &mut dev,
        "$next/get",
        json!({"includeJobDocument": false, "clientToken": "n"}),
    )
    .await;
    assert_eq!(body["execution"]["jobId"], "job-a");
    assert_eq!(body["execution"]["status"], "IN_PROGRESS");
    assert!(body["execution"].get("jobDocument").is_none(), "{body}");

    let body = accepted(&mut dev, "job-c/get", json!({"executionNumber": 1})).await;
    assert_eq!(body["execution"]["executionNumber"], 1);
    let body = rejected(&mut dev, "job-c/get", json!({"executionNumber": 2})).await;
    assert_eq!(body["code"], "ResourceNotFound");
}

#[tokio::test]
async fn refused_updates_and_describes_carry_the_documented_code_state_and_token() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let mut dev = device(&bench, "Thing1", &[]).await;
    let (lo, hi) = (now_secs(), || now_secs() + 1);
    queue(&bench, "job-1", &["Thing1"]);

    let start = json!({"status": "IN_PROGRESS", "expectedVersion": 1});
    accepted(&mut dev, "job-1/update", start).await;

    let stale = json!({"status": "IN_PROGRESS", "expectedVersion": 1, "clientToken": "stale"});
    let body = rejected(&mut dev, "job-1/update", stale).await;
    assert_eq!(
        keys(&body),
        [
            "clientToken",
            "code",
            "executionState",
            "message",
            "timestamp"
        ]
    );
    assert_eq!(body["code"], "VersionMismatch");
    assert_eq!(body["clientToken"], "stale");
    assert!(!body["message"].as_str().unwrap().is_empty());
    secs(&body["timestamp"], lo, hi());
    assert_eq!(
        body["executionState"],
        json!({"status": "IN_PROGRESS", "versionNumber": 2})
    );

    // Service-owned statuses. docs/protocol.md §1.5 does not say which code; the
    // service answers InvalidStateTransition (not allowed from this state).
    for status in ["TIMED_OUT", "CANCELED", "QUEUED", "REMOVED"] {
        let token = format!("own-{status}");
        let request = json!({"status": status, "clientToken": token});
        let body = rejected(&mut dev, "job-1/update", request).await;
        let state = json!({"status": "IN_PROGRESS", "versionNumber": 2});
        assert_illegal(&body, Some(&token), state);
    }

    let done = json!({"status": "SUCCEEDED", "statusDetails": {"reason": "accepted v1.0.3"}});
    accepted(&mut dev, "job-1/update", done).await;
    let terminal = json!({"status": "SUCCEEDED", "statusDetails": {"reason": "accepted v1.0.3"}, "versionNumber": 3});
    for status in ["IN_PROGRESS", "FAILED"] {
        let request = json!({"status": status, "clientToken": "late"});
        let body = rejected(&mut dev, "job-1/update", request).await;
        assert_illegal(&body, Some("late"), terminal.clone());
    }

    // §1.5: describing a terminal execution is TerminalStateReached, no state.
    let body = rejected(&mut dev, "job-1/get", json!({"clientToken": "desc"})).await;
    assert_eq!(body["code"], "TerminalStateReached");
    assert_eq!(body["clientToken"], "desc");
    assert_eq!(keys(&body), ["clientToken", "code", "message", "timestamp"]);

    let body = rejected(&mut dev, "nope/get", json!({"clientToken": "nf"})).await;
    assert_eq!(body["code"], "ResourceNotFound");
    assert_eq!(body["clientToken"], "nf");

    // The same connection is still served, and no refusal changed anything.
    let body = accepted(&mut dev, "$next/get", json!({"clientToken": "after"})).await;
    assert_eq!(keys(&body), ["clientToken", "timestamp"]);
    assert_execution(&bench, "job-1", "Thing1", ExecutionStatus::Succeeded, 1, 3);
}

#[tokio::test]
async fn a_job_for_two_things_runs_apart_and_only_a_forced_cancel_stops_the_running_execution() {
    // Permissive: the devices also listen to the barrier thing's notify.
    let bench = start_bench(&["Thing1", "Thing2"], Policy::Permissive, |_| {}).await;
    let subs = |t: &str| vec![topic(t, "notify-next"), topic(BARRIER, "notify")];
    let mut d1 = device(&bench, "Thing1", &subs("Thing1")).await;
    let mut d2 = device(&bench, "Thing2", &subs("Thing2")).await;
    queue(&bench, "fleet", &["Thing1", "Thing2"]);
    let got = barrier(&bench, 1, &mut [&mut d1, &mut d2]).await;
    for (thing, got) in ["Thing1", "Thing2"].into_iter().zip(&got) {
        let next = single(got, &topic(thing, "notify-next"));
        assert_eq!(next["execution"]["jobId"], "fleet", "{thing}");
    }

    // Each device reads its own execution only.
    let start = json!({"status": "IN_PROGRESS", "statusDetails": {"step": "download"}});
    accepted(&mut d1, "fleet/update", start).await;
    let e1 = accepted(&mut d1, "fleet/get", json!({})).await["execution"].clone();
    assert_eq!(e1["status"], "IN_PROGRESS");
    assert_eq!(e1["versionNumber"], 2);
    assert_eq!(e1["statusDetails"], json!({"step": "download"}));
    let e2 = accepted(&mut d2, "fleet/get", json!({})).await["execution"].clone();
    assert_eq!(e2["status"], "QUEUED");
    assert_eq!(e2["versionNumber"], 1);
    assert!(e2.get("statusDetails").is_none(), "{e2}");

    // Without force: the QUEUED execution is cancelled, the running one is not.
    bench
        .services
        .cancel_job("fleet", false, SystemTime::now())
        .unwrap();
    let got = barrier(&bench, 2, &mut [&mut d1, &mut d2]).await;
    assert!(got[0].is_empty(), "Thing1: {:?}", describe(&got[0]));
    let next = single(&got[1], &topic("Thing2", "notify-next"));
    assert_eq!(
        keys(&next),
        ["timestamp"],
        "Thing2's queue is empty: {next}"
    );
    let update = json!({"status": "IN_PROGRESS", "statusDetails": {"step": "verify"}, "includeJobExecutionState": true});
    let body = accepted(&mut d1, "fleet/update", update).await;
    assert_eq!(
        body["executionState"],
        json!({"status": "IN_PROGRESS", "statusDetails": {"step": "verify"}, "versionNumber": 3})
    );
    let body = rejected(
        &mut d2,
        "fleet/update",
        json!({"status": "IN_PROGRESS", "clientToken": "t2"}),
    )
    .await;
    assert_illegal(
        &body,
        Some("t2"),
        json!({"status": "CANCELED", "versionNumber": 2}),
    );

    // With force the running execution is cancelled too.
    bench
        .services
        .cancel_job("fleet", true, SystemTime::now())
        .unwrap();
    let got = barrier(&bench, 3, &mut [&mut d1, &mut d2]).await;
    let next = single(&got[0], &topic("Thing1", "notify-next"));
    assert_eq!(
        keys(&next),
        ["timestamp"],
        "Thing1's queue is empty: {next}"
    );
    assert!(got[1].is_empty(), "Thing2: {:?}", describe(&got[1]));
    let body = rejected(
        &mut d1,
        "fleet/update",
        json!({"status": "SUCCEEDED", "clientToken": "t1"}),
    )
    .await;
    let state =
        json!({"status": "CANCELED", "statusDetails": {"step": "verify"}, "versionNumber": 4});
    assert_illegal(&body, Some("t1"), state);
    assert_eq!(
        bench.services.job("fleet").unwrap().status,
        JobStatus::Canceled
    );
}

#[tokio::test]
async fn an_execution_past_its_in_progress_timeout_is_timed_out_by_a_tick_and_a_retry_runs_it_again(
) {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let mut dev = device(&bench, "Thing1", &[topic("Thing1", "notify-next")]).await;
    let timeout = Duration::from_secs(60);
    let job = spec("slow", &["Thing1"]).with_in_progress_timeout(timeout);
    bench.services.create_job(job, SystemTime::now()).unwrap();
    dev.publish_on(|t| t.ends_with("/notify-next")).await;

    let body = accepted(&mut dev, "start-next", json!({})).await;
    assert_eq!(body["execution"]["status"], "IN_PROGRESS");
    // startedAt is whole seconds, at or before the real start: one second
    // short of the timeout after it is still early.
    let started = body["execution"]["startedAt"].as_u64().unwrap();
    let early = UNIX_EPOCH + Duration::from_secs(started) + timeout - Duration::from_secs(1);
    bench.services.tick(early);
    assert_execution(&bench, "slow", "Thing1", ExecutionStatus::InProgress, 1, 2);

    let fired = SystemTime::now() + timeout + Duration::from_secs(1);
    bench.services.tick(fired);
    let next = json(&dev.publish_on(|t| t.ends_with("/notify-next")).await);
    assert_eq!(next, json!({"timestamp": epoch(fired)}));

    let body = rejected(&mut dev, "slow/get", json!({"clientToken": "g"})).await;
    assert_eq!(body["code"], "TerminalStateReached");
    assert_eq!(body["clientToken"], "g");
    let body = rejected(&mut dev, "slow/update", json!({"status": "IN_PROGRESS"})).await;
    assert_illegal(
        &body,
        None,
        json!({"status": "TIMED_OUT", "versionNumber": 3}),
    );

    bench
        .services
        .retry_job("slow", None, SystemTime::now())
        .unwrap();
    let next = json(&dev.publish_on(|t| t.ends_with("/notify-next")).await);
    assert_eq!(next["execution"]["jobId"], "slow");
    assert_eq!(next["execution"]["executionNumber"], 2);
    let body = accepted(&mut dev, "$next/get", json!({})).await;
    let exec = &body["execution"];
    assert_eq!(
        (&exec["jobId"], &exec["status"]),
        (&json!("slow"), &json!("QUEUED"))
    );
    assert_eq!(
        (&exec["executionNumber"], &exec["versionNumber"]),
        (&json!(2), &json!(1))
    );
    // The first execution is still there, terminal.
    let body = rejected(&mut dev, "slow/get", json!({"executionNumber": 1})).await;
    assert_eq!(body["code"], "TerminalStateReached");
}

#[tokio::test]
async fn a_retry_policy_on_timeouts_queues_execution_two_and_stops_after_its_last_retry() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let mut dev = device(&bench, "Thing1", &[topic("Thing1", "notify-next")]).await;
    let timeout = Duration::from_secs(60);
    let retry = RetryCriterion {
        on: RetryOn::TimedOut,
        retries: 1,
    };
    let job = spec("flaky", &["Thing1"])
        .with_in_progress_timeout(timeout)
        .with_retry(retry);
    bench.services.create_job(job, SystemTime::now()).unwrap();
    dev.publish_on(|t| t.ends_with("/notify-next")).await;

    accepted(&mut dev, "start-next", json!({})).await;
    bench
        .services
        .tick(SystemTime::now() + timeout + Duration::from_secs(1));
    let next = json(&dev.publish_on(|t| t.ends_with("/notify-next")).await);
    assert_eq!(next["execution"]["executionNumber"], 2, "{next}");
    assert_eq!(next["execution"]["status"], "QUEUED", "{next}");
    let body = accepted(&mut dev, "$next/get", json!({})).await;
    assert_eq!(body["execution"]["jobId"], "flaky");
    assert_eq!(body["execution"]["executionNumber"], 2);
    assert_eq!(body["execution"]["versionNumber"], 1);

    // The second run times out too: no retries left, the queue empties.
    let body = accepted(&mut dev, "start-next", json!({})).await;
    assert_eq!(body["execution"]["executionNumber"], 2);
    bench
        .services
        .tick(SystemTime::now() + timeout + Duration::from_secs(1));
    let next = json(&dev.publish_on(|t| t.ends_with("/notify-next")).await);
    assert_eq!(keys(&next), ["timestamp"], "{next}");
    let body = accepted(&mut dev, "$next/get", json!({})).await;
    assert_eq!(keys(&body), ["timestamp"]);
    assert_execution(&bench, "flaky", "Thing1", ExecutionStatus::TimedOut, 2, 3);
}
