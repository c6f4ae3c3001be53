//! `firmware-fixtures/NAME.yaml`: one logical firmware build (docs/architecture.md § Firmware
//! fixtures). The simulator builds its images from it on demand (`sim::fixture`); real
//! boards flash the per-platform files it names. The format, field by field, with defaults:
//! docs/configuration.md § Fixture files.
//!
//! Strict: unknown fields are errors with file:line:column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::diag::{Diagnostic, Diagnostics};
use crate::config::locate::{locate_nearest, SourceFile, YamlPath};
use crate::config::values::{bounds, check_duration};
use crate::config::yaml_index::{IndexError, YamlIndex};
pub use crate::model::{AgentKind, AppOutcome};

pub const DEFAULT_SEQUENCE: u32 = 2;
pub const DEFAULT_SIZE: usize = 24 * 1024;

/// What the OTA file carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// A runnable simulated app with its personality.
    #[default]
    App,
    /// A valid descriptor around bytes that are no app (crashes when booted).
    Garbage,
    /// The OTA file is exactly the fixture's `raw` bytes, e.g. a one-byte file.
    Raw,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixtureQuirks {
    /// The reset the agent forces after rejecting an image hangs until power is removed
    /// (the field report); every other reset works.
    pub reset_hangs: bool,
    /// The factory image is programmed without the `@AFRTOS` descriptor (a plain build).
    pub no_descriptor: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixtureDelays {
    #[serde(with = "humantime_serde")]
    pub self_test_timeout: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub boot: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub flash_sector: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub file_request_wait: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub watchdog: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub crash_after: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureRaw {
    #[serde(default)]
    pub summary: Option<String>,
    pub version: String,
    #[serde(default)]
    pub thing_name: Option<String>,
    #[serde(default)]
    pub sequence: Option<u32>,
    #[serde(default)]
    pub agent: AgentKind,
    #[serde(default)]
    pub outcome: AppOutcome,
    #[serde(default)]
    pub content: Content,
    #[serde(default)]
    pub raw: Option<String>,
    #[serde(default)]
    pub size: Option<usize>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub quirks: FixtureQuirks,
    #[serde(default)]
    pub delays: FixtureDelays,
    #[serde(default)]
    pub log2_block_size: Option<u8>,
    #[serde(default)]
    pub blocks_per_request: Option<u32>,
    #[serde(default)]
    pub files: BTreeMap<String, RawPlatformFiles>,
}

/// A platform's build: one file for both uses, or the flasher's and the job's apart.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RawPlatformFiles {
    One(PathBuf),
    Two { flash: PathBuf, ota: PathBuf },
}

/// One platform's build of a fixture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformFiles {
    /// What a flasher programs (hex, ELF, bin; the executable of a native program).
    pub flash: PathBuf,
    /// What an OTA job streams: the application image as the agent receives it.
    pub ota: PathBuf,
}

/// A validated fixture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fixture {
    /// The file stem: the name scenarios use.
    pub name: String,
    pub path: PathBuf,
    pub summary: Option<String>,
    pub version: (u8, u8, u16),
    pub thing_name: Option<String>,
    pub sequence: u32,
    pub agent: AgentKind,
    pub outcome: AppOutcome,
    pub content: Content,
    /// Bytes of the raw OTA file (`raw:`), with `content` = [`Content::Raw`].
    pub raw: Option<Vec<u8>>,
    pub size: usize,
    pub platform: String,
    pub quirks: FixtureQuirks,
    pub delays: FixtureDelays,
    pub log2_block_size: u8,
    pub blocks_per_request: u32,
    /// Per-platform builds for real boards, resolved against the fixture's folder.
    pub files: BTreeMap<String, PlatformFiles>,
}

/// A fixture is named by its file's stem in the fixtures folder: a plain name, never a
/// path (no `/`, `\\`, `..`, leading `.`, nor an empty name), so a scenario or rig cannot
/// reach a file outside that folder.
pub fn check_name(name: &str) -> Result<(), String> {
    let why = if name.trim().is_empty() {
        "it is empty"
    } else if name.contains('/') || name.contains('\\') {
        "it contains a path separator"
    } else if name.contains("..") {
        "it contains `..`"
    } else if name.starts_with('.') {
        "it starts with `.`"
    } else if name.chars().any(char::is_control) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(format!(
        "fixture name `{}` is not a plain name ({why}): name a fixture by its file stem in firmware-fixtures/, e.g. `app-v5`",
        name.escape_debug()
    ))
}

/// Loads `dir/NAME.yaml`; `NAME` must be a plain name ([`check_name`]).
pub fn load_named(dir: &Path, name: &str) -> Result<Fixture, Diagnostics> {
    let file = dir.join(format!("{name}.yaml"));
    check_name(name).map_err(|e| Diagnostics(vec![Diagnostic::error(&file, 1, 1, e)]))?;
    load(&file)
}

/// Loads and validates one fixture file.
pub fn load(path: &Path) -> Result<Fixture, Diagnostics> {
    let file = SourceFile::read(path).map_err(|d| Diagnostics(vec![d]))?;
    parse(&file)
}

pub fn parse(file: &SourceFile) -> Result<Fixture, Diagnostics> {
    let mut diags = Diagnostics::new();
    // Refuses absurd nesting before libyaml spends seconds on it (config::yaml_index).
    if let Err(e @ IndexError::TooDeep { line, column }) = YamlIndex::build(&file.text) {
        diags.push(Diagnostic::error(&file.path, line, column, e.message()));
        return Err(diags);
    }
    let raw: FixtureRaw = match yaml_serde::from_str(&file.text) {
        Ok(r) => r,
        Err(e) => {
            diags.push(file.yaml_error(&e));
            return Err(diags);
        }
    };
    let d = &raw.delays;
    for (name, delay) in [
        ("self_test_timeout", d.self_test_timeout),
        ("boot", d.boot),
        ("flash_sector", d.flash_sector),
        ("file_request_wait", d.file_request_wait),
        ("watchdog", d.watchdog),
        ("crash_after", d.crash_after),
    ] {
        let Some(delay) = delay else { continue };
        let written = humantime::format_duration(delay).to_string();
        if let Err(e) = check_duration(name, &written, delay, bounds::FIXTURE_DELAY) {
            let path = YamlPath::root().key("delays").key(name);
            let (line, column) = locate_nearest(&file.text, &path);
            diags.push(Diagnostic::error(&file.path, line, column, e));
        }
    }
    let mut error = |field: &str, msg: String| {
        let path = YamlPath::root().key(field);
        let (line, column) = locate_nearest(&file.text, &path);
        diags.push(Diagnostic::error(&file.path, line, column, msg));
    };
    let version = parse_version(&raw.version)
        .map_err(|e| error("version", e))
        .unwrap_or((0, 0, 0));
    if raw.content == Content::Raw {
        error(
            "content",
            "`content: raw` is implied by a `raw:` field; give the bytes there".into(),
        );
    }
    if raw.raw.is_some() && raw.content != Content::App {
        error("raw", "`raw:` replaces the app: remove `content:`".into());
    }
    let raw_bytes = match &raw.raw {
        Some(hex) => match decode_hex(hex) {
            Ok(b) if !b.is_empty() => Some(b),
            Ok(_) => {
                error(
                    "raw",
                    "raw content is empty: give at least one byte in hex".into(),
                );
                None
            }
            Err(e) => {
                error("raw", e);
                None
            }
        },
        None => None,
    };
    let log2 = raw.log2_block_size.unwrap_or(10);
    if !(6..=17).contains(&log2) {
        error(
            "log2_block_size",
            format!("log2_block_size {log2} is outside 6..=17 (64 B to 128 KiB blocks)"),
        );
    }
    if let Some(t) = &raw.thing_name {
        if t.is_empty() || t.len() > 128 {
            error(
                "thing_name",
                format!("thing name `{t}` must be 1 to 128 characters"),
            );
        }
    }
    let size = raw.size.unwrap_or(DEFAULT_SIZE);
    if size < 64 {
        error(
            "size",
            format!("size {size} is too small for an app (at least 64 bytes)"),
        );
    }
    if raw.files.contains_key(crate::config::rig::SIM_PLATFORM) {
        error(
            "files",
            "the `sim` platform's images are built from this file's personality; remove `sim` from `files`".into(),
        );
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let dir = file.path.parent().unwrap_or(Path::new("."));
    let resolve = |p: PathBuf| if p.is_relative() { dir.join(p) } else { p };
    Ok(Fixture {
        name: file
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: file.path.clone(),
        summary: raw.summary,
        version,
        thing_name: raw.thing_name,
        sequence: raw.sequence.unwrap_or(DEFAULT_SEQUENCE),
        agent: raw.agent,
        outcome: raw.outcome,
        content: if raw_bytes.is_some() {
            Content::Raw
        } else {
            raw.content
        },
        raw: raw_bytes,
        size,
        platform: raw.platform.unwrap_or_else(|| "pic32mz".into()),
        quirks: raw.quirks,
        delays: raw.delays,
        log2_block_size: log2,
        blocks_per_request: raw.blocks_per_request.unwrap_or(1).max(1),
        files: raw
            .files
            .into_iter()
            .map(|(platform, files)| {
                let files = match files {
                    RawPlatformFiles::One(p) => PlatformFiles {
                        flash: resolve(p.clone()),
                        ota: resolve(p),
                    },
                    RawPlatformFiles::Two { flash, ota } => PlatformFiles {
                        flash: resolve(flash),
                        ota: resolve(ota),
                    },
                };
                (platform, files)
            })
            .collect(),
    })
}

fn parse_version(s: &str) -> Result<(u8, u8, u16), String> {
    let bad = || {
        format!("version `{s}`: expected major.minor.build, e.g. 0.9.4 (major, minor ≤ 255, build ≤ 65535)")
    };
    let parts: Vec<&str> = s.trim().split('.').collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(bad());
    };
    Ok((
        a.parse().map_err(|_| bad())?,
        b.parse().map_err(|_| bad())?,
        c.parse().map_err(|_| bad())?,
    ))
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.len() % 2 != 0 {
        return Err(format!("raw content `{s}` has an odd number of hex digits"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| format!("raw content `{s}` is not hex"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> SourceFile {
        SourceFile {
            path: PathBuf::from("/f/app-x.yaml"),
            text: text.into(),
        }
    }

    #[test]
    fn a_minimal_fixture_gets_the_defaults() {
        let f = parse(&src("version: 0.9.4\n")).unwrap();
        assert_eq!(f.name, "app-x");
        assert_eq!(
            (f.version, f.sequence, f.agent, f.outcome),
            ((0, 9, 4), 2, AgentKind::V1, AppOutcome::Pass)
        );
        assert_eq!(
            (f.size, f.log2_block_size, f.content.clone()),
            (DEFAULT_SIZE, 10, Content::App)
        );
    }

    #[test]
    fn all_fields_parse() {
        let f = parse(&src(
            "version: 0.9.5\nthing_name: Thing2\nsequence: 20\nagent: v3\noutcome: cannot_connect\n\
             raw: '42'\nsize: 1000\nquirks: { reset_hangs: true, no_descriptor: true }\n\
             delays: { self_test_timeout: 16s, watchdog: 30s }\n\
             files: { pic32mz: { flash: app.hex, ota: /b/app.bin }, posix: demo }\n",
        ))
        .unwrap();
        assert_eq!(f.thing_name.as_deref(), Some("Thing2"));
        assert_eq!(f.raw, Some(vec![0x42]));
        assert!(f.quirks.reset_hangs && f.quirks.no_descriptor);
        assert_eq!(f.delays.self_test_timeout, Some(Duration::from_secs(16)));
        assert_eq!(f.files["pic32mz"].flash, PathBuf::from("/f/app.hex"));
        assert_eq!(f.files["pic32mz"].ota, PathBuf::from("/b/app.bin"));
        assert_eq!(f.files["posix"].flash, f.files["posix"].ota);
    }

    #[test]
    fn a_simulated_delay_longer_than_any_run_is_an_error() {
        let d = parse(&src(
            "version: 0.9.4\ndelays: { boot: 100ms, self_test_timeout: 100 years }\n",
        ))
        .unwrap_err();
        assert_eq!(d.len(), 1, "{d}");
        assert_eq!((d.0[0].line, d.0[0].column), (2, 43), "{d}");
        assert!(
            d.0[0].message.starts_with("self_test_timeout ")
                && d.0[0]
                    .message
                    .ends_with("is above the maximum 1h for a simulated firmware delay"),
            "{d}"
        );
    }

    #[test]
    fn a_deeply_nested_fixture_is_refused_at_the_level_too_deep() {
        let deep = "{a: ".repeat(50_000) + &"}".repeat(50_000);
        let d = parse(&src(&format!("version: 0.9.4\nquirks: {deep}\n"))).unwrap_err();
        assert_eq!((d.0[0].line, d.0[0].column), (2, 9 + 4 * 31), "{d}");
        assert!(d.0[0].message.contains("nested more than"), "{d}");
    }

    #[test]
    fn fixture_names_are_plain_names() {
        for good in ["app-v5", "app_v4.1", "v5"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "../app-v5",
            "a/b",
            "a\\b",
            "..",
            ".hidden",
            "a..b",
            "",
            "/etc/passwd",
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains("is not a plain name"), "{bad}: {e}");
        }
        let d = load_named(Path::new("/f"), "../secret").unwrap_err();
        assert!(d.0[0].message.contains("contains a path separator"), "{d}");
    }

    #[test]
    fn the_sim_platform_is_built_not_listed() {
        let d = parse(&src("version: 0.9.4\nfiles: { sim: x.bin }\n")).unwrap_err();
        assert!(d.0[0].message.contains("remove `sim`"), "{d}");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_positioned() {
        let d = parse(&src("version: 0.9.4\nsequnce: 3\n")).unwrap_err();
        let first = &d.0[0];
        assert_eq!(
            (first.line, first.message.contains("sequnce")),
            (2, true),
            "{first}"
        );
        let d = parse(&src("summary: x\nversion: 0.9\n")).unwrap_err();
        assert_eq!(d.0[0].line, 2, "{}", d);
        assert!(d.0[0].message.contains("major.minor.build"));
    }
}
