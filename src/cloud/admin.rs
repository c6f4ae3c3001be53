//! The admin channel of a running `otarig cloud`: `otarig job create|cancel|status`
//! talk to it. A Unix socket in the (0700) PKI directory, itself 0600 before it
//! accepts anything, so only the bench user on the local host can use it; one
//! JSON request per line, one JSON response per line.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::cloud::jobdoc::{self, JobDocOptions, JobDocument};
use crate::cloud::jobs::controls_json::ControlsJson;
use crate::cloud::jobs::{Execution, JobSpec, JobView};
use crate::cloud::pki::PkiLayout;
use crate::cloud::CloudServices;

/// The socket's file name inside the PKI directory.
pub const SOCKET_NAME: &str = "admin.sock";

pub fn socket_path(pki_dir: &Path) -> PathBuf {
    pki_dir.join(SOCKET_NAME)
}

/// One admin request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Sign `image` with the PKI's code-signing key, register its stream and
    /// queue a job for `targets`. `version` is recorded in the answer and
    /// names the default job id (`<image stem>-<version>`).
    CreateJob {
        image: PathBuf,
        targets: Vec<String>,
        version: Option<String>,
        id: Option<String>,
        /// Job document settings (file path, certificate, signature field, key, stream).
        #[serde(default)]
        document: JobDocument,
        /// Rollout rate, abort and retry criteria, in AWS CreateJob's JSON.
        #[serde(default, skip_serializing_if = "no_controls")]
        controls: Box<ControlsJson>,
    },
    CancelJob {
        id: String,
        #[serde(default)]
        force: bool,
    },
    /// One job (with its executions), or every job.
    Status { id: Option<String> },
}

fn no_controls(controls: &ControlsJson) -> bool {
    controls.is_empty()
}

#[derive(Debug, Serialize, Deserialize)]
struct Response {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no otarig cloud is running with PKI {dir} (no admin socket at {socket}): start `otarig cloud --pki {dir}` first")]
    NotRunning { dir: String, socket: String },
    #[error("admin socket {socket}: {source}")]
    Io {
        socket: String,
        #[source]
        source: io::Error,
    },
    #[error("the running cloud refused the request: {0}")]
    Refused(String),
    #[error("the running cloud sent an answer that is not JSON: {0}")]
    BadAnswer(String),
}

/// Serves the admin socket until dropped.
pub struct AdminServer {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Binds `{pki}/admin.sock` (replacing a stale one) with mode 0600.
    pub fn start(pki: PkiLayout, services: Arc<CloudServices>) -> io::Result<AdminServer> {
        let path = socket_path(pki.dir());
        if path.exists() {
            // A live cloud would answer; a stale socket from a killed one would not.
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another otarig cloud is serving {}; stop it first",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(&path)?;
        }
        let listener = UnixListener::from_std(listen_private(&path)?)?;
        let ctx = Arc::new(Ctx { pki, services });
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve(stream, ctx.clone()));
                    }
                    Err(e) => {
                        warn!("admin socket accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(AdminServer { path, task })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A listening socket at `path` that only this user can connect to, whatever the umask.
fn listen_private(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    // bind → chmod 0600 → listen: until listen() every connect is refused, so no one
    // reaches the socket while it still has the umask's mode.
    bind(fd.as_raw_fd(), &nix::sys::socket::UnixAddr::new(path)?)?;
    let private = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| Ok(listen(&fd, Backlog::MAXCONN)?));
    if let Err(e) = private {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(std::os::unix::net::UnixListener::from(fd))
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

struct Ctx {
    pki: PkiLayout,
    services: Arc<CloudServices>,
}

async fn serve(stream: UnixStream, ctx: Arc<Ctx>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(req) => match execute(&ctx, req) {
                Ok(result) => Response {
                    ok: true,
                    result: Some(result),
                    error: None,
                },
                Err(e) => Response {
                    ok: false,
                    result: None,
                    error: Some(e),
                },
            },
            Err(e) => Response {
                ok: false,
                result: None,
                error: Some(format!("bad request: {e}")),
            },
        };
        let mut text = serde_json::to_string(&response).unwrap_or_else(|_| "{\"ok\":false}".into());
        text.push('\n');
        if write.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Sends one request to the cloud serving `pki_dir` and returns its result.
pub async fn request(pki_dir: &Path, req: &Request) -> Result<Value, AdminError> {
    let path = socket_path(pki_dir);
    let socket = path.display().to_string();
    let mut stream = UnixStream::connect(&path)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => AdminError::NotRunning {
                dir: pki_dir.display().to_string(),
                socket: socket.clone(),
            },
            _ => AdminError::Io {
                socket: socket.clone(),
                source: e,
            },
        })?;
    let io_err = |source| AdminError::Io {
        socket: socket.clone(),
        source,
    };
    let mut line = serde_json::to_string(req).expect("requests serialise");
    line.push('\n');
    stream.write_all(line.as_bytes()).await.map_err(io_err)?;
    let mut lines = BufReader::new(stream).lines();
    let answer = lines.next_line().await.map_err(io_err)?.unwrap_or_default();
    let response: Response =
        serde_json::from_str(&answer).map_err(|_| AdminError::BadAnswer(answer.clone()))?;
    if response.ok {
        Ok(response.result.unwrap_or(Value::Null))
    } else {
        Err(AdminError::Refused(response.error.unwrap_or_default()))
    }
}

fn execute(ctx: &Ctx, req: Request) -> Result<Value, String> {
    let now = SystemTime::now();
    match req {
        Request::CreateJob {
            image,
            targets,
            version,
            id,
            document,
            controls,
        } => {
            let settings = JobSettings {
                document: &document,
                controls: &controls,
            };
            create_job(ctx, &image, targets, version, id, settings, now)
        }
        Request::CancelJob { id, force } => {
            ctx.services
                .cancel_job(&id, force, now)
                .map_err(|e| format!("cancel job `{id}`: {e}"))?;
            ctx.services
                .job(&id)
                .map(|j| job_json(&j))
                .ok_or_else(|| format!("job `{id}` vanished after cancel"))
        }
        Request::Status { id: Some(id) } => ctx
            .services
            .job(&id)
            .map(|j| job_json(&j))
            .ok_or_else(|| format!("no job `{id}` (see `otarig job status` for all jobs)")),
        Request::Status { id: None } => Ok(Value::Array(
            ctx.services.jobs().iter().map(job_json).collect(),
        )),
    }
}

/// How a new job describes its file and spreads over its targets.
struct JobSettings<'a> {
    document: &'a JobDocument,
    controls: &'a ControlsJson,
}

fn create_job(
    ctx: &Ctx,
    image_path: &Path,
    targets: Vec<String>,
    version: Option<String>,
    id: Option<String>,
    settings: JobSettings<'_>,
    now: SystemTime,
) -> Result<Value, String> {
    if targets.is_empty() {
        return Err("a job needs at least one target thing (--targets Thing1,Thing2)".into());
    }
    let controls = settings.controls.to_controls()?;
    let document = settings.document;
    check_targets_known(&ctx.pki, &targets)?;
    let image = std::fs::read(image_path)
        .map_err(|e| format!("cannot read image {}: {e}", image_path.display()))?;
    let id = id.unwrap_or_else(|| {
        // Two creates of one image within a second get distinct ids.
        let base = default_job_id(image_path, version.as_deref(), now);
        std::iter::once(base.clone())
            .chain((2..).map(|n| format!("{base}-{n}")))
            .find(|candidate| ctx.services.job(candidate).is_none())
            .expect("an unused id exists")
    });
    let opts = JobDocOptions::for_job(&ctx.pki, &id, &targets, document)
        .map_err(|e| format!("job `{id}`: {e} (PKI {})", ctx.pki.dir().display()))?;
    let built = jobdoc::build(&image, &opts, &[]).map_err(|e| format!("job `{id}`: {e}"))?;
    ctx.services
        .add_stream(
            &built.stream_id,
            vec![(u32::from(built.file_id), Arc::from(built.payload.clone()))],
        )
        .map_err(|e| format!("job `{id}`: stream `{}`: {e}", built.stream_id))?;
    let spec =
        JobSpec::new(id.clone(), built.document.clone(), targets.clone()).with_controls(controls);
    ctx.services
        .create_job(spec, now)
        .map_err(|e| format!("job `{id}`: {e}"))?;
    Ok(serde_json::json!({
        "id": id,
        "version": version,
        "targets": targets,
        "stream": built.stream_id,
        "file_id": built.file_id,
        "size": built.payload.len(),
        "signature": built.signature,
        "warnings": built.warnings,
    }))
}

/// The cloud serves the things with a certificate in its PKI (read now, so one
/// issued while it runs counts); a job for any other thing would stay QUEUED forever.
fn check_targets_known(pki: &PkiLayout, targets: &[String]) -> Result<(), String> {
    let dir = pki.dir().display();
    let known = crate::cloud::pki::things_in(pki.dir())
        .map_err(|e| format!("listing the things in PKI {dir}: {e}"))?;
    let unknown: Vec<&str> = targets
        .iter()
        .filter(|t| !known.contains(t))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    Err(format!(
        "unknown target thing {}: no certificate for it in PKI {dir} (known things: {known}); \
         issue one with `otarig pki init --dir {dir} --things {}`",
        unknown.join(", "),
        unknown.join(",")
    ))
}

/// `<image stem>[-<version>]-<unix seconds>`, in job-id characters, ≤ 60 (AWS
/// allows 64: room for the `-N` of a second job in the same second).
fn default_job_id(image: &Path, version: Option<&str>, now: SystemTime) -> String {
    let stem = image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let raw = match version {
        Some(v) => format!("{stem}-{v}-{secs}"),
        None => format!("{stem}-{secs}"),
    };
    let mut id: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.len() > 60 {
        id = id[id.len() - 60..].to_string();
    }
    id
}

/// A job as `otarig job status` shows it: AWS's names where AWS has one; `waiting` (the
/// targets its rollout has not reached) and `abort` (why it canceled itself) are the bench's.
fn job_json(job: &JobView) -> Value {
    let mut json = serde_json::json!({
        "id": job.id,
        "status": job.status.as_str(),
        "targets": job.targets,
        "document": job.document,
        "executions": job.executions.iter().map(execution_json).collect::<Vec<_>>(),
    });
    let controls = serde_json::to_value(ControlsJson::from_controls(&job.controls))
        .expect("controls are plain JSON");
    if let (Value::Object(out), Value::Object(controls)) = (&mut json, controls) {
        out.extend(controls);
        if job.controls.rollout.is_some() {
            out.insert("waiting".into(), serde_json::json!(job.waiting));
        }
        if let Some(a) = &job.aborted {
            out.insert(
                "abort".into(),
                serde_json::json!({
                    "failureType": a.criterion.on.as_str(),
                    "thresholdPercentage": a.criterion.threshold_percentage,
                    "minNumberOfExecutedThings": a.criterion.min_executed_things,
                    "executedThings": a.executed,
                    "failedThings": a.failures,
                    "canceledQueued": a.canceled_queued,
                    "neverRolledOut": a.never_rolled_out,
                    "leftInProgress": a.left_in_progress,
                    "comment": a.describe(&job.id),
                }),
            );
        }
    }
    json
}

fn execution_json(e: &Execution) -> Value {
    serde_json::json!({
        "thing": e.thing,
        "status": e.status.as_str(),
        "statusDetails": e.status_details,
        "versionNumber": e.version_number,
        "executionNumber": e.execution_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_job_ids_use_job_id_characters_only() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        assert_eq!(
            default_job_id(Path::new("/x/app v5.bin"), Some("0.9.5"), t),
            "app_v5-0_9_5-1000"
        );
        assert_eq!(default_job_id(Path::new("fw.hex"), None, t), "fw-1000");
        let long = "x".repeat(100);
        assert_eq!(default_job_id(Path::new(&long), None, t).len(), 60);
    }

    #[test]
    fn two_jobs_for_one_image_in_the_same_second_get_distinct_ids() {
        let dir = tempfile::tempdir().unwrap();
        let opts = crate::cloud::pki::PkiOptions {
            things: vec!["Thing1".into()],
            ..Default::default()
        };
        crate::cloud::pki::init(dir.path(), &opts).unwrap();
        let ctx = Ctx {
            pki: PkiLayout::new(dir.path()),
            services: Arc::new(CloudServices::new(Arc::new(crate::timeline::NullSink))),
        };
        let image = dir.path().join("app.bin");
        std::fs::write(&image, [7u8; 64]).unwrap();
        let now = SystemTime::now();
        let create = || {
            create_job(
                &ctx,
                &image,
                vec!["Thing1".into()],
                None,
                None,
                JobSettings {
                    document: &JobDocument::default(),
                    controls: &ControlsJson::default(),
                },
                now,
            )
            .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (first, second) = (create(), create());
        assert_eq!(second, format!("{first}-2"));
        assert_eq!(ctx.services.jobs().len(), 2);
    }

    #[test]
    fn requests_are_json_lines_with_an_op_tag() {
        let req = Request::CancelJob {
            id: "j1".into(),
            force: true,
        };
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(text, r#"{"op":"cancel_job","id":"j1","force":true}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), req);
        assert!(serde_json::from_str::<Request>(r#"{"op":"drop_tables"}"#).is_err());
    }
}
