//! A locked place made into an ordinary rig board: the template the rig file describes
//! (flasher, profile, timeouts), with the place's NetworkSerialPort as its console, its
//! name in the power commands (`labgrid-client -p PLACE power on|off`), and `{place}` and
//! `{exporter}` filled in the flash and reset commands.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::labgrid::{BoardRequest, LabgridPower, THING_FROM_TAG, THING_TAG};
use crate::config::rig::{
    Board, BoardParts, ConsoleConfig, FlashConfig, PowerConfig, SerialPortRef,
};
use crate::model::{NetworkSerialPort, NetworkSerialProtocol};

use super::output::{Resource, POWER_CLASSES};

/// What a locked place offers a board.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaceInfo {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub resources: Vec<Resource>,
}

/// Why a place cannot serve as a board (the message names the place and the fix).
pub type ComposeError = String;

impl PlaceInfo {
    /// The console: the NetworkSerialPort (the one named `wanted` when a place has
    /// several); `Ok(None)` while its exporter has not started ser2net yet (no port).
    pub fn console(
        &self,
        wanted: Option<&str>,
    ) -> Result<Option<(NetworkSerialPort, u32)>, ComposeError> {
        let serials: Vec<&Resource> = self
            .resources
            .iter()
            .filter(|r| r.cls == "NetworkSerialPort")
            .collect();
        let names = || {
            serials
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let serial = match (wanted, serials.as_slice()) {
            (_, []) => return Err(format!(
                "place {} has no NetworkSerialPort: export the board's serial port on its exporter (`RawSerialPort` or `USBSerialPort`, docs/labgrid.md)",
                self.name
            )),
            (None, [one]) => *one,
            (None, _) => return Err(format!(
                "place {} has several NetworkSerialPorts ({}): name the console with `console:` in the rig's labgrid request",
                self.name,
                names()
            )),
            (Some(w), _) => *serials.iter().find(|r| r.name == w).ok_or_else(|| {
                format!("place {} has no NetworkSerialPort named `{w}` (it has: {})", self.name, names())
            })?,
        };
        let host = serial
            .text("host")
            .ok_or_else(|| format!("place {}: its NetworkSerialPort names no host", self.name))?;
        let Some(port) = serial.number("port").and_then(|p| u16::try_from(p).ok()) else {
            return Ok(None);
        };
        let protocol = match serial.text("protocol") {
            None => NetworkSerialProtocol::Rfc2217,
            Some(p) => NetworkSerialProtocol::from_labgrid(&p).ok_or_else(|| {
                format!("place {}: NetworkSerialPort protocol `{p}` (otarig speaks `rfc2217` and `raw`)", self.name)
            })?,
        };
        let speed = serial.number("speed").map_or(115_200, |s| s as u32);
        Ok(Some((
            NetworkSerialPort {
                protocol,
                host,
                port,
            },
            speed,
        )))
    }

    fn has_power(&self) -> bool {
        self.resources
            .iter()
            .any(|r| POWER_CLASSES.contains(&r.cls.as_str()))
    }
}

/// `template` (a board of `request`) on `place`, whose console is `console` at `speed`.
pub fn compose(
    template: &Board,
    request: &BoardRequest,
    place: &PlaceInfo,
    (console, speed): (&NetworkSerialPort, u32),
) -> Result<Board, ComposeError> {
    let mut board = template.clone();
    if board.thing_name == THING_FROM_TAG {
        board.thing_name = place.tags.get(THING_TAG).cloned().ok_or_else(|| {
            format!(
                "place {} has no `{THING_TAG}` tag, and request `{}` lists no `thing_names`: tag the place with its board's thing name (`labgrid-client -p {} set-tags … {THING_TAG}=Thing1`)",
                place.name, request.name, place.name
            )
        })?;
    }
    if request.power == LabgridPower::Labgrid && !place.has_power() {
        return Err(format!(
            "place {} has no power resource `labgrid-client power` can switch ({}): add one to its exporter, or set `power: none` in request `{}`",
            place.name,
            POWER_CLASSES.join(", "),
            request.name
        ));
    }
    let fill = |text: &str| {
        text.replace("{place}", &place.name)
            .replace("{exporter}", &console.host)
    };
    let BoardParts::Hardware {
        flash,
        console: console_config,
        power,
    } = &mut board.parts
    else {
        return Err(format!(
            "board {}: a labgrid board has hardware parts",
            template.name
        ));
    };
    if let FlashConfig::Command(c) = flash {
        c.program = c.program.as_deref().map(fill);
        if let Some(args) = &mut c.args {
            args.iter_mut().for_each(|a| *a = fill(a));
        }
    }
    let ConsoleConfig::Serial(serial) = console_config;
    serial.port = SerialPortRef::Path(PathBuf::from(console.to_string()));
    serial.baud = speed;
    if let Some(PowerConfig::Command(p)) = power {
        p.on = fill(&p.on);
        p.off = fill(&p.off);
        p.reset = p.reset.as_deref().map(fill);
    }
    Ok(board)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::labgrid::THING_FROM_TAG;
    use crate::config::rig::Rig;

    fn lab_rig() -> Rig {
        let text = r#"labgrid:
  boards:
    - name: lab
      match: board=pic32mz
      reset: 'ssh {exporter} reset-board {place}'
      flash: { command: { program: ssh, args: ['{exporter}', 'flash', '{place}', '{image}'] } }
"#;
        crate::config::load_rig_str(text, std::path::Path::new("/repo/rigs/lab.yaml"))
            .unwrap_or_else(|d| panic!("{d}"))
    }

    fn place(resources: &str) -> PlaceInfo {
        let env = format!("targets:\n  bench2-a:\n    resources:\n{resources}");
        PlaceInfo {
            name: "bench2-a".into(),
            tags: [("thing".to_string(), "Thing7".to_string())].into(),
            resources: super::super::output::env(&env, "bench2-a").unwrap(),
        }
    }

    const SERIAL: &str =
        "    - NetworkSerialPort: { host: bench2.lab, port: 5001, speed: 57600 }\n";
    const POWER: &str = "    - NetworkPowerPort: { model: gude, host: pdu, index: 1 }\n";

    #[test]
    fn a_place_fills_the_template() {
        let rig = lab_rig();
        let (template, request) = (&rig.boards[0], &rig.labgrid.as_ref().unwrap().requests[0]);
        assert_eq!(template.thing_name, THING_FROM_TAG);
        let place = place(&format!("{SERIAL}{POWER}"));
        let console = place.console(None).unwrap().unwrap();
        assert_eq!(
            (console.0.to_string().as_str(), console.1),
            ("rfc2217://bench2.lab:5001", 57600)
        );
        let board = compose(template, request, &place, (&console.0, console.1)).unwrap();
        assert_eq!(board.thing_name, "Thing7");
        let BoardParts::Hardware {
            flash: FlashConfig::Command(flash),
            console: ConsoleConfig::Serial(serial),
            power: Some(PowerConfig::Command(power)),
        } = &board.parts
        else {
            panic!("{:?}", board.parts)
        };
        assert_eq!(
            flash.args.as_deref().unwrap(),
            ["bench2.lab", "flash", "bench2-a", "{image}"]
        );
        assert_eq!(
            serial.port,
            SerialPortRef::Path("rfc2217://bench2.lab:5001".into())
        );
        assert_eq!(serial.baud, 57600);
        assert_eq!(power.on, "labgrid-client -p bench2-a power on");
        assert_eq!(
            power.reset.as_deref(),
            Some("ssh bench2.lab reset-board bench2-a")
        );
    }

    #[test]
    fn a_place_that_cannot_serve_says_what_to_add() {
        let rig = lab_rig();
        let (template, request) = (&rig.boards[0], &rig.labgrid.as_ref().unwrap().requests[0]);
        let no_power = place(SERIAL);
        let console = no_power.console(None).unwrap().unwrap();
        let e = compose(template, request, &no_power, (&console.0, console.1)).unwrap_err();
        assert!(
            e.contains("no power resource") && e.contains("power: none"),
            "{e}"
        );
        let e = place(POWER).console(None).unwrap_err();
        assert!(e.contains("no NetworkSerialPort"), "{e}");
        let waiting = place("    - NetworkSerialPort: { host: h, port: null }\n");
        assert_eq!(
            waiting.console(None).unwrap(),
            None,
            "ser2net not started yet"
        );
        let raw = place("    - NetworkSerialPort: { host: h, port: 9, protocol: raw }\n");
        assert_eq!(
            raw.console(None).unwrap().unwrap().0.to_string(),
            "socket://h:9"
        );
    }
}
