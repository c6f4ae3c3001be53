//! The probe-rs flasher: a debug probe picked by `VID:PID[:serial]`, a chip checked
//! against probe-rs's target registry when the rig loads, ELF/HEX/BIN images written and
//! verified, and resets through the probe. probe-rs calls block, so they run on tokio's
//! blocking pool.
//!
//! probe-rs programs ARM and RISC-V parts only: it has no MIPS support, so PIC32MX/MZ
//! boards (the Curiosity PIC32MZ EF) use the `command` flasher with `preset: ipecmd`.

use super::discovery::UsbId;

/// A chip name probe-rs cannot program, or does not know.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChipError {
    #[error(
        "chip `{chip}` is a MIPS PIC32 (PIC32MX/MZ/MM/MK): probe-rs has no MIPS support and cannot program it \
         (its PIC32 targets are the Cortex-M PIC32CX/CM/CZ parts); use `flash: {{ command: {{ preset: ipecmd }} }}` \
         (MPLAB IPE) or `preset: pic32prog` instead"
    )]
    Mips { chip: String },
    #[error("chip `{chip}` is not in probe-rs's target registry{}", suggest(.suggestions))]
    NotFound {
        chip: String,
        suggestions: Vec<String>,
    },
    #[error("chip `{chip}` matches several probe-rs targets ({candidates}); name one exactly")]
    Ambiguous { chip: String, candidates: String },
    #[error("chip `{chip}` needs probe-rs, but otarig was built without the `probe-rs` feature")]
    NotBuiltIn { chip: String },
}

fn suggest(names: &[String]) -> String {
    if names.is_empty() {
        " (run `probe-rs chip list` for the names it knows)".into()
    } else {
        format!(" (similar: {})", names.join(", "))
    }
}

/// Whether a part name is one of Microchip's MIPS PIC32 families (with or without `PIC`).
pub fn is_mips_pic32(chip: &str) -> bool {
    let upper = chip.to_ascii_uppercase();
    let bare = upper.strip_prefix("PIC").unwrap_or(&upper);
    ["32MX", "32MZ", "32MM", "32MK"]
        .iter()
        .any(|f| bare.starts_with(f))
}

/// The registry's name for `chip`, or why probe-rs cannot program it.
pub fn check_chip(chip: &str) -> Result<String, ChipError> {
    if is_mips_pic32(chip) {
        return Err(ChipError::Mips { chip: chip.into() });
    }
    registry_lookup(chip)
}

#[cfg(feature = "probe-rs")]
fn registry_lookup(chip: &str) -> Result<String, ChipError> {
    use probe_rs::config::{Registry, RegistryError};
    let registry = Registry::from_builtin_families();
    match registry.get_target_by_name(chip) {
        Ok(target) => Ok(target.name),
        Err(RegistryError::ChipNotUnique(_, candidates)) => Err(ChipError::Ambiguous {
            chip: chip.into(),
            candidates,
        }),
        Err(_) => {
            // Suggest names sharing the longest prefix that still matches something.
            let mut suggestions = Vec::new();
            for len in (4..chip.len()).rev() {
                suggestions = registry.search_chips(&chip[..len]);
                if !suggestions.is_empty() {
                    break;
                }
            }
            suggestions.sort();
            suggestions.dedup();
            suggestions.truncate(8);
            Err(ChipError::NotFound {
                chip: chip.into(),
                suggestions,
            })
        }
    }
}

#[cfg(not(feature = "probe-rs"))]
fn registry_lookup(chip: &str) -> Result<String, ChipError> {
    Err(ChipError::NotBuiltIn { chip: chip.into() })
}

/// A probe-rs flasher as the rig describes it (filled by the lead from the resolved config).
#[derive(Clone, Debug)]
pub struct ProbeFlasherOptions {
    pub board: String,
    pub chip: String,
    /// Which probe; `None` takes the only one attached.
    pub probe: Option<UsbId>,
    /// Load address of `.bin` images; overrides the image's own base when set.
    pub base: Option<u64>,
    pub verify: bool,
    /// Hold reset while attaching (for firmware that remaps SWD pins or sleeps deeply).
    pub connect_under_reset: bool,
    pub speed_khz: Option<u32>,
}

impl ProbeFlasherOptions {
    pub fn new(board: impl Into<String>, chip: impl Into<String>) -> Self {
        ProbeFlasherOptions {
            board: board.into(),
            chip: chip.into(),
            probe: None,
            base: None,
            verify: true,
            connect_under_reset: false,
            speed_khz: None,
        }
    }
}

#[cfg(feature = "probe-rs")]
pub use imp::{ListerFactory, ProbeFlasher};

#[cfg(feature = "probe-rs")]
mod imp {
    use std::sync::Arc;

    use async_trait::async_trait;
    use probe_rs::flashing::{
        download_file_with_options, BinLoader, BinOptions, DownloadOptions, ElfLoader, ElfOptions,
        FlashProgress, HexLoader, ProgressEvent,
    };
    use probe_rs::probe::list::Lister;
    use probe_rs::probe::{DebugProbeError, DebugProbeSelector, Probe, ProbeCreationError};
    use probe_rs::{Permissions, Session};

    use super::{check_chip, ProbeFlasherOptions};
    use crate::board::{BoardError, FlashImage, Flasher, ImageFormat, PartEvents};
    use crate::timeline::EventKind;

    /// Makes the probe lister; tests hand in one that opens a `FakeProbe`.
    pub type ListerFactory = Arc<dyn Fn() -> Lister + Send + Sync>;

    /// Flashes and resets through a debug probe.
    pub struct ProbeFlasher {
        options: ProbeFlasherOptions,
        /// The registry's own spelling of the chip.
        target: String,
        lister: ListerFactory,
    }

    impl ProbeFlasher {
        /// Checks the chip against the registry now, so a PIC32 or a typo fails at rig load.
        pub fn new(options: ProbeFlasherOptions) -> Result<Self, BoardError> {
            Self::with_lister(options, Arc::new(Lister::new))
        }

        pub fn with_lister(
            options: ProbeFlasherOptions,
            lister: ListerFactory,
        ) -> Result<Self, BoardError> {
            let target = check_chip(&options.chip)
                .map_err(|e| BoardError::Probe(format!("board {}: {e}", options.board)))?;
            Ok(ProbeFlasher {
                options,
                target,
                lister,
            })
        }

        pub fn target(&self) -> &str {
            &self.target
        }

        fn error(&self, message: impl std::fmt::Display) -> BoardError {
            BoardError::Probe(format!("board {}: {message}", self.options.board))
        }

        fn open_probe(&self) -> Result<Probe, BoardError> {
            let lister = (self.lister)();
            let selector = match &self.options.probe {
                Some(id) => DebugProbeSelector {
                    vendor_id: id.vid,
                    product_id: id.pid,
                    interface: None,
                    serial_number: id.serial.clone(),
                },
                None => {
                    let all = lister.list_all();
                    match all.as_slice() {
                        [one] => DebugProbeSelector::from(one),
                        [] => return Err(self.error("no debug probe is attached (check the USB cable; `otarig probes` lists probes)")),
                        many => {
                            return Err(self.error(format!(
                                "{} debug probes are attached ({}); set `probe: VID:PID:SERIAL` to pick one",
                                many.len(),
                                many.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
                            )))
                        }
                    }
                }
            };
            let shown = match &self.options.probe {
                Some(id) => id.to_string(),
                None => format!("{:04x}:{:04x}", selector.vendor_id, selector.product_id),
            };
            let mut probe = lister
                .open(selector)
                .map_err(|e| self.open_error(&shown, e))?;
            if let Some(khz) = self.options.speed_khz {
                probe
                    .set_speed(khz)
                    .map_err(|e| self.error(format!("probe {shown}: set speed {khz} kHz: {e}")))?;
            }
            Ok(probe)
        }

        fn open_error(&self, probe: &str, e: DebugProbeError) -> BoardError {
            match e {
                DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::NotFound) => self.error(format!(
                    "debug probe {probe} is not attached (check the USB cable; `otarig probes` lists probes)"
                )),
                DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::CouldNotOpen) => self.error(format!(
                    "debug probe {probe} is busy or not accessible: another program (probe-rs, OpenOCD, an IDE) may hold it, \
                     or the udev rules for it are missing"
                )),
                DebugProbeError::Usb(io) if io.kind() == std::io::ErrorKind::ResourceBusy => self.error(format!(
                    "debug probe {probe} is busy: another program (probe-rs, OpenOCD, an IDE) holds it ({io})"
                )),
                other => self.error(format!("debug probe {probe}: {other}")),
            }
        }

        fn attach(&self) -> Result<Session, BoardError> {
            let probe = self.open_probe()?;
            let permissions = Permissions::default();
            let session = if self.options.connect_under_reset {
                probe.attach_under_reset(self.target.as_str(), permissions)
            } else {
                probe.attach(self.target.as_str(), permissions)
            };
            session.map_err(|e| {
                self.error(format!(
                    "attach to chip {}: {e} (check the target's power and SWD wiring; `connect_under_reset: true` helps \
                     when the firmware disables the debug pins)",
                    self.target
                ))
            })
        }

        fn reset_session(&self, session: &mut Session) -> Result<(), BoardError> {
            session
                .core(0)
                .and_then(|mut core| core.reset())
                .map_err(|e| self.error(format!("reset chip {}: {e}", self.target)))
        }

        fn flash_blocking(
            &self,
            image: &FlashImage,
            events: &PartEvents,
        ) -> Result<(), BoardError> {
            let mut session = self.attach()?;
            let mut options = DownloadOptions::default();
            options.verify = self.options.verify;
            options.progress = FlashProgress::new(|event| {
                let text = match event {
                    ProgressEvent::Started(op) => format!("probe-rs: {op:?} started"),
                    ProgressEvent::Finished(op) => format!("probe-rs: {op:?} finished"),
                    ProgressEvent::Failed(op) => format!("probe-rs: {op:?} failed"),
                    ProgressEvent::DiagnosticMessage { message } => format!("probe-rs: {message}"),
                    _ => return,
                };
                events.emit(EventKind::Note { text });
            });
            let path = &image.path;
            let result = match image.format {
                ImageFormat::Elf => download_file_with_options(
                    &mut session,
                    path,
                    ElfLoader(ElfOptions::default()),
                    options,
                ),
                ImageFormat::Hex => {
                    download_file_with_options(&mut session, path, HexLoader, options)
                }
                ImageFormat::Bin { base } => {
                    let loader = BinLoader(BinOptions {
                        base_address: Some(self.options.base.unwrap_or(base)),
                        skip: 0,
                    });
                    download_file_with_options(&mut session, path, loader, options)
                }
                ImageFormat::SimFlash => {
                    return Err(BoardError::Image {
                        path: path.clone(),
                        message: format!(
                            "board {}: a simulated flash image cannot be written by a debug probe",
                            self.options.board
                        ),
                    })
                }
            };
            result.map_err(|e| BoardError::Image {
                path: path.clone(),
                message: format!(
                    "board {}: flashing chip {} failed: {e}",
                    self.options.board, self.target
                ),
            })?;
            self.reset_session(&mut session)
        }
    }

    #[async_trait]
    impl Flasher for ProbeFlasher {
        async fn flash(&self, image: &FlashImage, events: &PartEvents) -> Result<(), BoardError> {
            let this = self.clone_parts();
            let (image2, events2) = (image.clone(), events.clone());
            let result =
                tokio::task::spawn_blocking(move || this.flash_blocking(&image2, &events2))
                    .await
                    .map_err(|e| self.error(format!("probe-rs task failed: {e}")))
                    .and_then(|r| r);
            events.emit(EventKind::Flash {
                image: image.fixture.clone(),
                ok: result.is_ok(),
                detail: Some(match &result {
                    Ok(()) => format!("probe-rs {} {}", self.target, image.path.display()),
                    Err(e) => e.to_string(),
                }),
            });
            result
        }

        async fn reset(&self, events: &PartEvents) -> Result<(), BoardError> {
            events.emit(EventKind::Note {
                text: format!("reset through the debug probe ({})", self.target),
            });
            let this = self.clone_parts();
            tokio::task::spawn_blocking(move || {
                let mut session = this.attach()?;
                this.reset_session(&mut session)
            })
            .await
            .map_err(|e| self.error(format!("probe-rs task failed: {e}")))?
        }
    }

    impl ProbeFlasher {
        /// An owned copy for the blocking pool (options and the lister factory are cheap).
        fn clone_parts(&self) -> ProbeFlasher {
            ProbeFlasher {
                options: self.options.clone(),
                target: self.target.clone(),
                lister: self.lister.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mips_pic32_names_are_recognised_with_or_without_the_pic_prefix() {
        for chip in [
            "PIC32MZ2048EFM100",
            "32MZ2048EFM100",
            "pic32mx795f512l",
            "PIC32MM0256GPM064",
        ] {
            assert!(is_mips_pic32(chip), "{chip}");
        }
        for chip in ["PIC32CX1025SG41100", "STM32U585AIIx", "ATSAME54P20A"] {
            assert!(!is_mips_pic32(chip), "{chip}");
        }
    }

    #[test]
    fn a_pic32mz_is_rejected_with_the_reason_and_the_way_out() {
        let err = check_chip("PIC32MZ2048EFM100").unwrap_err().to_string();
        for needle in [
            "no MIPS support",
            "PIC32MX/MZ",
            "command",
            "ipecmd",
            "pic32prog",
        ] {
            assert!(err.contains(needle), "`{needle}` missing from: {err}");
        }
    }

    #[cfg(feature = "probe-rs")]
    #[test]
    fn a_known_stm32_is_accepted_and_an_unknown_one_gets_suggestions() {
        assert_eq!(check_chip("STM32U585AIIx").unwrap(), "STM32U585AIIx");
        match check_chip("STM32U585ZZZZ").unwrap_err() {
            ChipError::NotFound { suggestions, .. } => {
                assert!(
                    suggestions.iter().any(|s| s.starts_with("STM32U585")),
                    "{suggestions:?}"
                )
            }
            other => panic!("expected NotFound, got {other}"),
        }
        // probe-rs's own PIC32 parts are Cortex-M and therefore fine.
        assert!(check_chip("PIC32CX1025SG41100").is_ok());
    }
}
