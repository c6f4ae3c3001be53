//! The runner core on a board of fake parts (`board::fake`): no process, no simulator.
//! The cloud is real (its own gateway on loopback, plain TCP), and the fake firmware's
//! agent connects to it over MQTT, so "healthy" means what it means on a bench.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::watch;

use super::{run_scenario, RunContext};
use crate::board::fake::{Boot, FakeConsole, FakeFlasher, FakePower, FakeProvision, PowerAction};
use crate::cloud::pki::{self, PkiOptions};
use crate::config::{load_rig_str, Rig};
use crate::report::model::{BoardResult, Verdict};
use crate::scenario::bench::BenchBoard;
use crate::scenario::fixtures::FixtureStore;
use crate::scenario::load_scenarios;
use crate::scenario::run_cloud::RunCloud;

const BOARD: &str = "fake-1";
const THING: &str = "Thing1";
const BANNER: &str = "app version 1.0.0";
const CONNECTED: &str = "MQTT connection established";

/// How the fake firmware behaves at each boot.
#[derive(Clone, Copy)]
enum Firmware {
    /// Boots and connects every time.
    Healthy,
    /// Prints nothing at all (a dead console, or nothing flashed).
    Silent,
    /// Only its first boot works; later ones panic before connecting.
    BrokenAfterFirstBoot,
    /// Hangs after any reset; only a power-up boots it properly.
    HangsOnReset,
}

/// The board's MQTT side: one connection to the bench cloud, opened at the first good
/// boot; every good boot asks for its next job, as an OTA agent does. It lives as long
/// as the boot hook that holds it, and its connection no longer.
struct Agent {
    /// Where the rig said the cloud is.
    told: Arc<FakeProvision>,
    console: Arc<FakeConsole>,
    client: Mutex<Option<AsyncClient>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Agent {
    fn online(&self) {
        let next_get = format!("$aws/things/{THING}/jobs/$next/get");
        let mut client = self.client.lock().unwrap();
        if let Some(c) = client.as_ref() {
            self.console.print(CONNECTED);
            c.try_publish(next_get, QoS::AtLeastOnce, false, "{}")
                .unwrap();
            return;
        }
        let Some(identity) = self.told.identity() else {
            self.console.print("panic: not provisioned");
            return;
        };
        let mut options = MqttOptions::new(THING, identity.host, identity.port);
        options.set_keep_alive(Duration::from_secs(30));
        let (c, mut events) = AsyncClient::new(options, 16);
        // Queued now, sent in order once connected.
        c.try_subscribe(format!("{next_get}/accepted"), QoS::AtLeastOnce)
            .unwrap();
        c.try_publish(next_get, QoS::AtLeastOnce, false, "{}")
            .unwrap();
        let console = self.console.clone();
        *self.task.lock().unwrap() = Some(tokio::spawn(async move {
            // Ends when the scenario's cloud stops.
            while let Ok(event) = events.poll().await {
                if matches!(event, Event::Incoming(Packet::ConnAck(_))) {
                    console.print(CONNECTED);
                }
            }
        }));
        *client = Some(c);
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

/// A rig board made of fake parts, with firmware that boots as told.
struct FakeBoard {
    flasher: Arc<FakeFlasher>,
    console: Arc<FakeConsole>,
    power: Arc<FakePower>,
    told: Arc<FakeProvision>,
}

impl FakeBoard {
    fn new(firmware: Firmware, bench: &Bench) -> FakeBoard {
        let told = FakeProvision::new();
        let can_power_cycle = bench.rig.boards[0].can_power_cycle();
        let (flasher, console) = (FakeFlasher::new(), FakeConsole::new());
        let power = FakePower::new(can_power_cycle);
        let agent = Arc::new(Agent {
            told: told.clone(),
            console: console.clone(),
            client: Mutex::new(None),
            task: Mutex::new(None),
        });
        let boots = AtomicU32::new(0);
        let (hook_console, hook_agent) = (console.clone(), agent.clone());
        let hook: crate::board::fake::BootHook = Arc::new(move |why: Boot| {
            let first = boots.fetch_add(1, Ordering::SeqCst) == 0;
            let good = match firmware {
                Firmware::Silent => return,
                Firmware::Healthy => true,
                Firmware::BrokenAfterFirstBoot => first,
                Firmware::HangsOnReset => why != Boot::Reset,
            };
            hook_console.print(BANNER);
            if good {
                hook_agent.online();
            } else {
                hook_console.print("panic: no valid image");
            }
        });
        flasher.on_boot(hook.clone());
        power.on_boot(hook);
        FakeBoard {
            flasher,
            console,
            power,
            told,
        }
    }
}

/// A rig with one board, its PKI and one fixture, in a folder of its own; the fake
/// firmware connects where the rig's provisioning tells it.
struct Bench {
    dir: tempfile::TempDir,
    rig: Rig,
}

impl Bench {
    /// `defaults` are the rig's (flash retries, timeouts); `relay` gives the board a
    /// power part that can cut power.
    fn new(defaults: &str, relay: bool) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            r#"
name: fakes
cloud:
  endpoint: {{ bind: "127.0.0.1:0", tls: false }}
  pki: pki
defaults:
  {defaults}
  baseline: app-v1
boards:
  - name: {BOARD}
    thing_name: {THING}
    platform: sim
    flash: {{ command: {{ program: fake-flash, args: ['{{image}}'] }} }}
    console: {{ serial: {{ port: /dev/fake-1 }} }}
"#
        );
        let text = if relay {
            text + "    power: { command: { on: relay-on, off: relay-off } }\n"
        } else {
            text
        };
        let rig = load_rig_str(&text, &dir.path().join("rigs/fakes.yaml"))
            .unwrap_or_else(|d| panic!("{d}"));
        let options = PkiOptions {
            things: vec![THING.into()],
            ..PkiOptions::default()
        };
        pki::init(&rig.cloud.pki, &options).unwrap();
        let fixtures = dir.path().join("firmware-fixtures");
        std::fs::create_dir_all(&fixtures).unwrap();
        std::fs::write(
            fixtures.join("app-v1.yaml"),
            "summary: the baseline\nversion: 1.0.0\nsequence: 1\nsize: 4096\n",
        )
        .unwrap();
        Bench { dir, rig }
    }

    /// Runs scenario `steps` (YAML) with role `dut` on `board`.
    async fn run(&self, board: &FakeBoard, steps: &str) -> BoardResult {
        let root = self.dir.path();
        let path = root.join("fake.yaml");
        let text = format!("name: fake\nboards:\n  dut: {{}}\nsteps:\n{steps}");
        std::fs::write(&path, text).unwrap();
        let scenario = load_scenarios(&[path], None)
            .unwrap_or_else(|d| panic!("{d}"))
            .remove(0);
        let bench = BenchBoard::from_parts(
            self.rig.boards[0].clone(),
            root.join("boards").join(BOARD),
            board.flasher.clone(),
            board.console.clone(),
            Some(board.power.clone()),
            board.told.clone(),
        );
        // Kept until the run ends: a dropped sender reads as an interrupt.
        let (_interrupt_tx, interrupt) = watch::channel(false);
        let ctx = RunContext {
            rig: Arc::new(self.rig.clone()),
            boards: BTreeMap::from([(BOARD.to_string(), Arc::new(bench))]),
            fixtures: Arc::new(FixtureStore::new(
                &root.join("firmware-fixtures"),
                &self.rig.cloud.pki,
                &root.join("built"),
            )),
            cloud: RunCloud::PerScenario,
            interrupt,
            events: crate::report::events::ignore(),
        };
        let binding = BTreeMap::from([("dut".to_string(), BOARD.to_string())]);
        let (result, _timeline) =
            run_scenario(&ctx, &scenario, &binding, &root.join("report")).await;
        assert_eq!(result.boards.len(), 1);
        result.boards.into_iter().next().unwrap()
    }
}

const EXPECT_BASELINE: &str = "  - expect: { board: dut, version: 1.0.0, within: 5s }\n";

fn assert_named(result: &BoardResult, what: &str) {
    let message = result.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(&format!("board {BOARD}")) && message.contains(what),
        "{message}"
    );
}

#[tokio::test]
async fn a_flash_that_fails_twice_then_works_passes() {
    let bench = Bench::new(
        "flash_retries: 2\n  timeouts: { boot: 5s, recovery: 300ms }",
        false,
    );
    let board = FakeBoard::new(Firmware::Healthy, &bench);
    board.flasher.fail_next(2);
    let result = bench.run(&board, EXPECT_BASELINE).await;
    assert_eq!(result.verdict, Verdict::Passed, "{:?}", result.message);
    assert_eq!(board.flasher.attempts(), 3);
    assert_eq!(board.flasher.flashed().len(), 1);
    assert_eq!(result.versions.before.as_deref(), Some("1.0.0"));
    assert_eq!(result.versions.after.as_deref(), Some("1.0.0"));
}

#[tokio::test]
async fn a_flasher_that_always_fails_is_an_error_naming_the_board() {
    let bench = Bench::new(
        "flash_retries: 2\n  timeouts: { boot: 5s, recovery: 300ms }",
        false,
    );
    let board = FakeBoard::new(Firmware::Healthy, &bench);
    board.flasher.fail_always();
    let result = bench.run(&board, EXPECT_BASELINE).await;
    assert_eq!(result.verdict, Verdict::Error);
    assert_named(&result, "flashing app-v1");
    assert_eq!(board.flasher.attempts(), 3, "1 flash + flash_retries");
}

#[tokio::test]
async fn a_board_silent_after_flash_is_an_error_naming_the_board() {
    let bench = Bench::new(
        "flash_retries: 1\n  timeouts: { boot: 300ms, recovery: 300ms }",
        false,
    );
    let board = FakeBoard::new(Firmware::Silent, &bench);
    let result = bench.run(&board, EXPECT_BASELINE).await;
    assert_eq!(result.verdict, Verdict::Error);
    assert_named(&result, "stayed silent after 2 flashes of app-v1");
}

#[tokio::test]
async fn a_board_that_never_comes_back_without_power_control_is_bricked() {
    let bench = Bench::new(
        "flash_retries: 0\n  timeouts: { boot: 5s, recovery: 300ms }",
        false,
    );
    let board = FakeBoard::new(Firmware::BrokenAfterFirstBoot, &bench);
    // The panic is waited for, so the recovery check starts from the broken boot.
    let steps =
        "  - reset: { boards: dut }\n  - expect: { board: dut, console: panic, within: 5s }\n";
    let result = bench.run(&board, steps).await;
    assert_eq!(result.verdict, Verdict::Bricked, "{:?}", result.message);
    assert_eq!(
        result.message.as_deref(),
        Some("the board never came back healthy (tried: waited, reset)")
    );
    // The step's reset and the ladder's; no power cycle was possible.
    assert_eq!(
        board.power.actions(),
        [PowerAction::Reset, PowerAction::Reset]
    );
    assert_eq!(
        board.flasher.flashed().len(),
        2,
        "a bricked board is re-flashed to the baseline"
    );
}

#[tokio::test]
async fn a_board_that_only_a_power_cycle_brings_back_is_recovered_by_power_cycle() {
    let bench = Bench::new(
        "flash_retries: 0\n  timeouts: { boot: 5s, recovery: 300ms }",
        true,
    );
    let board = FakeBoard::new(Firmware::HangsOnReset, &bench);
    let steps =
        "  - reset: { boards: dut }\n  - expect: { board: dut, console: panic, within: 5s }\n";
    let result = bench.run(&board, steps).await;
    assert_eq!(
        result.verdict,
        Verdict::RecoveredByPowerCycle,
        "{:?}",
        result.message
    );
    assert_eq!(
        result.message.as_deref(),
        Some("only a power cycle brought the board back (on 1.0.0)")
    );
    assert_eq!(
        board.power.actions(),
        [
            PowerAction::On, // before the console is opened
            PowerAction::Reset,
            PowerAction::Reset,
            PowerAction::Off, // the ladder's power cycle
            PowerAction::On,
            PowerAction::Off, // end of the scenario
        ]
    );
}
