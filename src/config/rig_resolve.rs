//! Raw rig → resolved [`Rig`]: defaults merged per board, presets expanded,
//! every problem reported with its position.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use super::chips::{check_probe_rs_chip, ChipCheck};
use super::flash_checks::{refusals, FlasherFields};
use super::flash_presets::placeholders;
use super::locate::{Ctx, SourceFile, YamlPath};
use super::rig::*;
use super::rig_raw::*;
use super::values::{self, bounds, DurationBounds};
use super::Diagnostics;
use crate::model::UsbId;

pub const DEFAULT_BANNER: &str = "app version";
pub const DEFAULT_VERSION: &str = r"app version (?P<version>\d+\.\d+\.\d+)";
pub const DEFAULT_CONNECTED: &str = "MQTT connection established";
const DEFAULT_BOOT: Duration = Duration::from_secs(30);
const DEFAULT_RECOVERY: Duration = Duration::from_secs(60);
const DEFAULT_FLASH: Duration = Duration::from_secs(120);
const DEFAULT_FLASH_RETRIES: u32 = 2;
const DEFAULT_POWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Every placeholder the command flasher fills (docs/hardware.md, "command").
const PLACEHOLDERS: [&str; 13] = [
    "image",
    "fixture",
    "format",
    "base",
    "part",
    "tool",
    "serial",
    "device",
    "board",
    "speed",
    "script",
    "board_dir",
    "otarig",
];

/// Parses and resolves one rig file; `None` if it had any error (all in `diags`).
pub fn load_file(
    file: &SourceFile,
    chip_check: Option<ChipCheck<'_>>,
    diags: &mut Diagnostics,
) -> Option<Rig> {
    let before = diags.errors().count();
    let rig = Ctx::open(file, diags).and_then(|mut ctx| parse_and_resolve(&mut ctx, chip_check));
    (diags.errors().count() == before).then_some(rig).flatten()
}

fn parse_and_resolve(ctx: &mut Ctx<'_>, chip_check: Option<ChipCheck<'_>>) -> Option<Rig> {
    let text = &ctx.file.text;
    // Top level with boards as values, then each board alone (errors don't hide each other).
    let top = match super::locate::from_str::<RawRig<yaml_serde::Value, yaml_serde::Value>>(text) {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.yaml_error(&e);
            None
        }
    };
    let count = top.as_ref().map(|t| t.boards.len()).unwrap_or(0);
    let mut boards = Vec::new();
    for i in 0..count {
        match ctx.deserialize_at::<RawBoard>(&YamlPath::root().key("boards").idx(i)) {
            Ok(b) => boards.push(b),
            Err(e) => {
                ctx.node_error(e);
                boards.push(None);
            }
        }
    }
    let labgrid = match top.as_ref().and_then(|t| t.labgrid.as_ref()) {
        Some(_) => super::labgrid_resolve::parse(ctx),
        None => Ok(None),
    };
    let top = top?;
    let mut r = Resolver {
        ctx,
        chip_check,
        labgrid_board: false,
    };
    Some(r.rig(top, boards, labgrid))
}

pub(super) struct Resolver<'c, 'f, 'x> {
    pub(super) ctx: &'c mut Ctx<'f>,
    chip_check: Option<ChipCheck<'x>>,
    /// Resolving a labgrid request: its commands may also use `{place}` and `{exporter}`.
    pub(super) labgrid_board: bool,
}

impl Resolver<'_, '_, '_> {
    fn rig(
        &mut self,
        raw: RawRig<yaml_serde::Value, yaml_serde::Value>,
        boards: Vec<Option<RawBoard>>,
        labgrid: super::labgrid_resolve::Parsed,
    ) -> Rig {
        let root_path = YamlPath::root();
        let file = self.ctx.file.path.clone();
        let root = repo_root(&file);
        let name = raw.name.clone().unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "rig".into())
        });
        let mut cloud = self.cloud(&root_path.key("cloud"), &raw.cloud, &root);
        let dp = root_path.key("defaults");
        let d = &raw.defaults;
        let profile = self.profile(&dp.key("profile"), &d.profile, None);
        let timeouts = self.timeouts(&dp.key("timeouts"), &d.timeouts, None);
        let flash_retries = d.flash_retries.unwrap_or(DEFAULT_FLASH_RETRIES);
        if let Some(b) = &d.baseline {
            if let Err(e) = super::fixture::check_name(b) {
                self.ctx.error(&dp.key("baseline"), e);
            }
        }
        if boards.is_empty() && raw.labgrid.is_none() {
            self.ctx.error(
                &root_path.key("boards"),
                "a rig needs at least one board (under `boards:`, or from a labgrid coordinator under `labgrid:`)",
            );
        }
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        let mut things = BTreeSet::new();
        for (i, b) in boards.into_iter().enumerate() {
            let Some(b) = b else { continue };
            let bp = root_path.key("boards").idx(i);
            if !names.insert(b.name.clone()) {
                self.ctx.error(
                    &bp.key("name"),
                    format!(
                        "board name `{}` is used twice; board names are unique in a rig",
                        b.name
                    ),
                );
            }
            if !things.insert(b.thing_name.clone()) {
                self.ctx.warning(&bp.key("thing_name"), format!("thing name `{}` is used by two boards: they would take over each other's MQTT connection", b.thing_name));
            }
            if let (Some(profile), Some(timeouts)) = (&profile, &timeouts) {
                if let Some(board) = self.board(&bp, b, profile, timeouts, flash_retries) {
                    out.push(board);
                }
            }
        }
        let labgrid = match (labgrid, &profile, &timeouts) {
            (Ok(Some(raw)), Some(profile), Some(timeouts)) => {
                self.labgrid(raw, profile, timeouts, flash_retries, &mut out, &mut names)
            }
            _ => None,
        };
        // Boards told their credentials at each start lose nothing to a new CA; a board
        // with credentials built into its firmware would have to be re-flashed.
        cloud.create_pki = raw
            .cloud
            .create_pki
            .unwrap_or_else(|| out.iter().all(Board::is_told_its_identity));
        Rig {
            name,
            file,
            root,
            cloud,
            baseline: raw.defaults.baseline,
            boards: out,
            labgrid,
        }
    }

    fn cloud(&mut self, p: &YamlPath, c: &RawCloud, root: &Path) -> Cloud {
        let ep = p.key("endpoint");
        let e = &c.endpoint;
        let bind = match e
            .bind
            .as_deref()
            .unwrap_or("127.0.0.1:0")
            .parse::<SocketAddr>()
        {
            Ok(a) => a,
            Err(_) => {
                self.ctx.error(
                    &ep.key("bind"),
                    format!(
                        "`{}` is not an address with a port, e.g. `127.0.0.1:0` or `0.0.0.0:8883`",
                        e.bind.as_deref().unwrap_or_default()
                    ),
                );
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
            }
        };
        let host = e.host.clone().unwrap_or_else(|| {
            if bind.ip().is_unspecified() {
                IpAddr::from(Ipv4Addr::LOCALHOST).to_string()
            } else {
                bind.ip().to_string()
            }
        });
        let pace = e
            .pace
            .as_deref()
            .and_then(|s| self.duration(&ep.key("pace"), s, bounds::PACE))
            .unwrap_or_default();
        if e.max_message_size == Some(0) {
            self.ctx.error(
                &ep.key("max_message_size"),
                "max_message_size must be at least 1 byte",
            );
        }
        let client = c.client.as_ref().map(|cl| {
            let ok = cl
                .broker
                .rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                self.ctx.error(
                    &p.key("client").key("broker"),
                    format!("`{}` is not `host:port`, e.g. `127.0.0.1:1883`", cl.broker),
                );
            }
            ClientMode {
                broker: cl.broker.clone(),
                mirror_notify_next: cl.mirror_notify_next,
            }
        });
        Cloud {
            endpoint: Endpoint {
                bind,
                host,
                tls: e.tls.unwrap_or(true),
                policy: e.policy.unwrap_or(Policy::ThingScoped),
                hosts: e.hosts.clone(),
                max_message_size: e
                    .max_message_size
                    .unwrap_or(crate::model::mqtt::DEFAULT_MAX_MESSAGE_SIZE),
                pace,
            },
            pki: root.join(c.pki.as_deref().unwrap_or(".otarig/pki")),
            pki_explicit: c.pki.is_some(),
            create_pki: false, // decided once the boards are known
            client,
        }
    }

    /// `base` = the rig defaults (already resolved) when resolving a board's override.
    pub(super) fn profile(
        &mut self,
        p: &YamlPath,
        raw: &RawProfile,
        base: Option<&Profile>,
    ) -> Option<Profile> {
        let mut one = |key: &str,
                       given: &Option<String>,
                       fallback: Option<&Regex>,
                       builtin: &str|
         -> Option<Regex> {
            match (given, fallback) {
                (Some(s), _) => values::compile_regex(s)
                    .map_err(|e| self.ctx.error(&p.key(key), e))
                    .ok(),
                (None, Some(re)) => Some(re.clone()),
                (None, None) => Regex::new(builtin).ok(),
            }
        };
        let banner = one(
            "banner",
            &raw.banner,
            base.map(|b| &b.banner),
            DEFAULT_BANNER,
        );
        let version = one(
            "version",
            &raw.version,
            base.map(|b| &b.version),
            DEFAULT_VERSION,
        );
        let connected = one(
            "connected",
            &raw.connected,
            base.map(|b| &b.connected),
            DEFAULT_CONNECTED,
        );
        if let Some(v) = &version {
            if !v.capture_names().any(|n| n == Some("version")) {
                self.ctx.error(&p.key("version"), format!("profile.version `{v}` needs a capture group named `version`, e.g. `app version (?P<version>\\d+\\.\\d+\\.\\d+)`"));
                return None;
            }
        }
        Some(Profile {
            banner: banner?,
            version: version?,
            connected: connected?,
        })
    }

    pub(super) fn timeouts(
        &mut self,
        p: &YamlPath,
        raw: &RawTimeouts,
        base: Option<&Timeouts>,
    ) -> Option<Timeouts> {
        let mut one = |key: &str,
                       given: &Option<String>,
                       fallback: Duration,
                       b: DurationBounds|
         -> Option<Duration> {
            match given {
                Some(s) => values::parse_duration_in(key, s, b)
                    .map_err(|e| self.ctx.error(&p.key(key), e))
                    .ok(),
                None => Some(fallback),
            }
        };
        let boot = one(
            "boot",
            &raw.boot,
            base.map_or(DEFAULT_BOOT, |b| b.boot),
            bounds::BOOT_TIMEOUT,
        );
        let recovery = one(
            "recovery",
            &raw.recovery,
            base.map_or(DEFAULT_RECOVERY, |b| b.recovery),
            bounds::RECOVERY_TIMEOUT,
        );
        let flash = one(
            "flash",
            &raw.flash,
            base.map_or(DEFAULT_FLASH, |b| b.flash),
            bounds::FLASH_TIMEOUT,
        );
        Some(Timeouts {
            boot: boot?,
            recovery: recovery?,
            flash: flash?,
        })
    }

    fn board(
        &mut self,
        p: &YamlPath,
        b: RawBoard,
        profile: &Profile,
        timeouts: &Timeouts,
        retries: u32,
    ) -> Option<Board> {
        let profile = self.profile(&p.key("profile"), &b.profile, Some(profile));
        let timeouts = self.timeouts(&p.key("timeouts"), &b.timeouts, Some(timeouts));
        let parts = match (b.native, b.flash, b.console) {
            (Some(native), None, None) => {
                if b.power.is_some() {
                    self.ctx.error(
                        &p.key("power"),
                        format!(
                            "board `{}` is native: its power is its process; remove `power`",
                            b.name
                        ),
                    );
                }
                Some(BoardParts::Native(match native {
                    RawNative::Sim(_) => NativeKind::Sim,
                    RawNative::Program(pr) => NativeKind::Program {
                        path: PathBuf::from(pr.path),
                        args: pr.args,
                        env: pr.env,
                        persist: pr.persist,
                    },
                }))
            }
            (Some(_), _, _) => {
                self.ctx.error(&p.key("native"), format!("board `{}` has `native` and hardware parts: a board is either `native` or `flash` + `console` (+ `power`)", b.name));
                None
            }
            (None, Some(flash), Some(console)) => {
                let flash = self.flasher(&p.key("flash"), flash);
                let console = self.console(&p.key("console"), console);
                let power = b.power.map(|pw| self.power(&p.key("power"), pw));
                Some(BoardParts::Hardware {
                    flash: flash?,
                    console: console?,
                    power: power.flatten(),
                })
            }
            (None, flash, console) => {
                let missing = match (flash.is_some(), console.is_some()) {
                    (false, false) => "`native: { sim: {} }`, or `flash` and `console`",
                    (true, false) => {
                        "`console` (e.g. `console: { serial: { port: /dev/ttyACM0 } }`)"
                    }
                    _ => "`flash` (e.g. `flash: { probe-rs: { chip: ... } }`)",
                };
                self.ctx
                    .error(p, format!("board `{}` needs {missing}", b.name));
                None
            }
        };
        Some(Board {
            name: b.name,
            thing_name: b.thing_name,
            platform: self.platform(p, b.platform, parts.as_ref()),
            parts: parts?,
            profile: profile?,
            timeouts: timeouts?,
            flash_retries: b.flash_retries.unwrap_or(retries),
        })
    }

    /// A simulated board's platform is `sim` (its fixtures' images are built for it); a
    /// firmware program's defaults to `posix`, a chip's to `pic32mz`.
    pub(super) fn platform(
        &mut self,
        p: &YamlPath,
        given: Option<String>,
        parts: Option<&BoardParts>,
    ) -> String {
        match (parts, given) {
            (Some(BoardParts::Native(NativeKind::Sim)), Some(other)) if other != SIM_PLATFORM => {
                self.ctx.error(
                    &p.key("platform"),
                    format!("a `native: {{ sim: {{}} }}` board runs the simulator: its platform is `{SIM_PLATFORM}`, not `{other}`; remove `platform`"),
                );
                other
            }
            (_, Some(given)) => given,
            (Some(BoardParts::Native(NativeKind::Sim)), None) => SIM_PLATFORM.into(),
            (Some(BoardParts::Native(NativeKind::Program { .. })), None) => "posix".into(),
            _ => "pic32mz".into(),
        }
    }

    pub(super) fn flasher(&mut self, p: &YamlPath, f: RawFlasher) -> Option<FlashConfig> {
        match f {
            RawFlasher::Command(c) => self
                .command_flasher(&p.key("command"), c)
                .map(FlashConfig::Command),
            RawFlasher::ProbeRs(pr) => {
                let pp = p.key("probe-rs");
                let mut ok = true;
                if let Err(e) = check_probe_rs_chip(&pr.chip)
                    .and_then(|_| self.chip_check.map_or(Ok(()), |c| c(&pr.chip)))
                {
                    self.ctx.error(&pp.key("chip"), e);
                    ok = false;
                }
                let probe = pr.probe.as_deref().and_then(|s| {
                    s.parse::<UsbId>()
                        .map_err(|e| {
                            self.ctx.error(&pp.key("probe"), e.to_string());
                            ok = false;
                        })
                        .ok()
                });
                if pr.format == Some(ProbeRsFormat::Bin) && pr.base.is_none() {
                    self.ctx.error(
                        &pp.key("format"),
                        "format `bin` needs `base: ADDRESS` (where the image goes in flash)",
                    );
                    ok = false;
                }
                ok.then_some(FlashConfig::ProbeRs(ProbeRsFlasher {
                    chip: pr.chip,
                    probe,
                    format: pr.format,
                    base: pr.base,
                    verify: pr.verify,
                }))
            }
        }
    }

    fn command_flasher(&mut self, p: &YamlPath, c: RawCommandFlasher) -> Option<CommandFlasher> {
        let spec = c.preset.map(FlashPreset::spec);
        let tool = c.tool.clone().or_else(|| {
            spec.and_then(|s| s.default_tool(c.part.as_deref()))
                .map(str::to_owned)
        });
        if c.preset.is_none() && (c.program.is_none() || c.args.is_none()) {
            self.ctx.error(p, "a command flasher needs `program` and `args`, or a `preset`: ipecmd | pic32prog | jlink | openocd");
            return None;
        }
        let mut ok = true;
        // Whether the preset's tool can serve this board at all (flash_presets::PRESETS).
        if let Some(spec) = spec {
            let fields = FlasherFields {
                part: c.part.as_deref(),
                tool: tool.as_deref(),
                serial: c.serial.as_deref(),
                device: c.device.as_deref(),
                own_args: c.args.is_some(),
            };
            for r in refusals(spec, &fields) {
                let at = if r.field.is_empty() {
                    p.clone()
                } else {
                    p.key(r.field)
                };
                self.ctx.error(&at, r.message);
                ok = false;
            }
        }
        // The arguments the user wrote instead of the preset's.
        let args = c.args.clone();
        for (i, a) in args.iter().flatten().enumerate() {
            let ap = p.key("args").idx(i);
            for name in placeholders(a) {
                let value = match name.as_str() {
                    // Set by the flasher itself (`{base}` only for `.bin` images: checked when flashing).
                    "image" | "fixture" | "format" | "base" | "board" | "speed" | "script"
                    | "board_dir" | "otarig" => Some(String::new()),
                    "part" => c.part.clone(),
                    "tool" => tool.clone(),
                    "serial" => c.serial.clone(),
                    "device" => c.device.clone(),
                    // Filled when a run has locked the board's labgrid place.
                    n if self.labgrid_board && super::labgrid::PLACEHOLDERS.contains(&n) => {
                        Some(String::new())
                    }
                    _ => {
                        self.ctx.error(
                            &ap,
                            format!(
                                "unknown placeholder `{{{name}}}` in `{a}` (known: {})",
                                PLACEHOLDERS
                                    .iter()
                                    .chain(if self.labgrid_board {
                                        &super::labgrid::PLACEHOLDERS[..]
                                    } else {
                                        &[]
                                    })
                                    .map(|p| format!("{{{p}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                        ok = false;
                        continue;
                    }
                };
                if value.is_none() {
                    self.ctx.error(
                        &ap,
                        format!("`{a}` uses `{{{name}}}` but the flasher sets no `{name}`"),
                    );
                    ok = false;
                }
            }
        }
        if let Some(args) = &args {
            if !args
                .iter()
                .any(|a| a.contains("{image}") || a.contains("{script}"))
            {
                self.ctx.error(p, "the flasher's arguments never mention `{image}`: the tool would not know which file to program");
                ok = false;
            }
        }
        let program = c.program.clone();
        let timeout = c.timeout.as_deref().map_or(Some(DEFAULT_FLASH), |s| {
            self.duration(&p.key("timeout"), s, bounds::FLASHER_TIMEOUT)
        });
        ok &= timeout.is_some();
        ok.then(|| CommandFlasher {
            preset: c.preset,
            program,
            args,
            part: c.part,
            tool,
            serial: c.serial,
            device: c.device,
            timeout: timeout.unwrap_or(DEFAULT_FLASH),
            retries: c.retries.unwrap_or(DEFAULT_FLASH_RETRIES),
        })
    }

    fn console(&mut self, p: &YamlPath, c: RawConsole) -> Option<ConsoleConfig> {
        let RawConsole::Serial(s) = c;
        let sp = p.key("serial");
        let port = match (s.port, s.usb) {
            (Some(port), None) => Some(SerialPortRef::Path(PathBuf::from(port))),
            (None, Some(usb)) => usb
                .parse::<UsbId>()
                .map(SerialPortRef::Usb)
                .map_err(|e| self.ctx.error(&sp.key("usb"), e.to_string()))
                .ok(),
            (Some(_), Some(_)) => {
                self.ctx
                    .error(&sp, "a serial console takes `port` or `usb`, not both");
                None
            }
            (None, None) => {
                self.ctx.error(
                    &sp,
                    "a serial console needs `port: /dev/...` or `usb: VID:PID[:SERIAL]`",
                );
                None
            }
        };
        let data_bits = s.data_bits.unwrap_or(8);
        if !(5..=8).contains(&data_bits) {
            self.ctx.error(
                &sp.key("data_bits"),
                format!("data_bits {data_bits}: a serial port has 5, 6, 7 or 8 data bits"),
            );
        }
        let stop_bits = s.stop_bits.unwrap_or(1);
        if !(1..=2).contains(&stop_bits) {
            self.ctx.error(
                &sp.key("stop_bits"),
                format!("stop_bits {stop_bits}: write 1 or 2"),
            );
        }
        let bits_ok = (5..=8).contains(&data_bits) && (1..=2).contains(&stop_bits);
        Some(ConsoleConfig::Serial(SerialConsole {
            port: port?,
            baud: s.baud.unwrap_or(115_200),
            data_bits,
            parity: s.parity.unwrap_or(Parity::None),
            stop_bits,
        }))
        .filter(|_| bits_ok)
    }

    fn power(&mut self, p: &YamlPath, pw: RawPower) -> Option<PowerConfig> {
        let c = match pw {
            RawPower::Probe(_) => return Some(PowerConfig::Probe),
            RawPower::Command(c) => c,
        };
        let cp = p.key("command");
        let (on, off) = match c.preset {
            Some(PowerPreset::Uhubctl) => match (&c.hub, c.port) {
                (Some(hub), Some(port)) => (
                    format!("uhubctl -l {hub} -p {port} -a on"),
                    format!("uhubctl -l {hub} -p {port} -a off"),
                ),
                _ => {
                    self.ctx.error(
                        &cp,
                        "preset uhubctl needs `hub` (e.g. \"1-1\") and `port` (e.g. 2)",
                    );
                    return None;
                }
            },
            Some(PowerPreset::Usbrelay) => match &c.relay {
                Some(relay) => (format!("usbrelay {relay}=1"), format!("usbrelay {relay}=0")),
                None => {
                    self.ctx
                        .error(&cp, "preset usbrelay needs `relay` (e.g. R1_1)");
                    return None;
                }
            },
            None => {
                if c.hub.is_some() || c.port.is_some() || c.relay.is_some() {
                    self.ctx.error(
                        &cp,
                        "`hub`, `port` and `relay` go with `preset: uhubctl` or `preset: usbrelay`",
                    );
                }
                (String::new(), String::new())
            }
        };
        // Explicit command lines win over a preset's.
        let on = c.on.clone().unwrap_or(on);
        let off = c.off.clone().unwrap_or(off);
        if on.is_empty() || off.is_empty() {
            self.ctx.error(&cp, "command power needs `on` and `off` command lines, or a `preset`: uhubctl | usbrelay");
            return None;
        }
        let timeout = match c.timeout.as_deref() {
            Some(s) => self.duration(&cp.key("timeout"), s, bounds::POWER_TIMEOUT)?,
            None => DEFAULT_POWER_TIMEOUT,
        };
        Some(PowerConfig::Command(CommandPower {
            preset: c.preset,
            on,
            off,
            reset: c.reset.clone(),
            timeout,
        }))
    }

    pub(super) fn duration(
        &mut self,
        p: &YamlPath,
        s: &str,
        b: DurationBounds,
    ) -> Option<Duration> {
        values::parse_duration_in(p.field(), s, b)
            .map_err(|e| self.ctx.error(p, e))
            .ok()
    }
}

/// Relative paths in a rig start at the repository root: the rig directory's parent.
pub fn repo_root(rig_file: &Path) -> PathBuf {
    let dir = rig_file.parent().unwrap_or(Path::new(""));
    match dir.parent() {
        Some(root) if !dir.as_os_str().is_empty() => root.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
