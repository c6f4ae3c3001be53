//! `otarig cloud` and `otarig job`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};

use super::{exit, report_error};
use crate::cloud::admin::{self, AdminServer, Request};
use crate::cloud::client::{ClientMode, ClientModeConfig};
use crate::cloud::gateway::{Gateway, GatewayConfig, TlsSettings};
use crate::cloud::jobdoc::{self, JobDocument};
use crate::cloud::jobs::controls_json::{
    AbortConfigJson, ControlsJson, RetryConfigJson, RolloutConfigJson,
};
use crate::cloud::pki::{self, PkiLayout, PkiOptions};
use crate::cloud::CloudServices;
use crate::config::rig::Policy;
use crate::timeline::{EventKind, EventSink, Source};

/// Where the PKI lives when neither `--pki` nor a rig names one.
const DEFAULT_PKI: &str = ".otarig/pki";

/// The log target of what `otarig cloud`'s devices and jobs do, shown at info level by
/// default (`-q` hides it; `OTARIG_LOG=otarig_cloud=off` too).
pub(super) const ACTIVITY: &str = "otarig_cloud";

/// Says, one log line each, when a device connects or disconnects, when a job
/// execution changes and when a job aborts: what a person watching `otarig cloud` needs
/// to follow a board.
/// Every text a device chose (client id, reason, status details) is shown escaped, so a
/// device cannot forge a log line or drive the terminal.
struct ActivityLog;

/// `s` with every control character escaped (`\n`, `\u{1b}`).
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl EventSink for ActivityLog {
    fn emit(&self, _source: Source, kind: EventKind) {
        match kind {
            EventKind::Connection {
                conn,
                client_id,
                thing,
                connected,
                reason,
            } => {
                let client = shown(&client_id);
                let who = match thing {
                    Some(t) if t != client_id => {
                        format!("{client} (thing {}, connection {conn})", shown(&t))
                    }
                    _ => format!("{client} (connection {conn})"),
                };
                if connected {
                    tracing::info!(target: ACTIVITY, "connected: {who}");
                } else {
                    let why = reason
                        .map(|r| format!(": {}", shown(&r)))
                        .unwrap_or_default();
                    tracing::info!(target: ACTIVITY, "disconnected: {who}{why}");
                }
            }
            EventKind::JobExecution {
                job_id,
                thing,
                status,
                status_details,
                ..
            } => {
                let details = if status_details.is_empty() {
                    String::new()
                } else {
                    let pairs: Vec<String> = status_details
                        .iter()
                        .map(|(k, v)| format!("{}={}", shown(k), shown(v)))
                        .collect();
                    format!(" ({})", pairs.join(", "))
                };
                tracing::info!(
                    target: ACTIVITY,
                    "job {} on {}: {status}{details}",
                    shown(&job_id),
                    shown(&thing)
                );
            }
            EventKind::BenchError { message } => {
                tracing::warn!(target: ACTIVITY, "{}", shown(&message));
            }
            // What the cloud itself says, e.g. why a job aborted.
            EventKind::Note { text } => {
                tracing::info!(target: ACTIVITY, "{}", shown(&text));
            }
            _ => {}
        }
    }
}

#[derive(Args)]
pub struct CloudArgs {
    /// Rig file: the endpoint (bind, TLS, policy, limits), the PKI and the things
    /// come from it; a rig with `cloud.client` runs client mode instead.
    #[arg(long)]
    pub rig: Option<PathBuf>,
    /// PKI directory; created (CA, endpoint, code signing) if missing. Without a
    /// rig, the things served are those with a certificate in it. With a rig: the
    /// rig's, created only where the rig allows it, as `otarig run` does
    #[arg(long)]
    pub pki: Option<PathBuf>,
    /// With --rig: as for `otarig run` (where a PKI the rig does not name lives)
    #[arg(long, value_name = "DIR", requires = "rig")]
    pub state_dir: Option<PathBuf>,
    /// Address to listen on (default: the rig's, else 127.0.0.1:8883).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
    /// Plain TCP instead of mutual TLS.
    #[arg(long)]
    pub plain: bool,
    /// Issue client certificates for these things too (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub things: Vec<String>,
    /// Endpoint policy [default: the rig's, else thing-scoped]
    #[arg(long, value_enum)]
    pub policy: Option<Policy>,
}

#[derive(Subcommand)]
pub enum JobCommand {
    /// Sign an image, register its stream and queue a job for some things.
    Create(Box<JobCreateArgs>),
    /// Cancel a job (`--force` also cancels executions already IN_PROGRESS).
    Cancel {
        /// The job to cancel.
        id: String,
        /// Also cancel executions already IN_PROGRESS.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        pki: PkiChoice,
    },
    /// Show one job with its executions, or every job.
    Status {
        /// The job to show (default: every job).
        id: Option<String>,
        #[command(flatten)]
        pki: PkiChoice,
    },
}

/// Which running cloud `otarig job` talks to: the one on a PKI directory, or on a rig's
/// PKI (as `run`, `doctor` and `cloud --rig` resolve it).
#[derive(Args, Clone, Debug, Default)]
pub struct PkiChoice {
    /// PKI directory of the running cloud (its admin socket lives there)
    /// [default: .otarig/pki]
    #[arg(long, conflicts_with = "rig")]
    pub pki: Option<PathBuf>,
    /// The rig whose PKI the running cloud uses
    #[arg(long)]
    pub rig: Option<PathBuf>,
    /// With --rig: as for `otarig run`
    #[arg(long, value_name = "DIR", requires = "rig")]
    pub state_dir: Option<PathBuf>,
}

impl PkiChoice {
    fn dir(&self) -> Result<PathBuf, String> {
        match (&self.pki, &self.rig) {
            (Some(dir), _) => Ok(dir.clone()),
            (None, Some(rig)) => {
                let mut rig = crate::config::load_rig(rig).map_err(|d| d.to_string())?;
                rig.use_state_dir(self.state_dir.as_deref());
                Ok(rig.cloud.pki)
            }
            (None, None) => Ok(PathBuf::from(DEFAULT_PKI)),
        }
    }
}

#[derive(Args)]
pub struct JobCreateArgs {
    /// The firmware file to deliver.
    #[arg(long)]
    pub image: PathBuf,
    /// Things to update (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    pub targets: Vec<String>,
    /// Version label recorded with the job.
    #[arg(long)]
    pub version: Option<String>,
    /// Job id (default: derived from the image name and time).
    #[arg(long)]
    pub id: Option<String>,
    /// `filepath` in the job document: where a POSIX OTA PAL writes the image
    /// (relative to the device's working directory), a label on a chip
    #[arg(long, value_name = "PATH", default_value = jobdoc::DEFAULT_FILE_PATH)]
    pub filepath: String,
    /// `certfile` in the job document: the code-signing certificate's path or label
    /// on the device
    #[arg(long, value_name = "PATH", default_value = jobdoc::DEFAULT_CERT_FILE)]
    pub certfile: String,
    /// PEM P-256 private key that signs the image [default: codesign.key of the PKI]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The job document's signature field (the algorithm the device is told)
    #[arg(long, value_name = "FIELD", default_value = jobdoc::SIGNATURE_KEY)]
    pub signature: String,
    /// Stream id [default: `AFR_OTA-<uuid>`, as long as AWS's OTA service makes them]
    #[arg(long, value_name = "ID")]
    pub stream: Option<String>,
    /// Roll the executions out at a rate, as `aws iot create-job` takes it (JSON, or
    /// file://PATH), e.g. '{"maximumPerMinute": 5}'
    #[arg(long, value_name = "JSON", value_parser = aws_json::<RolloutConfigJson>)]
    pub job_executions_rollout_config: Option<RolloutConfigJson>,
    /// Cancel the job when too many executions fail, as `aws iot create-job` takes it, e.g.
    /// '{"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
    /// "thresholdPercentage": 50, "minNumberOfExecutedThings": 2}]}'
    #[arg(long, value_name = "JSON", value_parser = aws_json::<AbortConfigJson>)]
    pub abort_config: Option<AbortConfigJson>,
    /// Re-queue failed or timed-out executions, as `aws iot create-job` takes it, e.g.
    /// '{"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]}'
    #[arg(long, value_name = "JSON", value_parser = aws_json::<RetryConfigJson>)]
    pub job_executions_retry_config: Option<RetryConfigJson>,
    #[command(flatten)]
    pub pki: PkiChoice,
}

/// A `--…-config` value: AWS CreateJob's JSON, inline or `file://PATH` (as the AWS CLI
/// reads it), every limit checked before the cloud is asked.
fn aws_json<T: serde::de::DeserializeOwned + CheckedConfig>(value: &str) -> Result<T, String> {
    let text = match value.strip_prefix("file://") {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
        None => value.to_string(),
    };
    let parsed: T = serde_json::from_str(&text).map_err(|e| format!("{e}"))?;
    parsed.check()?;
    Ok(parsed)
}

/// The check of one `--…-config` value.
trait CheckedConfig {
    fn check(&self) -> Result<(), String>;
}

impl CheckedConfig for RolloutConfigJson {
    fn check(&self) -> Result<(), String> {
        self.to_rollout().map(|_| ()).map_err(|p| p.to_string())
    }
}

impl CheckedConfig for AbortConfigJson {
    fn check(&self) -> Result<(), String> {
        self.to_criteria().map(|_| ()).map_err(|p| p.to_string())
    }
}

impl CheckedConfig for RetryConfigJson {
    fn check(&self) -> Result<(), String> {
        self.to_criteria().map(|_| ()).map_err(|p| p.to_string())
    }
}

pub fn cloud(args: CloudArgs) -> u8 {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::BENCH;
        }
    };
    match runtime.block_on(run_cloud(args)) {
        Ok(()) => exit::PASSED,
        Err(CloudFailure::Usage(e)) => {
            report_error(&e);
            exit::USAGE
        }
        Err(CloudFailure::Bench(e)) => {
            report_error(&e);
            exit::BENCH
        }
    }
}

enum CloudFailure {
    Usage(anyhow::Error),
    Bench(anyhow::Error),
}

/// What `otarig cloud` serves, resolved from the rig and the flags.
struct Plan {
    pki: PathBuf,
    gateway: GatewayConfig,
    things: Vec<String>,
    hosts: Vec<String>,
    client: Option<ClientModeConfig>,
}

fn plan(args: &CloudArgs) -> anyhow::Result<Plan> {
    let mut gateway = GatewayConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 8883)),
        ..GatewayConfig::default()
    };
    let mut things = args.things.clone();
    let mut hosts = Vec::new();
    let mut client = None;
    let mut tls = !args.plain;
    let mut pki_dir = PathBuf::from(DEFAULT_PKI);
    // Set here, not left to `GatewayConfig::default()`: one default on every path.
    let mut policy = Policy::ThingScoped;
    if let Some(rig_path) = &args.rig {
        let mut rig = crate::config::load_rig(rig_path).map_err(|d| anyhow!("{d}"))?;
        rig.use_state_dir(args.state_dir.as_deref());
        if args.pki.is_none() {
            // Checked (or created where the rig allows) before anything below may add to it.
            pki::prepare(&rig)?;
        }
        gateway = GatewayConfig::from_rig(&rig);
        policy = rig.cloud.endpoint.policy;
        tls = rig.cloud.endpoint.tls && !args.plain;
        pki_dir = rig.cloud.pki.clone();
        hosts = rig.cloud.endpoint.hosts.clone();
        things.extend(rig.boards.iter().map(|b| b.thing_name.clone()));
        if let Some(c) = &rig.cloud.client {
            client = Some(ClientModeConfig::for_broker(
                &c.broker,
                c.mirror_notify_next,
            )?);
        }
    }
    if let Some(dir) = &args.pki {
        pki_dir = dir.clone();
    }
    if let Some(bind) = args.bind {
        gateway.bind = bind;
    }
    gateway.policy = args.policy.unwrap_or(policy);
    gateway.tls = tls.then(|| TlsSettings {
        pki_dir: pki_dir.clone(),
    });
    things.sort();
    things.dedup();
    Ok(Plan {
        pki: pki_dir,
        gateway,
        things,
        hosts,
        client,
    })
}

async fn run_cloud(args: CloudArgs) -> Result<(), CloudFailure> {
    let plan = plan(&args).map_err(CloudFailure::Usage)?;
    let opts = PkiOptions {
        things: plan.things.clone(),
        hosts: plan.hosts.clone(),
        reissue_endpoint: false,
    };
    let report = pki::init(&plan.pki, &opts)
        .with_context(|| format!("preparing the PKI in {}", plan.pki.display()))
        .map_err(CloudFailure::Usage)?;
    super::pki::print_tightened(&report.tightened);
    let layout = PkiLayout::new(&plan.pki);
    let things = pki::things_in(&plan.pki).map_err(|e| CloudFailure::Bench(e.into()))?;
    let sink: Arc<dyn EventSink> = Arc::new(ActivityLog);
    let services = Arc::new(CloudServices::new(sink.clone()));

    // The admin socket first: a second cloud on this PKI stops here, before it
    // prints an endpoint a script could mistake for a running cloud.
    let admin = AdminServer::start(layout.clone(), services.clone())
        .with_context(|| format!("opening the admin socket in {}", plan.pki.display()))
        .map_err(CloudFailure::Bench)?;
    let mut gateway = None;
    let mut client = None;
    match plan.client.clone() {
        Some(cfg) => {
            super::say(format!(
                "client mode: attached to broker {}:{}",
                cfg.host, cfg.port
            ));
            client = Some(ClientMode::start(cfg, services.clone(), sink.clone()));
        }
        None => {
            let gw = Gateway::start(plan.gateway.clone(), services.clone(), sink.clone())
                .await
                .map_err(|e| CloudFailure::Bench(e.into()))?;
            let scheme = if gw.is_tls() {
                "mqtts (mutual TLS)"
            } else {
                "mqtt (plain TCP)"
            };
            super::say(format!(
                "endpoint: {} {scheme}, policy {}",
                gw.local_addr(),
                plan.gateway.policy
            ));
            gateway = Some(gw);
        }
    }
    print_credentials(&layout, &things);
    super::say(format!(
        "admin socket: {} (otarig job create|cancel|status --pki {})",
        admin.path().display(),
        plan.pki.display()
    ));
    super::say("press Ctrl-C to stop");

    // Execution timeouts and rollouts fire on ticks.
    let ticker = tokio::spawn(
        services
            .clone()
            .run_ticker(std::time::Duration::from_secs(1)),
    );
    let _ = tokio::signal::ctrl_c().await;
    ticker.abort();
    drop(admin);
    if let Some(gw) = gateway {
        gw.shutdown().await;
    }
    if let Some(c) = client {
        c.shutdown().await;
    }
    Ok(())
}

fn print_credentials(layout: &PkiLayout, things: &[String]) {
    super::say(format!("CA certificate: {}", layout.ca_cert().display()));
    if things.is_empty() {
        super::say("things: none (add some with --things or `otarig pki`)");
    }
    for thing in things {
        super::say(format!(
            "thing {thing}: certificate {} key {}",
            layout.thing_cert(thing).display(),
            layout.thing_key(thing).display()
        ));
    }
    super::say(format!(
        "code signing certificate: {}",
        layout.codesign_cert().display()
    ));
}

pub fn job(cmd: JobCommand) -> u8 {
    let (pki, req) = match cmd {
        JobCommand::Create(a) => {
            let a = *a;
            let image = match std::fs::canonicalize(&a.image) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: image {}: {e}", a.image.display());
                    return exit::USAGE;
                }
            };
            // The key is read by the cloud, which may run in another directory.
            let key = match a.key.as_deref().map(std::fs::canonicalize).transpose() {
                Ok(k) => k,
                Err(e) => {
                    eprintln!(
                        "error: signing key {}: {e}",
                        a.key.unwrap_or_default().display()
                    );
                    return exit::USAGE;
                }
            };
            let document = JobDocument {
                filepath: Some(a.filepath),
                certfile: Some(a.certfile),
                signature: Some(a.signature),
                key,
                stream: a.stream,
            };
            let controls = Box::new(ControlsJson {
                job_executions_rollout_config: a.job_executions_rollout_config,
                abort_config: a.abort_config,
                job_executions_retry_config: a.job_executions_retry_config,
            });
            (
                a.pki,
                Request::CreateJob {
                    image,
                    targets: a.targets,
                    version: a.version,
                    id: a.id,
                    document,
                    controls,
                },
            )
        }
        JobCommand::Cancel { id, force, pki } => (pki, Request::CancelJob { id, force }),
        JobCommand::Status { id, pki } => (pki, Request::Status { id }),
    };
    let pki = match pki.dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprint!("{e}");
            eprintln!(
                "error: the rig file has errors (`otarig validate --rig FILE` shows the same)"
            );
            return exit::USAGE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::BENCH;
        }
    };
    match runtime.block_on(admin::request(Path::new(&pki), &req)) {
        Ok(result) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&result).unwrap_or_default()
            );
            // Said where a person looks, too: e.g. blocks a v3 agent's buffer would drop.
            for warning in result["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", warning.as_str().unwrap_or_default());
            }
            exit::PASSED
        }
        Err(e @ admin::AdminError::Refused(_)) => {
            report_error(&e.into());
            exit::USAGE
        }
        Err(e) => {
            report_error(&e.into());
            exit::BENCH
        }
    }
}
