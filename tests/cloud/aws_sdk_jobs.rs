//! AWS's own Python device SDK (awsiotsdk, tests/aws_sdk/jobs_client.py) as an independent
//! Jobs client of the real `otarig cloud`: no otarig code on the device side, every reply
//! parsed by the SDK's models. Skipped with a reason where the SDK is not installed, unless
//! OTARIG_REQUIRE_AWS_SDK=1 (CI), where that is a failure.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::process::{otarig, s, Background, ROOT};

const THING: &str = "Thing1";
const JOB_A: &str = "sdk-job-a";
const JOB_B: &str = "sdk-job-b";
/// The whole script: two connections, a dozen requests; generous for a loaded CI machine.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(120);

/// `Err(reason)` when `python3 -c "import awsiot"` fails.
fn sdk_available() -> Result<(), String> {
    match Command::new("python3")
        .args(["-c", "import awsiot"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "python3 cannot import awsiot ({}); install it with `python3 -m pip install awsiotsdk==1.31.0`",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("").trim()
        )),
        Err(e) => Err(format!("no python3 ({e})")),
    }
}

/// Runs the script to its end (killed after the deadline); its JSON and stderr.
fn run_script(args: &[&str]) -> (Value, String) {
    let script = Path::new(ROOT).join("tests/aws_sdk/jobs_client.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > SCRIPT_DEADLINE {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "the SDK client printed no JSON ({e}; {:?}):\n{stdout}\nstderr:\n{stderr}",
            out.status
        )
    });
    (json, stderr)
}

/// An execution as the SDK modeled it: the job, its status and the thing, named.
fn assert_execution(e: &Value, job: &str, status: &str, what: &str) {
    assert_eq!(e["job_id"], job, "{what}: {e}");
    assert_eq!(e["status"], status, "{what}: {e}");
    assert_eq!(
        e["thing_name"], THING,
        "{what}: thingName missing or wrong: {e}"
    );
    assert!(e["job_document"]["afr_ota"].is_object(), "{what}: {e}");
}

#[test]
fn aws_python_device_sdk_runs_the_jobs_api_against_the_bench_cloud() {
    if let Err(reason) = sdk_available() {
        if std::env::var("OTARIG_REQUIRE_AWS_SDK").as_deref() == Ok("1") {
            panic!("OTARIG_REQUIRE_AWS_SDK=1 but {reason}");
        }
        eprintln!("skipped: {reason}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    // The default policy (thing-scoped): the SDK keeps to its own thing's topics.
    let mut cloud = Background::otarig(&[
        "cloud",
        "--pki",
        s(&pki),
        "--things",
        THING,
        "--bind",
        "127.0.0.1:0",
    ]);
    cloud.ready();
    let endpoint = cloud.banner_value("endpoint: ");
    let addr: std::net::SocketAddr = endpoint.split_whitespace().next().unwrap().parse().unwrap();
    let image = tmp.path().join("app.bin");
    std::fs::write(&image, [0x5a; 3000]).unwrap();
    for id in [JOB_A, JOB_B] {
        let args = ["job", "create", "--pki", s(&pki), "--image", s(&image)];
        let out = otarig(&[&args[..], &["--targets", THING, "--id", id]].concat());
        assert_eq!(out.code, Some(0), "job create {id}: {}", out.stderr);
    }

    let port = addr.port().to_string();
    let (ca, cert, key) = (
        pki.join("ca.pem"),
        pki.join(format!("things/{THING}.pem")),
        pki.join(format!("things/{THING}.key")),
    );
    let (out, stderr) = run_script(&[
        "--endpoint",
        "127.0.0.1",
        "--port",
        &port,
        "--ca",
        s(&ca),
        "--cert",
        s(&cert),
        "--key",
        s(&key),
        "--thing",
        THING,
        "--jobs",
        &format!("{JOB_A},{JOB_B}"),
    ]);
    let context = format!("{out:#}\nscript stderr:\n{stderr}\n{}", cloud.context());
    assert!(
        out.get("error").is_none(),
        "the SDK client failed: {context}"
    );

    let classic = &out["classic"];
    let pending = &classic["get_pending"];
    assert_eq!(pending["client_token"], "pending-1", "{context}");
    let queued: Vec<&Value> = pending["queued_jobs"].as_array().unwrap().iter().collect();
    assert_eq!(queued.len(), 2, "{context}");
    assert_eq!(
        (&queued[0]["job_id"], &queued[1]["job_id"]),
        (&JOB_A.into(), &JOB_B.into())
    );
    assert_eq!(classic["describe_next"]["client_token"], "describe-1");
    assert_execution(
        &classic["describe_next"]["execution"],
        JOB_A,
        "QUEUED",
        "$next/get",
    );
    assert_eq!(classic["start_next"]["client_token"], "start-1");
    let started = &classic["start_next"]["execution"];
    assert_execution(started, JOB_A, "IN_PROGRESS", "start-next");
    assert_eq!(started["status_details"]["step"], "starting", "{context}");
    let updates = classic["updates"].as_array().unwrap();
    let states: Vec<&Value> = updates
        .iter()
        .map(|u| &u["execution_state"]["status"])
        .collect();
    assert_eq!(states, ["IN_PROGRESS", "SUCCEEDED"], "{context}");
    assert_execution(
        &classic["next_changed"]["execution"],
        JOB_B,
        "QUEUED",
        "notify-next",
    );
    let rejected = &classic["over_long_token"];
    assert_eq!(rejected["code"], "InvalidRequest", "{context}");
    assert_eq!(
        rejected["client_token"], classic["over_long_token_sent"],
        "{context}"
    );

    let v2 = &out["v2"];
    assert_execution(
        &v2["describe"]["execution"],
        JOB_B,
        "QUEUED",
        "v2 {jobId}/get",
    );
    assert_execution(
        &v2["start_next"]["execution"],
        JOB_B,
        "IN_PROGRESS",
        "v2 start-next",
    );
    assert_eq!(
        v2["update"]["execution_state"]["status"], "SUCCEEDED",
        "{context}"
    );
    assert!(v2["next_changed"].get("execution").is_none(), "{context}");
    assert_eq!(
        v2["get_pending"]["queued_jobs"],
        serde_json::json!([]),
        "{context}"
    );

    // The cloud saw what the SDK reported.
    for id in [JOB_A, JOB_B] {
        let status = otarig(&["job", "status", id, "--pki", s(&pki)]);
        assert_eq!(status.code, Some(0), "{}", status.stderr);
        let job: Value = serde_json::from_str(&status.stdout).unwrap();
        assert_eq!(job["executions"][0]["status"], "SUCCEEDED", "{id}: {job}");
    }
    assert_eq!(cloud.interrupt().code(), Some(0), "{}", cloud.context());
}
