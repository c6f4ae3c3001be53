//! `otarig sim --dir BOARD_DIR`: one simulated board, forever (until killed = power off).
//!
//! Each boot: the bootloader runs over `flash.bin` and prints its lines; the booted
//! image's personality decides what the app does; the app connects to the endpoint in
//! `nvs.json` and runs the OTA agent of the image's generation, executing its actions
//! (subscribe, publish, timers, reset) and feeding it connects, messages and timers.
//! A reset (agent, watchdog, or SIGUSR1 = the reset line) runs the bootloader again in
//! the same process.
//!
//! Console lines the rig can match (regexes):
//!
//! | what | line |
//! |---|---|
//! | boot banner, running version | `^\[INFO\] otarig-sim app version (?P<version>\d+\.\d+\.\d+) \(thing (?P<thing>[^)]+)\)$` |
//! | bootloader start | `^Bootloader version 00\.09\.00$` (then the §5.2 bootloader lines) |
//! | online | `MQTT connection established with (?P<endpoint>\S+)\.$` |
//! | connect failure | `Failed to establish MQTT connection to (?P<endpoint>\S+): .*\. Retrying in \d+ s\.$` |
//! | connection lost | `MQTT connection lost: ` |
//! | app crash | `^Hard fault: ` |
//! | no app in the lower bank | nothing, or the board's configured `fault_line` |
//!
//! v1 images prefix their app lines with `<msgNo> <tick> ` (ms since boot) and a task
//! name (`[OTA Task]`, `[iot_thread]`); bootloader lines and the banner have no prefix.
//!
//! The `reset_hangs` quirk (the field report's bug): the software reset the agent forces
//! after it rejected an image (the PAL's `Rejected image.`, then `[prvResetDevice]
//! Attempting forced reset of device...` and `Resetting the device.`) never completes:
//! nothing more is printed and the reset line does nothing; only a power cycle (kill and
//! restart) brings the board back. Every other reset of such an image works: the
//! activation reset after a download, the self-test timer's reset, the watchdog, the
//! reset line. So `same-version` on it shows the field's order: the activation reset
//! boots the image again, the agent fails the job with `rejected: 0x23000000`, forces a
//! reset, and the board hangs until its power is cut.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use p256::ecdsa::VerifyingKey;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::{sleep_until, Instant};

use super::agent::{Action, Agent, AgentConfig, AgentKind, Input, SelfTest, TimerId};
use super::bootloader::{self, Boot};
use super::codesign;
use super::console::{flush_stdout, Console, Sink};
use super::flash::{Flash, FlashError};
use super::image::{decode_app, Delays, Personality, DESCRIPTOR_LEN};
use super::mqtt::{self, Link};
use super::nvs::{Nvs, NvsError};
use super::platform::PlatformPal;
use super::FLASH_FILE;
use crate::model::lag::report_lag;
use crate::model::AppOutcome;

/// How long a reset waits for the MQTT disconnect to go out.
const FLUSH_BEFORE_RESET: Duration = Duration::from_secs(5);

/// Makes the agent of a generation (`sim::agent::new_agent`).
pub type AgentFactory = fn(AgentKind, AgentConfig) -> Box<dyn Agent + Send>;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Nvs(#[from] NvsError),
    #[error(transparent)]
    Flash(#[from] FlashError),
    #[error("board {dir}: trusted code-signing certificate: {source}")]
    Key {
        dir: PathBuf,
        #[source]
        source: codesign::KeyError,
    },
    #[error("board {dir}: cannot listen for the reset line (SIGUSR1): {source}")]
    Signal {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("board {dir}: {source}")]
    Mqtt {
        dir: PathBuf,
        #[source]
        source: mqtt::MqttSetupError,
    },
}

/// Why an app stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The firmware reset itself (agent, PAL); `after_reject`: the PAL rejected an image
    /// in this boot and no new download started since (the agent's forced reset).
    Software { after_reject: bool },
    /// The bootloader's watchdog expired.
    Watchdog,
    /// The reset line (SIGUSR1).
    Line,
}

/// Runs the board in `dir` until the process is killed.
pub async fn run(
    dir: &Path,
    factory: AgentFactory,
    sink: Sink,
) -> Result<Infallible, RuntimeError> {
    let nvs = Nvs::load(dir)?;
    let trusted =
        codesign::load_public(&nvs.bootloader_key).map_err(|source| RuntimeError::Key {
            dir: dir.to_path_buf(),
            source,
        })?;
    let mut reset_line =
        signal(SignalKind::user_defined1()).map_err(|source| RuntimeError::Signal {
            dir: dir.to_path_buf(),
            source,
        })?;
    // The host's overload is the bench's doing, not the firmware's: say so.
    let uart = sink.clone();
    tokio::spawn(report_lag(move |note| uart.line(&note)));
    let mut console = Console::new(sink);
    loop {
        console.reboot();
        let mut flash = Flash::open(&dir.join(FLASH_FILE))?;
        let report = bootloader::boot(&mut flash, &trusted)?;
        for line in &report.lines {
            console.raw(line);
        }
        let watchdog = matches!(report.boot, Boot::Launch { watchdog: true, .. });
        let app = read_app(&flash);
        let stop = match app {
            Err(_) if report.boot == Boot::Default => {
                // The CPU runs whatever the lower bank holds: nothing. Dead until reset.
                if let Some(line) = &nvs.fault_line {
                    console.raw(line);
                }
                reset_line.recv().await;
                Stop::Line
            }
            Err(_) => {
                console.raw("Hard fault: general exception, cause 0x0a (reserved instruction), EPC 0x9d000020");
                fault(watchdog, Delays::default().watchdog, &mut reset_line).await
            }
            Ok(p) => {
                let ctx = AppContext {
                    nvs: &nvs,
                    dir,
                    trusted,
                    factory,
                };
                let (stop, c) =
                    run_app(&ctx, p.clone(), flash, console, watchdog, &mut reset_line).await?;
                console = c;
                if p.quirks.reset_hangs && hangs(stop) {
                    // The field bug: the reset never completes; not even the reset line helps.
                    std::future::pending::<()>().await;
                }
                stop
            }
        };
        tracing::debug!(?stop, "board reset");
    }
}

/// Whether a `reset_hangs` image hangs on this reset: only on the software reset that
/// follows a rejection (see the module comment).
fn hangs(stop: Stop) -> bool {
    stop == Stop::Software { after_reject: true }
}

/// The app's entry point: magic, length and personality right after the descriptor.
fn read_app(flash: &Flash) -> Result<Personality, String> {
    let head = flash
        .read(0, DESCRIPTOR_LEN as u32, 12)
        .map_err(|e| e.to_string())?;
    let len = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
    let len = len.min(flash.bank_size() as usize - DESCRIPTOR_LEN - 12);
    let app = flash
        .read(0, DESCRIPTOR_LEN as u32, 12 + len)
        .map_err(|e| e.to_string())?;
    decode_app(&app)
}

/// A crashed CPU: silent until the watchdog (if running) or the reset line.
async fn fault(watchdog: bool, period: Duration, reset_line: &mut Signal) -> Stop {
    if watchdog {
        tokio::select! {
            _ = tokio::time::sleep(period) => Stop::Watchdog,
            _ = reset_line.recv() => Stop::Line,
        }
    } else {
        reset_line.recv().await;
        Stop::Line
    }
}

struct AppContext<'a> {
    nvs: &'a Nvs,
    dir: &'a Path,
    trusted: VerifyingKey,
    factory: AgentFactory,
}

async fn run_app(
    ctx: &AppContext<'_>,
    p: Personality,
    mut flash: Flash,
    mut console: Console,
    watchdog: bool,
    reset_line: &mut Signal,
) -> Result<(Stop, Console), RuntimeError> {
    let booted = Instant::now();
    let watchdog_at = watchdog.then(|| booted + p.delays.watchdog);
    tokio::select! {
        _ = tokio::time::sleep(p.delays.boot) => {}
        _ = reset_line.recv() => return Ok((Stop::Line, console)),
    }
    let thing = p
        .thing_name
        .clone()
        .unwrap_or_else(|| ctx.nvs.thing_name.clone());
    console.raw(&format!(
        "[INFO] otarig-sim app version {} (thing {thing})",
        p.version
    ));
    console.set_style(p.agent);
    let task = app_task(p.agent);
    match p.agent {
        AgentKind::V1 => console.task(task, &format!("OTA demo version {}", p.version)),
        AgentKind::V3 => console.task(
            task,
            &format!("OTA over MQTT demo, Application version {}", p.version),
        ),
    }
    if p.outcome == AppOutcome::Crash {
        tokio::select! {
            _ = tokio::time::sleep(p.delays.crash_after) => {}
            _ = reset_line.recv() => return Ok((Stop::Line, console)),
        }
        console.raw(
            "Hard fault: general exception, cause 0x04 (address error on load), EPC 0x9d0012a4",
        );
        let remaining = watchdog_at.map(|t| t.saturating_duration_since(Instant::now()));
        let stop = fault(watchdog, remaining.unwrap_or_default(), reset_line).await;
        return Ok((stop, console));
    }
    flash.sector_time = p.delays.flash_sector;
    let mut pal = PlatformPal::new(
        flash,
        console,
        p.agent,
        ctx.trusted,
        ctx.nvs.codesign_cert_dir.clone(),
        watchdog,
    );
    let config = AgentConfig {
        thing_name: thing.clone(),
        version: p.version.tuple(),
        self_test: match p.outcome {
            AppOutcome::Fail => SelfTest::Fail,
            AppOutcome::Hang => SelfTest::Hang,
            _ => SelfTest::Pass,
        },
        self_test_timeout: p.delays.self_test_timeout,
        file_request_wait: p.delays.file_request_wait,
        log2_block_size: p.log2_block_size,
        blocks_per_request: p.blocks_per_request,
    };
    let mut agent = (ctx.factory)(p.agent, config);
    let broken = p.outcome == AppOutcome::CannotConnect;
    let (host, port) = mqtt::endpoint(ctx.nvs, broken);
    let endpoint = format!("{host}:{port}");
    // The MQTT client id is the board's provisioned identity (its certificate's CN); a
    // baked-in thing name only steers the OTA agent's topics. So a wrong-name image
    // asks the wrong queue (the field report) without also evicting the other board.
    let client_id = ctx.nvs.thing_name.clone();
    let mut conn =
        mqtt::connect(ctx.nvs, &client_id, broken).map_err(|source| RuntimeError::Mqtt {
            dir: ctx.dir.to_path_buf(),
            source,
        })?;
    let line = |pal: &mut PlatformPal, level: &str, text: String| {
        let tick = pal.console.ticks();
        pal.console
            .task(task, &format!("[{level}][MQTT][{tick}] {text}"));
    };
    line(
        &mut pal,
        "INFO ",
        format!("Establishing new MQTT connection to {endpoint} as {thing}."),
    );
    let mut timers: HashMap<TimerId, Instant> = HashMap::new();
    let mut actions = agent.start(&mut pal);
    let mut online = false;
    // QoS 1 publishes not yet acknowledged. The agents' status publishes wait for their
    // PUBACK and are retried, so one that a dropped connection lost is sent again.
    let mut unacked: VecDeque<(String, Vec<u8>)> = VecDeque::new();
    loop {
        // What handling the last input printed goes out now, before the next input (many
        // can be waiting): the console keeps pace with the board's steps.
        flush_stdout();
        for action in actions.drain(..) {
            match action {
                Action::Subscribe { topic, qos } => {
                    if let Err(e) = conn.client.try_subscribe(&topic, mqtt::qos(qos)) {
                        tracing::warn!(%topic, "subscribe dropped: {e}");
                    }
                }
                Action::Unsubscribe { topic } => {
                    let _ = conn.client.try_unsubscribe(topic);
                }
                Action::Publish {
                    topic,
                    payload,
                    qos,
                } => {
                    if qos > 0 {
                        unacked.push_back((topic.clone(), payload.clone()));
                    }
                    if let Err(e) = conn
                        .client
                        .try_publish(&topic, mqtt::qos(qos), false, payload)
                    {
                        tracing::warn!(%topic, "publish dropped: {e}");
                    }
                }
                Action::StartTimer { id, after } => {
                    timers.insert(id, Instant::now() + after);
                }
                Action::StopTimer(id) => {
                    timers.remove(&id);
                }
                Action::Reset => {
                    // As the demo does: the agent's status publishes wait for their PUBACK,
                    // then the demo disconnects cleanly, then resets. So the status published
                    // just before (self_test: ready) reaches the broker even if the link was
                    // down at that moment (kicked, reconnecting), within a bounded time.
                    let flush = async {
                        while !(online && unacked.is_empty()) {
                            match conn.events.recv().await {
                                Some(Link::Connected) => {
                                    online = true;
                                    republish(&conn.client, &unacked);
                                }
                                Some(Link::PubAck) => {
                                    unacked.pop_front();
                                }
                                Some(Link::Failed { .. }) => online = false,
                                Some(_) => {}
                                None => break,
                            }
                        }
                        if conn.client.try_disconnect().is_ok() {
                            while let Some(link) = conn.events.recv().await {
                                if matches!(link, Link::Closed) {
                                    break;
                                }
                            }
                        }
                    };
                    let _ = tokio::time::timeout(FLUSH_BEFORE_RESET, flush).await;
                    drop(conn);
                    let after_reject = pal.rejected();
                    let (_, console) = pal.into_parts();
                    return Ok((Stop::Software { after_reject }, console));
                }
            }
        }
        let next_timer = timers
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(id, at)| (*id, *at));
        let watchdog_at = watchdog_at.filter(|_| pal.watchdog_armed());
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            link = conn.events.recv() => {
                let Some(link) = link else { continue };
                match link {
                    Link::Connected => {
                        online = true;
                        republish(&conn.client, &unacked);
                        line(&mut pal, "INFO ", format!("MQTT connection established with {endpoint}."));
                        actions = agent.handle(Input::Connected, &mut pal);
                    }
                    Link::Message { topic, payload } => {
                        actions = agent.handle(Input::Message { topic, payload }, &mut pal);
                    }
                    Link::Closed => {}
                    Link::PubAck => {
                        unacked.pop_front();
                    }
                    Link::Failed { error, retry_in } => {
                        if std::mem::take(&mut online) {
                            line(&mut pal, "WARN ", format!("MQTT connection lost: {error}."));
                        }
                        line(&mut pal, "ERROR", format!(
                            "Failed to establish MQTT connection to {endpoint}: {error}. Retrying in {} s.",
                            retry_in.as_secs()
                        ));
                    }
                }
            }
            _ = sleep_until(next_timer.map(|(_, at)| at).unwrap_or(far)), if next_timer.is_some() => {
                let (id, _) = next_timer.expect("guarded");
                timers.remove(&id);
                actions = agent.handle(Input::Timer(id), &mut pal);
            }
            _ = sleep_until(watchdog_at.unwrap_or(far)), if watchdog_at.is_some() => {
                let (_, console) = pal.into_parts();
                return Ok((Stop::Watchdog, console));
            }
            _ = reset_line.recv() => {
                let (_, console) = pal.into_parts();
                return Ok((Stop::Line, console));
            }
        }
    }
}

/// Sends again the QoS 1 publishes a new session dropped (rumqttc clears them).
fn republish(client: &rumqttc::AsyncClient, unacked: &VecDeque<(String, Vec<u8>)>) {
    for (topic, payload) in unacked {
        let _ = client.try_publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.clone());
    }
}

/// The task name the app's own lines carry.
fn app_task(generation: AgentKind) -> &'static str {
    match generation {
        AgentKind::V1 => "iot_thread",
        AgentKind::V3 => "DEMO",
    }
}
