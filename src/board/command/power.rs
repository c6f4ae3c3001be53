//! Power through commands: relay boards, switchable USB hubs, PDUs.

use std::time::Duration;

use async_trait::async_trait;

use super::{split_command, ToolCommand};
use crate::board::{BoardError, Flasher, PartEvents, Power};
use crate::timeline::{EventKind, PowerState};

/// Power through commands (relay boards, switchable USB hubs, PDUs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandPowerOptions {
    pub board: String,
    pub on: Vec<String>,
    pub off: Vec<String>,
    /// A single command that cycles power; `{off_for}` is the off time in seconds.
    /// Without it a cycle is off, wait, on.
    pub cycle: Option<Vec<String>>,
    /// A reset command (e.g. a relay on the reset line), if the bench has one.
    pub reset: Option<Vec<String>>,
    pub timeout: Duration,
}

impl CommandPowerOptions {
    /// `on`/`off` written as command lines, as in the rig file.
    pub fn from_commands(
        board: &str,
        on: &str,
        off: &str,
        reset: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, BoardError> {
        let split = |what: &str, text: &str| {
            split_command(text).map_err(|e| {
                BoardError::Other(format!("board {board}: power `{what}` command: {e}"))
            })
        };
        Ok(CommandPowerOptions {
            board: board.into(),
            on: split("on", on)?,
            off: split("off", off)?,
            cycle: None,
            reset: reset.map(|r| split("reset", r)).transpose()?,
            timeout,
        })
    }

    /// A port of a switchable USB hub: `uhubctl -l <hub> -p <port> -a on|off|cycle`.
    pub fn uhubctl(board: &str, hub: &str, port: u32, timeout: Duration) -> Self {
        let action = |a: &str| -> Vec<String> {
            ["uhubctl", "-l", hub, "-p", &port.to_string(), "-a", a]
                .into_iter()
                .map(str::to_owned)
                .collect()
        };
        let mut cycle = action("cycle");
        cycle.extend(["-d".to_owned(), "{off_for}".to_owned()]);
        CommandPowerOptions {
            board: board.into(),
            on: action("on"),
            off: action("off"),
            cycle: Some(cycle),
            reset: None,
            timeout,
        }
    }

    /// A USB HID relay channel: `usbrelay <relay>=1|0`.
    pub fn usbrelay(board: &str, relay: &str, timeout: Duration) -> Self {
        CommandPowerOptions {
            board: board.into(),
            on: vec!["usbrelay".into(), format!("{relay}=1")],
            off: vec!["usbrelay".into(), format!("{relay}=0")],
            cycle: None,
            reset: None,
            timeout,
        }
    }
}

/// Power part that runs commands; resets through `reset` or else the board's flasher.
pub struct CommandPower {
    options: CommandPowerOptions,
    flasher: Option<std::sync::Arc<dyn Flasher>>,
}

impl CommandPower {
    pub fn new(options: CommandPowerOptions, flasher: Option<std::sync::Arc<dyn Flasher>>) -> Self {
        CommandPower { options, flasher }
    }

    async fn run(
        &self,
        argv: &[String],
        off_for: Option<Duration>,
        events: &PartEvents,
    ) -> Result<(), BoardError> {
        let args = argv[1..]
            .iter()
            .map(|a| match off_for {
                Some(d) => a.replace("{off_for}", &format!("{}", d.as_secs_f64())),
                None => a.clone(),
            })
            .collect();
        ToolCommand {
            program: argv[0].clone(),
            args,
            timeout: self.options.timeout,
            failure_marker: None,
        }
        .run(&self.options.board, events)
        .await
    }

    fn emit(&self, state: PowerState, argv: &[String], events: &PartEvents) {
        events.emit(EventKind::Power {
            state,
            reason: argv.join(" "),
        });
    }
}

#[async_trait]
impl Power for CommandPower {
    async fn on(&self, events: &PartEvents) -> Result<(), BoardError> {
        self.run(&self.options.on, None, events).await?;
        self.emit(PowerState::On, &self.options.on, events);
        Ok(())
    }

    async fn off(&self, events: &PartEvents) -> Result<(), BoardError> {
        self.run(&self.options.off, None, events).await?;
        self.emit(PowerState::Off, &self.options.off, events);
        Ok(())
    }

    async fn reset(&self, events: &PartEvents) -> Result<(), BoardError> {
        match (&self.options.reset, &self.flasher) {
            (Some(reset), _) => {
                events.emit(EventKind::Note {
                    text: format!("reset: {}", reset.join(" ")),
                });
                self.run(reset, None, events).await
            }
            (None, Some(flasher)) => flasher.reset(events).await,
            (None, None) => Err(BoardError::Unsupported(format!(
                "reset of board {} (its power commands have no reset and it has no flasher that can reset)",
                self.options.board
            ))),
        }
    }

    fn can_power_cycle(&self) -> bool {
        true
    }

    async fn cycle(&self, off_for: Duration, events: &PartEvents) -> Result<(), BoardError> {
        let Some(cycle) = &self.options.cycle else {
            self.off(events).await?;
            tokio::time::sleep(off_for).await;
            return self.on(events).await;
        };
        // The tool switches off and on itself; record both edges around it.
        self.emit(PowerState::Off, cycle, events);
        self.run(cycle, Some(off_for), events).await?;
        self.emit(PowerState::On, cycle, events);
        Ok(())
    }
}
