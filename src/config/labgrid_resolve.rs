//! A rig's `labgrid:` section → [`Labgrid`] plus one template board per requested board
//! (docs/labgrid.md): named `NAME-1` … `NAME-count`, with the request's flasher, profile and
//! timeouts, so binding, `validate` and `list` treat them as any board. What only the
//! locked place can tell (console address, the place name in power and flash commands) is
//! filled in by `crate::labgrid` when a run has the place.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::labgrid::*;
use super::locate::{Ctx, YamlPath};
use super::rig::*;
use super::rig_raw::{RawLabgrid, RawLabgridBoards};
use super::rig_resolve::Resolver;
use super::values::bounds;

/// The section with each request deserialized alone (errors don't hide each other).
pub(super) type Parsed =
    Result<Option<(RawLabgrid<yaml_serde::Value>, Vec<Option<RawLabgridBoards>>)>, ()>;

pub(super) fn parse(ctx: &mut Ctx<'_>) -> Parsed {
    let at = YamlPath::root().key("labgrid");
    let top = match ctx.deserialize_at::<RawLabgrid<yaml_serde::Value>>(&at) {
        Ok(Some(top)) => top,
        Ok(None) => return Ok(None),
        Err(e) => {
            ctx.node_error(e);
            return Err(());
        }
    };
    let mut requests = Vec::new();
    for i in 0..top.boards.len() {
        match ctx.deserialize_at::<RawLabgridBoards>(&at.key("boards").idx(i)) {
            Ok(r) => requests.push(r),
            Err(e) => {
                ctx.node_error(e);
                requests.push(None);
            }
        }
    }
    Ok(Some((top, requests)))
}

impl Resolver<'_, '_, '_> {
    /// Resolves the section; appends its template boards to `out`.
    pub(super) fn labgrid(
        &mut self,
        (raw, requests): (RawLabgrid<yaml_serde::Value>, Vec<Option<RawLabgridBoards>>),
        profile: &Profile,
        timeouts: &Timeouts,
        flash_retries: u32,
        out: &mut Vec<Board>,
        names: &mut BTreeSet<String>,
    ) -> Option<Labgrid> {
        let p = YamlPath::root().key("labgrid");
        if let Some(c) = &raw.coordinator {
            let ok = c
                .rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                self.ctx.error(
                    &p.key("coordinator"),
                    format!("`{c}` is not `HOST:PORT`, e.g. `labgrid.lab:20408`"),
                );
            }
        }
        let wait = match &raw.wait {
            Some(w) => self.duration(&p.key("wait"), w, bounds::LABGRID_WAIT),
            None => Some(DEFAULT_WAIT),
        };
        if requests.is_empty() {
            self.ctx.error(
                &p.key("boards"),
                "`labgrid:` needs at least one request under `boards:`, e.g. `- { name: lab, match: board=pic32mz, count: 2, flash: … }`",
            );
        }
        let client = raw.client.unwrap_or_else(|| DEFAULT_CLIENT.into());
        let coordinator = raw.coordinator;
        let line = |args: &str| client_line(&client, coordinator.as_deref(), "{place}", args);
        let power = (line("power on"), line("power off"));
        let mut resolved = Vec::new();
        let mut ok = true;
        for (i, r) in requests.into_iter().enumerate() {
            let Some(r) = r else {
                ok = false;
                continue;
            };
            let rp = p.key("boards").idx(i);
            self.labgrid_board = true;
            let defaults = (profile, timeouts, flash_retries, &power);
            let request = self.request(&rp, r, defaults, out, names);
            self.labgrid_board = false;
            match request {
                Some(request) => resolved.push(request),
                None => ok = false,
            }
        }
        (ok && wait.is_some()).then(|| Labgrid {
            coordinator,
            client,
            wait: wait.unwrap_or(DEFAULT_WAIT),
            priority: raw.priority.unwrap_or(0),
            requests: resolved,
        })
    }

    /// `defaults`: the rig's profile, timeouts and flash retries, and the power on/off
    /// command lines (with `{place}`).
    fn request(
        &mut self,
        p: &YamlPath,
        r: RawLabgridBoards,
        (profile, timeouts, flash_retries, power_lines): (
            &Profile,
            &Timeouts,
            u32,
            &(String, String),
        ),
        out: &mut Vec<Board>,
        names: &mut BTreeSet<String>,
    ) -> Option<BoardRequest> {
        let tags = parse_tags(&r.tags)
            .map_err(|e| self.ctx.error(&p.key("match"), e))
            .ok();
        let count = r.count.unwrap_or(1);
        if count == 0 {
            self.ctx.error(
                &p.key("count"),
                "count 0: a request takes at least one board",
            );
        }
        if let Some(things) = &r.thing_names {
            if things.len() != count {
                self.ctx.error(
                    &p.key("thing_names"),
                    format!(
                        "{} thing name(s) for {count} board(s): give one per board, or none to take each place's `{THING_TAG}` tag",
                        things.len()
                    ),
                );
            }
        }
        let flash = match r.flash {
            super::rig_raw::RawFlasher::ProbeRs(_) => {
                self.ctx.error(&p.key("flash").key("probe-rs"), "a labgrid board's probe is on its exporter host: flash it with a command (e.g. `ssh {exporter} …`, docs/labgrid.md), not probe-rs on this host");
                None
            }
            f => self.flasher(&p.key("flash"), f),
        };
        let power = r.power.unwrap_or(LabgridPower::Labgrid);
        if power == LabgridPower::None && r.reset.is_some() {
            self.ctx.error(
                &p.key("reset"),
                "`reset` goes with `power: labgrid`; with `power: none` resets go through the flasher",
            );
        }
        let profile = self.profile(&p.key("profile"), &r.profile, Some(profile));
        let timeouts = self.timeouts(&p.key("timeouts"), &r.timeouts, Some(timeouts));
        let (flash, profile, timeouts, tags) = (flash?, profile?, timeouts?, tags?);
        if count == 0 {
            return None;
        }
        let mut boards = Vec::new();
        for i in 1..=count {
            let name = format!("{}-{i}", r.name);
            if !names.insert(name.clone()) {
                self.ctx.error(
                    &p.key("name"),
                    format!("board name `{name}` (request `{}`, board {i}) is already a board of the rig; pick another request name", r.name),
                );
                return None;
            }
            let thing_name = r
                .thing_names
                .as_ref()
                .and_then(|t| t.get(i - 1).cloned())
                .unwrap_or_else(|| THING_FROM_TAG.into());
            let parts = BoardParts::Hardware {
                flash: flash.clone(),
                console: ConsoleConfig::Serial(SerialConsole {
                    // Replaced by the place's NetworkSerialPort once locked.
                    port: SerialPortRef::Path(PathBuf::from(format!(
                        "(the console of the labgrid place board {name} gets)"
                    ))),
                    baud: 115_200,
                    data_bits: 8,
                    parity: Parity::None,
                    stop_bits: 1,
                }),
                power: (power == LabgridPower::Labgrid).then(|| {
                    PowerConfig::Command(CommandPower {
                        preset: None,
                        on: power_lines.0.clone(),
                        off: power_lines.1.clone(),
                        reset: r.reset.clone(),
                        timeout: POWER_TIMEOUT,
                    })
                }),
            };
            let platform = self.platform(p, r.platform.clone(), Some(&parts));
            boards.push(name.clone());
            out.push(Board {
                name,
                thing_name,
                platform,
                parts,
                profile: profile.clone(),
                timeouts,
                flash_retries: r.flash_retries.unwrap_or(flash_retries),
            });
        }
        Some(BoardRequest {
            name: r.name,
            tags,
            boards,
            thing_names: r.thing_names,
            console: r.console,
            power,
        })
    }
}
