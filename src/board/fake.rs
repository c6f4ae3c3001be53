//! Fake parts, beside the traits they stand in for, so what sits above the traits (the
//! runner core, the recovery ladder) is tested without a process, a port or a probe.
//! Each records what it was asked to do and does what it is told; a [`BootHook`] stands
//! for the firmware starting (typically: the fake console prints a boot banner).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::identity::Identity;
use super::{BoardError, Console, FlashImage, Flasher, LineTx, PartEvents, Power, Provision};

/// Why the fake board (re)started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    Flashed,
    PoweredOn,
    Reset,
}

/// What the board does when it starts: called by the part that started it.
pub type BootHook = Arc<dyn Fn(Boot) + Send + Sync>;

/// A hook that makes `console` print `lines` at every boot.
pub fn prints(console: &Arc<FakeConsole>, lines: &[&str]) -> BootHook {
    let console = console.clone();
    let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    Arc::new(move |_| {
        for line in &lines {
            console.print(line);
        }
    })
}

/// A hook slot; the hook runs outside the part's locks (it may call other parts).
#[derive(Default)]
struct OnBoot(Mutex<Option<BootHook>>);

impl OnBoot {
    fn set(&self, hook: BootHook) {
        *self.0.lock().expect("hook lock") = Some(hook);
    }

    fn boot(&self, why: Boot) {
        let hook = self.0.lock().expect("hook lock").clone();
        if let Some(hook) = hook {
            hook(why);
        }
    }
}

/// Records the images it is given; fails as often as it is told to.
#[derive(Default)]
pub struct FakeFlasher {
    flashed: Mutex<Vec<FlashImage>>,
    attempts: Mutex<u32>,
    failures_left: Mutex<u32>,
    resets: Mutex<u32>,
    on_boot: OnBoot,
}

impl FakeFlasher {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The next `n` flashes fail (the board is left as it was: no boot).
    pub fn fail_next(&self, n: u32) {
        *self.failures_left.lock().expect("flasher lock") = n;
    }

    /// Every flash from now on fails.
    pub fn fail_always(&self) {
        self.fail_next(u32::MAX);
    }

    pub fn on_boot(&self, hook: BootHook) {
        self.on_boot.set(hook);
    }

    /// The images flashed successfully, in order.
    pub fn flashed(&self) -> Vec<FlashImage> {
        self.flashed.lock().expect("flasher lock").clone()
    }

    /// Every flash asked for, failed or not.
    pub fn attempts(&self) -> u32 {
        *self.attempts.lock().expect("flasher lock")
    }

    /// Resets asked of the flasher (a board without a power part resets through it).
    pub fn resets(&self) -> u32 {
        *self.resets.lock().expect("flasher lock")
    }
}

#[async_trait]
impl Flasher for FakeFlasher {
    async fn flash(&self, image: &FlashImage, _events: &PartEvents) -> Result<(), BoardError> {
        *self.attempts.lock().expect("flasher lock") += 1;
        {
            let mut left = self.failures_left.lock().expect("flasher lock");
            if *left > 0 {
                if *left != u32::MAX {
                    *left -= 1;
                }
                return Err(BoardError::Other(format!(
                    "fake flasher told to fail ({})",
                    image.fixture
                )));
            }
        }
        self.flashed
            .lock()
            .expect("flasher lock")
            .push(image.clone());
        self.on_boot.boot(Boot::Flashed);
        Ok(())
    }

    async fn reset(&self, _events: &PartEvents) -> Result<(), BoardError> {
        *self.resets.lock().expect("flasher lock") += 1;
        self.on_boot.boot(Boot::Reset);
        Ok(())
    }
}

/// A console whose lines the test prints; they reach whoever attached, as a serial
/// port's would.
#[derive(Default)]
pub struct FakeConsole {
    tx: Mutex<Option<LineTx>>,
}

impl FakeConsole {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Delivers `line` to the attached reader; `false` when nobody reads it (the line is
    /// lost, as output on a port nobody has open is).
    pub fn print(&self, line: &str) -> bool {
        match &*self.tx.lock().expect("console lock") {
            Some(tx) => tx.send(line.to_string()).is_ok(),
            None => false,
        }
    }

    pub fn is_attached(&self) -> bool {
        self.tx.lock().expect("console lock").is_some()
    }
}

#[async_trait]
impl Console for FakeConsole {
    async fn attach(&self, tx: LineTx) -> Result<(), BoardError> {
        *self.tx.lock().expect("console lock") = Some(tx);
        Ok(())
    }

    async fn detach(&self) {
        self.tx.lock().expect("console lock").take();
    }
}

/// What a [`FakePower`] was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    On,
    Off,
    Reset,
}

/// Records on, off and reset; power-cycles only where told it can (a relay, not a
/// reset line).
pub struct FakePower {
    can_power_cycle: bool,
    actions: Mutex<Vec<PowerAction>>,
    on_boot: OnBoot,
}

impl FakePower {
    pub fn new(can_power_cycle: bool) -> Arc<Self> {
        Arc::new(FakePower {
            can_power_cycle,
            actions: Mutex::new(Vec::new()),
            on_boot: OnBoot::default(),
        })
    }

    pub fn on_boot(&self, hook: BootHook) {
        self.on_boot.set(hook);
    }

    pub fn actions(&self) -> Vec<PowerAction> {
        self.actions.lock().expect("power lock").clone()
    }

    fn record(&self, action: PowerAction) {
        self.actions.lock().expect("power lock").push(action);
    }
}

#[async_trait]
impl Power for FakePower {
    async fn on(&self, _events: &PartEvents) -> Result<(), BoardError> {
        self.record(PowerAction::On);
        self.on_boot.boot(Boot::PoweredOn);
        Ok(())
    }

    async fn off(&self, _events: &PartEvents) -> Result<(), BoardError> {
        self.record(PowerAction::Off);
        Ok(())
    }

    async fn reset(&self, _events: &PartEvents) -> Result<(), BoardError> {
        self.record(PowerAction::Reset);
        self.on_boot.boot(Boot::Reset);
        Ok(())
    }

    fn can_power_cycle(&self) -> bool {
        self.can_power_cycle
    }
}

/// Keeps the identity the rig told the board, for the fake firmware to connect with.
#[derive(Default)]
pub struct FakeProvision {
    told: Mutex<Option<Identity>>,
}

impl FakeProvision {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The identity of the last `provision`, if any.
    pub fn identity(&self) -> Option<Identity> {
        self.told.lock().expect("fake provision lock").clone()
    }
}

#[async_trait]
impl Provision for FakeProvision {
    async fn provision(&self, identity: &Identity) -> Result<(), BoardError> {
        *self.told.lock().expect("fake provision lock") = Some(identity.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::ImageFormat;
    use crate::timeline::Timeline;

    fn events() -> PartEvents {
        PartEvents {
            board: "fake-1".into(),
            sink: Arc::new(Timeline::in_memory()),
        }
    }

    fn image() -> FlashImage {
        FlashImage {
            fixture: "app-v4".into(),
            path: "/fixtures/app-v4.hex".into(),
            format: ImageFormat::Hex,
        }
    }

    #[tokio::test]
    async fn a_flash_boots_the_board_once_the_told_failures_are_spent() {
        let (flasher, console) = (FakeFlasher::new(), FakeConsole::new());
        flasher.on_boot(prints(&console, &["app version 1.0.0"]));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        console.attach(tx).await.unwrap();
        flasher.fail_next(2);
        assert!(flasher.flash(&image(), &events()).await.is_err());
        assert!(flasher.flash(&image(), &events()).await.is_err());
        assert!(rx.try_recv().is_err(), "a failed flash boots nothing");
        flasher.flash(&image(), &events()).await.unwrap();
        assert_eq!(rx.try_recv().unwrap(), "app version 1.0.0");
        assert_eq!(flasher.attempts(), 3);
        assert_eq!(flasher.flashed().len(), 1);
    }

    #[tokio::test]
    async fn power_records_what_it_did_and_boots_on_power_on_and_reset() {
        let (power, console) = (FakePower::new(false), FakeConsole::new());
        power.on_boot(prints(&console, &["boot"]));
        assert!(!power.can_power_cycle());
        // Not attached: the line is lost, as on a real port.
        power.on(&events()).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        console.attach(tx).await.unwrap();
        power.reset(&events()).await.unwrap();
        power.off(&events()).await.unwrap();
        console.detach().await;
        assert!(!console.print("after detach"));
        assert_eq!(rx.try_recv().unwrap(), "boot");
        assert!(rx.try_recv().is_err());
        assert_eq!(
            power.actions(),
            [PowerAction::On, PowerAction::Reset, PowerAction::Off]
        );
    }
}
