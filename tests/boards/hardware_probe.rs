//! The probe-rs flasher's plumbing with `probe_rs::integration::FakeProbe` (a mocked
//! Cortex-M core: attach and reset work; it cannot flash), error mapping for missing and
//! busy probes, and the chip check. No real probe is involved.
#![cfg(feature = "probe-rs")]

use crate::support::events::part_events;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use otarig::board::probe::{ProbeFlasher, ProbeFlasherOptions};
use otarig::board::{BoardError, Flasher, PartEvents};
use otarig::timeline::{EventKind, Timeline};
use probe_rs::integration::{FakeProbe, ProbeLister};
use probe_rs::probe::list::{Lister, ProbeListItem};
use probe_rs::probe::{DebugProbeError, DebugProbeSelector, Probe, ProbeCreationError};

/// What the fake lister does when asked to open a probe.
#[derive(Debug, Clone, Copy)]
enum Opens {
    Fake,
    NotFound,
    Busy,
}

#[derive(Debug)]
struct FakeLister {
    opens: Opens,
    opened: Arc<AtomicUsize>,
    selected: Arc<std::sync::Mutex<Option<DebugProbeSelector>>>,
}

impl ProbeLister for FakeLister {
    fn open(&self, selector: &DebugProbeSelector) -> Result<Probe, DebugProbeError> {
        *self.selected.lock().unwrap() = Some(selector.clone());
        self.opened.fetch_add(1, Ordering::SeqCst);
        match self.opens {
            Opens::Fake => Ok(FakeProbe::with_mocked_core().into_probe()),
            Opens::NotFound => Err(DebugProbeError::ProbeCouldNotBeCreated(
                ProbeCreationError::NotFound,
            )),
            Opens::Busy => Err(DebugProbeError::ProbeCouldNotBeCreated(
                ProbeCreationError::CouldNotOpen,
            )),
        }
    }

    fn list_with_access(&self, _: Option<&DebugProbeSelector>) -> Vec<ProbeListItem> {
        Vec::new()
    }
}

struct Fixture {
    flasher: ProbeFlasher,
    opened: Arc<AtomicUsize>,
    selected: Arc<std::sync::Mutex<Option<DebugProbeSelector>>>,
}

fn flasher(chip: &str, opens: Opens) -> Fixture {
    let opened = Arc::new(AtomicUsize::new(0));
    let selected = Arc::new(std::sync::Mutex::new(None));
    let (o, s) = (opened.clone(), selected.clone());
    let mut options = ProbeFlasherOptions::new("stm32-b", chip);
    options.probe = Some("0483:374e:0025003".parse().unwrap());
    let flasher = ProbeFlasher::with_lister(
        options,
        Arc::new(move || {
            Lister::with_lister(Box::new(FakeLister {
                opens,
                opened: o.clone(),
                selected: s.clone(),
            }))
        }),
    )
    .unwrap();
    Fixture {
        flasher,
        opened,
        selected,
    }
}

fn events() -> (Arc<Timeline>, PartEvents) {
    part_events("stm32-b")
}

#[tokio::test]
async fn reset_attaches_through_the_selected_probe_and_resets_the_core() {
    // The chip probe-rs's own FakeProbe session test uses: an ARMv6-M core the mock serves.
    let f = flasher("nRF51822_xxAC", Opens::Fake);
    let (timeline, events) = events();
    f.flasher.reset(&events).await.unwrap();
    assert_eq!(f.opened.load(Ordering::SeqCst), 1);
    let selector = f.selected.lock().unwrap().clone().unwrap();
    assert_eq!((selector.vendor_id, selector.product_id), (0x0483, 0x374e));
    assert_eq!(selector.serial_number.as_deref(), Some("0025003"));
    assert!(timeline
        .events()
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Note { text } if text.contains("reset through the debug probe"))));
}

#[tokio::test]
async fn a_missing_probe_and_a_busy_probe_say_what_to_do() {
    let (_, events) = events();
    let missing = flasher("nRF51822_xxAC", Opens::NotFound)
        .flasher
        .reset(&events)
        .await
        .unwrap_err();
    let text = missing.to_string();
    assert!(matches!(missing, BoardError::Probe(_)), "{text}");
    assert!(
        text.contains("0483:374e:0025003 is not attached") && text.contains("board stm32-b"),
        "{text}"
    );
    let busy = flasher("nRF51822_xxAC", Opens::Busy)
        .flasher
        .reset(&events)
        .await
        .unwrap_err();
    assert!(busy.to_string().contains("busy"), "{busy}");
}

#[tokio::test]
async fn a_flash_failure_is_a_flash_event_with_the_reason() {
    let f = flasher("nRF51822_xxAC", Opens::NotFound);
    let (timeline, events) = events();
    let image = otarig::board::FlashImage {
        fixture: "app-v4".into(),
        path: "/fw/app.elf".into(),
        format: otarig::board::ImageFormat::Elf,
    };
    let err = f.flasher.flash(&image, &events).await.unwrap_err();
    let flash: Vec<(bool, Option<String>)> = timeline
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Flash { ok, detail, .. } => Some((ok, detail)),
            _ => None,
        })
        .collect();
    assert_eq!(flash, [(false, Some(err.to_string()))]);
}

#[test]
fn a_pic32mz_under_probe_rs_is_refused_when_the_rig_loads() {
    let err = ProbeFlasher::new(ProbeFlasherOptions::new("pic32-a", "PIC32MZ2048EFM100"))
        .err()
        .expect("PIC32MZ must be refused");
    let text = err.to_string();
    assert!(
        text.contains("board pic32-a")
            && text.contains("no MIPS support")
            && text.contains("ipecmd"),
        "{text}"
    );
    let err = ProbeFlasher::new(ProbeFlasherOptions::new("b", "STM32NOPE99"))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("not in probe-rs's target registry"),
        "{err}"
    );
}

#[tokio::test]
async fn with_no_probe_attached_the_real_lister_reports_it_without_panicking() {
    // This host has no debug probe attached; on a bench with exactly one probe this test
    // would try to attach to it, so it only runs where `lsusb`-style listing finds none.
    if !otarig::board::discovery::list_probes().is_empty() {
        return;
    }
    let (_, events) = events();
    let flasher = ProbeFlasher::new(ProbeFlasherOptions::new("stm32-b", "STM32U585AIIx")).unwrap();
    let err = flasher.reset(&events).await.unwrap_err();
    assert!(
        err.to_string().contains("no debug probe is attached"),
        "{err}"
    );
}
