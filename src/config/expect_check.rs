//! An `expect` step's check, as far as `config` reads it. `config` knows what every
//! expectation has: its boards, and a deadline `within` or a window `for` (as text). What the
//! other keys mean, and which window a check takes, is up to the kinds of check, which live
//! with their evaluation (`scenario::checks`, docs/architecture.md § Modules): the check
//! type implements [`ExpectCheck`] and parses each `expect` map through a [`CheckCx`], with
//! positioned diagnostics among the file's own.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use regex::Regex;
use serde::de::DeserializeOwned;

use super::locate::{Ctx, YamlPath};
use super::scenario::Scenario;
use super::values::{self, bounds, DurationBounds};

/// The keys of an `expect` map that `config` reads itself.
pub const COMMON_KEYS: [&str; 4] = ["board", "boards", "within", "for"];

/// What an `expect` step's check is parsed into, when a scenario is loaded as
/// `Scenario<Self>` (`config::load_scenarios_as`).
pub trait ExpectCheck: Sized + Clone + fmt::Debug {
    /// The check of one `expect` map and its deadline (or window). `None` only with an error
    /// reported through `cx`: a check that cannot be read must never be dropped quietly.
    fn parse(cx: &mut CheckCx<'_, '_>) -> Option<(Self, Duration)>;

    /// Warnings about a scenario that resolved without error, each at a path in its file.
    fn review(_scenario: &Scenario<Self>) -> Vec<(YamlPath, String)> {
        Vec::new()
    }
}

/// Each distinct regex compiled once per file (a `Regex` clone shares it): long scenarios
/// repeat the same few, and compiling is the dearest part of loading a step.
#[derive(Default)]
pub(super) struct Regexes(HashMap<String, Regex>);

impl Regexes {
    pub(super) fn compile(&mut self, s: &str) -> Result<Regex, String> {
        if let Some(re) = self.0.get(s) {
            return Ok(re.clone());
        }
        let re = values::compile_regex(s)?;
        self.0.insert(s.to_string(), re.clone());
        Ok(re)
    }
}

/// One `expect` map being parsed: its keys, where they are, and the scenario so far.
pub struct CheckCx<'a, 'f> {
    pub(super) ctx: &'a mut Ctx<'f>,
    /// Where the `expect` map is (`steps[3].expect`).
    pub(super) at: YamlPath,
    pub(super) keys: Vec<String>,
    pub(super) within: Option<String>,
    pub(super) for_: Option<String>,
    /// Job ids defined by the `job` steps before this one.
    pub(super) jobs: &'a BTreeSet<String>,
    pub(super) regexes: &'a mut Regexes,
}

impl CheckCx<'_, '_> {
    /// Where the `expect` map is, for problems with it as a whole.
    pub fn at(&self) -> &YamlPath {
        &self.at
    }

    /// Where the value of `key` is (or the map, when the key is absent).
    pub fn key(&self, key: &str) -> YamlPath {
        self.at.key(key)
    }

    /// Every key of the map, in the order written, [`COMMON_KEYS`] included.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// `within:` as written.
    pub fn within(&self) -> Option<&str> {
        self.within.as_deref()
    }

    /// `for:` as written.
    pub fn for_window(&self) -> Option<&str> {
        self.for_.as_deref()
    }

    pub fn error(&mut self, at: &YamlPath, message: impl Into<String>) {
        self.ctx.error(at, message);
    }

    /// The whole map read as `T` (keys `T` does not name are left alone); a problem is
    /// reported where it is, with serde's words, and gives `None`.
    pub fn read<T: DeserializeOwned>(&mut self) -> Option<T> {
        match self.ctx.deserialize_at::<T>(&self.at) {
            Ok(value) => value,
            Err(e) => {
                self.ctx.node_error(e);
                None
            }
        }
    }

    /// A duration within its field's bounds; the message names the field by its key.
    pub fn duration(&mut self, at: &YamlPath, s: &str, b: DurationBounds) -> Option<Duration> {
        values::parse_duration_in(at.field(), s, b)
            .map_err(|e| self.ctx.error(at, e))
            .ok()
    }

    /// `50%` as 0.5.
    pub fn percent(&mut self, at: &YamlPath, s: &str) -> Option<f64> {
        values::parse_percent(s)
            .map_err(|e| self.ctx.error(at, e))
            .ok()
    }

    pub fn regex(&mut self, at: &YamlPath, s: &str) -> Option<Regex> {
        self.regexes
            .compile(s)
            .map_err(|e| self.ctx.error(at, e))
            .ok()
    }

    /// Reports `job` unless an earlier `job` step defines it.
    pub fn job_defined(&mut self, at: &YamlPath, job: &str) {
        job_defined(self.ctx, self.jobs, at, job);
    }
}

/// Reports `job` unless it is one of `jobs` (defined by an earlier `job` step).
pub(super) fn job_defined(ctx: &mut Ctx<'_>, jobs: &BTreeSet<String>, at: &YamlPath, job: &str) {
    if !jobs.contains(job) {
        ctx.error(
            at,
            format!("job `{job}` is not defined by an earlier `job` step (a `job: {{ id: {job}, ... }}` step must come first)"),
        );
    }
}

/// A check left as written: its keys, unread. What `config` loads alone
/// ([`super::load_scenarios`]), for what looks only at a scenario's steps and boards;
/// the runner and `otarig validate` load scenarios with their checks parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnparsedCheck {
    /// The map's keys other than [`COMMON_KEYS`], in the order written.
    pub keys: Vec<String>,
}

impl ExpectCheck for UnparsedCheck {
    /// Takes `within`, or else `for`, as the window; judges nothing else.
    fn parse(cx: &mut CheckCx<'_, '_>) -> Option<(Self, Duration)> {
        let window = match (cx.within.clone(), cx.for_.clone()) {
            (Some(w), _) => cx.duration(&cx.key("within"), &w, bounds::EXPECT_WITHIN),
            (None, Some(f)) => cx.duration(&cx.key("for"), &f, bounds::EXPECT_FOR),
            (None, None) => None,
        };
        let keys = cx
            .keys
            .iter()
            .filter(|k| !COMMON_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        Some((UnparsedCheck { keys }, window.unwrap_or_default()))
    }
}
