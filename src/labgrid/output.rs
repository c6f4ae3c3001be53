//! What `labgrid-client` prints, read back: the one place that knows its output formats
//! (labgrid 25 and 26), each tested on captured output. `env` is YAML and `reserve --shell`
//! a shell line, both meant for machines; `places`, `show`, `who` and `wait` print for
//! people, so their parsers take only what otarig needs and fail loudly on the rest.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `export LG_TOKEN=…` from `reserve --shell`.
pub fn token(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("export LG_TOKEN="))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// A reservation as `wait` and `reservations` print it (the last one printed counts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reservation {
    pub token: String,
    pub owner: String,
    /// `waiting`, `allocated`, `acquired`, `expired`, `invalid`.
    pub state: String,
    /// The place allocated to it.
    pub place: Option<String>,
}

/// Every reservation block in `text` (`owner:` starts one), in order.
pub fn reservations(text: &str) -> Vec<Reservation> {
    let mut out: Vec<Reservation> = Vec::new();
    let mut in_allocations = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(owner) = trimmed.strip_prefix("owner: ") {
            out.push(Reservation {
                owner: owner.to_string(),
                ..Reservation::default()
            });
            in_allocations = false;
            continue;
        }
        let Some(r) = out.last_mut() else { continue };
        if let Some(token) = trimmed.strip_prefix("token: ") {
            r.token = token.to_string();
        } else if let Some(state) = trimmed.strip_prefix("state: ") {
            r.state = state.to_string();
        } else if trimmed == "allocations:" {
            in_allocations = true;
            continue;
        } else if in_allocations {
            if let Some(places) = trimmed.strip_prefix("main: ") {
                r.place = places.split(", ").next().map(str::to_string);
            }
        }
        in_allocations = false;
    }
    out
}

/// A place as `places` (with `-v`) and `show` print it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    /// `host/user` of the holder.
    pub acquired: Option<String>,
    pub reservation: Option<String>,
    /// `show` only: the resources it matches or holds.
    pub resources: Vec<ResourceRef>,
}

impl Place {
    /// Whether the place has every `tags` pair (labgrid's reservation filter; `name=` also
    /// matches the place's name, as the coordinator's scheduler allows).
    pub fn matches(&self, tags: &[(String, String)]) -> bool {
        tags.iter()
            .all(|(k, v)| self.tags.get(k) == Some(v) || (k == "name" && &self.name == v))
    }
}

/// `Matching resource 'NAME' (EXPORTER/GROUP/CLASS/RESOURCE):` lines of `show`, and
/// whether its parameters say it is available.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRef {
    pub name: String,
    pub exporter: String,
    pub group: String,
    pub cls: String,
    pub avail: bool,
}

/// `labgrid-client -v places` (or `show`): `Place 'NAME':` starts a place.
pub fn places(text: &str) -> Vec<Place> {
    let mut out: Vec<Place> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Place '") {
            if let Some(name) = rest.strip_suffix("':") {
                out.push(Place {
                    name: name.to_string(),
                    ..Place::default()
                });
                continue;
            }
        }
        let Some(p) = out.last_mut() else { continue };
        if let Some(resource) = resource_header(trimmed) {
            p.resources.push(resource);
        } else if trimmed.contains("'avail': False") {
            if let Some(r) = p.resources.last_mut() {
                r.avail = false;
            }
        } else if let Some(tags) = trimmed.strip_prefix("tags: ") {
            p.tags = tags
                .split(", ")
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        } else if let Some(holder) = trimmed.strip_prefix("acquired: ") {
            p.acquired = (holder != "None").then(|| holder.to_string());
        } else if let Some(token) = trimmed.strip_prefix("reservation: ") {
            p.reservation = Some(token.to_string());
        }
    }
    out
}

fn resource_header(line: &str) -> Option<ResourceRef> {
    let rest = line
        .strip_prefix("Matching resource '")
        .or_else(|| line.strip_prefix("Acquired resource '"))?;
    let (name, rest) = rest.split_once("' (")?;
    let path = rest.strip_suffix("):")?;
    let parts: Vec<&str> = path.split('/').collect();
    let [exporter, group, cls, _resource] = parts[..] else {
        return None;
    };
    Some(ResourceRef {
        name: name.to_string(),
        exporter: exporter.to_string(),
        group: group.to_string(),
        cls: cls.to_string(),
        avail: true,
    })
}

/// One row of `who`: a place and who holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub user: String,
    pub host: String,
    pub place: String,
    /// As labgrid prints it (local time).
    pub since: String,
}

/// `labgrid-client who`: a header `User Host Place Changed`, then one row per held place.
pub fn who(text: &str) -> Vec<Held> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("User"))
        .skip(1)
        .filter_map(|l| {
            let mut cells = l.split_whitespace();
            let (user, host, place) = (cells.next()?, cells.next()?, cells.next()?);
            Some(Held {
                user: user.to_string(),
                host: host.to_string(),
                place: place.to_string(),
                since: cells.collect::<Vec<_>>().join(" "),
            })
        })
        .collect()
}

/// One resource of a locked place, from `labgrid-client env`.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub cls: String,
    /// Its `name:` (labgrid's name for it), else the class.
    pub name: String,
    pub params: BTreeMap<String, yaml_serde::Value>,
}

impl Resource {
    pub fn text(&self, key: &str) -> Option<String> {
        match self.params.get(key)? {
            yaml_serde::Value::String(s) => Some(s.clone()),
            yaml_serde::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn number(&self, key: &str) -> Option<u64> {
        match self.params.get(key)? {
            yaml_serde::Value::Number(n) => n.as_u64(),
            yaml_serde::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Env {
    targets: BTreeMap<String, EnvTarget>,
}

#[derive(Deserialize)]
struct EnvTarget {
    #[serde(default)]
    resources: Vec<BTreeMap<String, BTreeMap<String, yaml_serde::Value>>>,
}

/// `labgrid-client -p PLACE env`: the place's resources with their parameters.
pub fn env(text: &str, place: &str) -> Result<Vec<Resource>, String> {
    let env: Env =
        yaml_serde::from_str(text).map_err(|e| format!("not a labgrid environment: {e}"))?;
    let target = env
        .targets
        .get(place)
        .ok_or_else(|| format!("no target `{place}` in the environment"))?;
    Ok(target
        .resources
        .iter()
        .flat_map(|r| r.iter())
        .map(|(cls, params)| {
            let name = params
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or(cls)
                .to_string();
            Resource {
                cls: cls.clone(),
                name,
                params: params.clone(),
            }
        })
        .collect())
}

/// The classes `labgrid-client power` drives (its `power` command, labgrid 25/26).
pub const POWER_CLASSES: [&str; 7] = [
    "NetworkPowerPort",
    "NetworkUSBPowerPort",
    "NetworkSiSPMPowerPort",
    "PDUDaemonPort",
    "TasmotaPowerPort",
    "NetworkYKUSHPowerPort",
    "NetworkSysfsGPIO",
];

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from labgrid 26.0.1.
    const WAIT: &str = "owner: runner1/ci-a\ntoken: 31A4EPL1WM\nstate: waiting\nprio: 5.0\nfilters:\n  main: board=otarig-sim\ncreated: 2026-12-05 06:02:12.166416\ntimeout: 2026-12-05 06:03:12.609031\nowner: runner1/ci-a\ntoken: 31A4EPL1WM\nstate: allocated\nprio: 5.0\nfilters:\n  main: board=otarig-sim\nallocations:\n  main: board-1\ncreated: 2026-12-05 06:02:12.166416\ntimeout: 2026-12-05 06:03:13.612884\n";
    const SHOW: &str = "Place 'board-1':\n  tags: board=otarig-sim, thing=Thing1\n  matches:\n    exp1/board-1/*\n  acquired: None\n  acquired resources:\n  created: 2026-12-05 06:02:04.410210\n  changed: 2026-12-05 06:02:05.387791\n  reservation: WKJIXA5W6P\nMatching resource 'NetworkPowerPort' (exp1/board-1/NetworkPowerPort/NetworkPowerPort):\n  {'acquired': None,\n   'avail': True,\n   'cls': 'NetworkPowerPort',\n   'params': {'extra': {'proxy': 'localhost', 'proxy_required': False},\n              'host': 'http://127.0.0.1:47099/power/{index}/{value}',\n              'index': 1,\n              'model': 'simplerest'}}\nMatching resource 'RawSerialPort' (exp1/board-1/NetworkSerialPort/RawSerialPort):\n  {'acquired': None,\n   'avail': False,\n   'cls': 'NetworkSerialPort',\n   'params': {'host': '127.0.0.1', 'port': None, 'speed': 115200}}\n";
    const ENV: &str = "targets:\n  board-1:\n    resources:\n    - NetworkPowerPort:\n        model: simplerest\n        index: 1\n        host: http://127.0.0.1:47099/power/{index}/{value}\n    - NetworkSerialPort:\n        name: RawSerialPort\n        speed: 115200\n        host: 127.0.0.1\n        port: 56579\n\n";
    const WHO: &str = "User  Host     Place    Changed                   \nci-a  runner1  board-1  2026-12-05 06:02:24.031471\n";

    #[test]
    fn reserve_prints_a_token() {
        assert_eq!(
            token("export LG_TOKEN=WKJIXA5W6P\n").as_deref(),
            Some("WKJIXA5W6P")
        );
        assert_eq!(token("Reservation 'X':\n"), None);
    }

    #[test]
    fn the_last_reservation_wait_printed_is_its_state() {
        let all = reservations(WAIT);
        assert_eq!(all.len(), 2);
        let last = all.last().unwrap();
        assert_eq!(
            (
                last.state.as_str(),
                last.place.as_deref(),
                last.owner.as_str()
            ),
            ("allocated", Some("board-1"), "runner1/ci-a")
        );
        assert_eq!(all[0].place, None);
    }

    #[test]
    fn show_gives_tags_holder_and_resources() {
        let p = &places(SHOW)[0];
        assert_eq!(p.name, "board-1");
        assert_eq!(p.tags["thing"], "Thing1");
        assert_eq!(p.acquired, None);
        assert_eq!(p.reservation.as_deref(), Some("WKJIXA5W6P"));
        let classes: Vec<(&str, bool)> = p
            .resources
            .iter()
            .map(|r| (r.cls.as_str(), r.avail))
            .collect();
        assert_eq!(
            classes,
            [("NetworkPowerPort", true), ("NetworkSerialPort", false)]
        );
        assert!(p.matches(&[("board".into(), "otarig-sim".into())]));
        assert!(p.matches(&[("name".into(), "board-1".into())]));
        assert!(!p.matches(&[("board".into(), "pic32mz".into())]));
    }

    #[test]
    fn who_lists_holders() {
        assert_eq!(
            who(WHO),
            [Held {
                user: "ci-a".into(),
                host: "runner1".into(),
                place: "board-1".into(),
                since: "2026-12-05 06:02:24.031471".into()
            }]
        );
        assert!(who("User  Host  Place  Changed\n").is_empty());
    }

    #[test]
    fn env_gives_the_resources_and_their_parameters() {
        let r = env(ENV, "board-1").unwrap();
        assert_eq!(r.len(), 2);
        let serial = r.iter().find(|r| r.cls == "NetworkSerialPort").unwrap();
        assert_eq!(serial.name, "RawSerialPort");
        assert_eq!(serial.number("port"), Some(56579));
        assert_eq!(serial.text("host").as_deref(), Some("127.0.0.1"));
        assert_eq!(r[0].name, "NetworkPowerPort");
        assert!(env(ENV, "board-2").unwrap_err().contains("board-2"));
    }
}
