//! A rig's `labgrid:` section, resolved: which boards a run takes from a labgrid
//! coordinator. Each request's boards are also in `Rig::boards` as templates (name, thing
//! name, platform, flasher, profile, timeouts: what binding and validation need); the
//! place a board gets, and so its console address and power commands, is known only once
//! a run has locked it (`crate::labgrid`).

use std::time::Duration;

pub use super::rig_raw::LabgridPower;

/// labgrid's own default coordinator address, for messages (the client picks it itself).
pub const DEFAULT_COORDINATOR: &str = "127.0.0.1:20408";
pub const DEFAULT_CLIENT: &str = "labgrid-client";
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30 * 60);
/// The thing name of a board taken from a place's tag, until a run knows the place.
pub const THING_FROM_TAG: &str = "{thing}";
/// The tag holding a place's thing name (its firmware's, for chips with it built in).
pub const THING_TAG: &str = "thing";
/// Placeholders a labgrid board's flash and reset commands may use besides a board's.
pub const PLACEHOLDERS: [&str; 2] = ["place", "exporter"];
/// Power and reset commands through labgrid-client: Python starting, a gRPC round trip.
pub const POWER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labgrid {
    /// `HOST:PORT`; `None`: labgrid-client's default (`LG_COORDINATOR`, else
    /// [`DEFAULT_COORDINATOR`]).
    pub coordinator: Option<String>,
    /// The `labgrid-client` program.
    pub client: String,
    /// How long a run waits for all its places before it gives up (exit 3).
    pub wait: Duration,
    /// Reservation priority (labgrid serves higher first, then older).
    pub priority: i32,
    pub requests: Vec<BoardRequest>,
}

impl Labgrid {
    /// The coordinator as messages name it.
    pub fn coordinator_text(&self) -> String {
        match &self.coordinator {
            Some(c) => c.clone(),
            None => match std::env::var("LG_COORDINATOR") {
                Ok(c) if !c.is_empty() => format!("{c} (LG_COORDINATOR)"),
                _ => format!("{DEFAULT_COORDINATOR} (labgrid's default)"),
            },
        }
    }

    /// The request a rig board comes from, if it is a labgrid board.
    pub fn request_of(&self, board: &str) -> Option<&BoardRequest> {
        self.requests
            .iter()
            .find(|r| r.boards.iter().any(|b| b == board))
    }
}

/// A `labgrid-client` command line for a place (power commands are such lines), quoted
/// for the rig's command-line splitting.
pub fn client_line(client: &str, coordinator: Option<&str>, place: &str, args: &str) -> String {
    let quote = |w: &str| {
        if w.is_empty() || w.contains(|c: char| c.is_whitespace() || "'\"\\".contains(c)) {
            format!("'{}'", w.replace('\'', r"'\''"))
        } else {
            w.to_string()
        }
    };
    let mut line = quote(client);
    if let Some(c) = coordinator {
        line.push_str(&format!(" -x {}", quote(c)));
    }
    line.push_str(&format!(" -p {} {args}", quote(place)));
    line
}

/// `count` boards from places whose tags include `tags`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardRequest {
    pub name: String,
    /// `key=value` filters of a labgrid reservation.
    pub tags: Vec<(String, String)>,
    /// The rig boards this request fills, in order (`NAME-1` … `NAME-count`).
    pub boards: Vec<String>,
    /// Given to the boards in order; `None`: each place's `thing` tag.
    pub thing_names: Option<Vec<String>>,
    /// The NetworkSerialPort's resource name, when a place has several.
    pub console: Option<String>,
    pub power: LabgridPower,
}

impl BoardRequest {
    /// `board=pic32mz room=2`, as `labgrid-client reserve` takes it.
    pub fn tags_text(&self) -> String {
        self.tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `key=value` pairs separated by spaces or commas; keys as labgrid's tag keys.
pub fn parse_tags(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut tags = Vec::new();
    for pair in text.split([' ', ',']).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not `key=value` (e.g. `board=pic32mz`)"))?;
        let key_ok = k.starts_with(|c: char| c.is_ascii_lowercase())
            && k.len() >= 2
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            return Err(format!(
                "tag key `{k}`: labgrid's tag keys are a lowercase letter, then lowercase letters, digits or `_`"
            ));
        }
        if v.is_empty() || v.contains('=') {
            return Err(format!("`{pair}`: the value after `=` must be one word"));
        }
        tags.push((k.to_string(), v.to_string()));
    }
    if tags.is_empty() {
        return Err("`match` needs at least one `key=value` tag, e.g. `board=pic32mz`".into());
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse_as_labgrid_takes_them() {
        assert_eq!(
            parse_tags("board=pic32mz, room=lab_2").unwrap(),
            [
                ("board".to_string(), "pic32mz".to_string()),
                ("room".to_string(), "lab_2".to_string())
            ]
        );
        for (bad, why) in [
            ("board", "not `key=value`"),
            ("Board=x", "tag key `Board`"),
            ("b=x", "tag key `b`"),
            ("board=", "one word"),
            ("  ", "at least one"),
        ] {
            let e = parse_tags(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
