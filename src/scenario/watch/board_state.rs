//! What the runner knows of one board, updated event by event: its boots, its
//! connection, its executions, its download, its recent console. Every question a
//! matcher asks is answered from here in constant time (console searches: from the
//! lines kept), so waiting costs a run time linear in its events.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use regex::Regex;

use crate::config::rig::Profile;
use crate::model::lag::parse_lag_note;
use crate::model::ExecutionStatus;
use crate::timeline::query::reported_progress;
use crate::timeline::{Direction, Event, EventKind, Mark};

/// Console lines kept per board. Of older lines only where they are in the timeline's
/// file is kept, to read them back for the search that needs them
/// ([`BoardState::console_since`]).
pub const CONSOLE_KEPT: usize = 64;

/// The latest state of a thing's execution of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    pub job_id: String,
    pub status: ExecutionStatus,
    pub status_details: BTreeMap<String, String>,
}

/// A boot: the index of its banner line, and what has been seen since.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Boot {
    at: usize,
    /// The board printed its `connected` line after this banner.
    says_connected: bool,
}

/// The maxima of a series over every suffix, in O(1) amortised per value: entries are
/// (index, value) with values strictly decreasing, so the maximum from index `i` on is
/// the first entry at or after `i`.
#[derive(Clone, Debug, Default)]
struct SuffixMax(Vec<(usize, f64)>);

impl SuffixMax {
    fn push(&mut self, at: usize, value: f64) {
        while self.0.last().is_some_and(|&(_, v)| v <= value) {
            self.0.pop();
        }
        self.0.push((at, value));
    }

    fn since(&self, from: usize) -> f64 {
        let i = self.0.partition_point(|&(at, _)| at < from);
        self.0.get(i).map_or(0.0, |&(_, v)| v)
    }
}

/// One board of a scenario, as its events have shown it so far.
pub struct BoardState {
    pub board: String,
    pub thing: String,
    profile: Profile,
    /// The latest console lines, oldest first, with their timeline index.
    console: VecDeque<(usize, String)>,
    /// Where each kept line is in the file (same order as `console`).
    console_at: VecDeque<Mark>,
    /// Where the older lines are.
    spilled: Vec<Mark>,
    /// The latest line the board itself printed (not the rig's notes on its console).
    spoke_at: Option<usize>,
    boot: Option<Boot>,
    /// The latest line matching the profile's `version`, and the version it names.
    version: Option<(usize, String)>,
    /// The gateway has seen this thing connect or disconnect at least once.
    seen_connection: bool,
    /// The open connections (gateway connection id, connect event), oldest first. A
    /// connection taken over is reported closed after its successor opened: only its own
    /// close ends it.
    open: Vec<(u64, usize)>,
    /// In client mode no connection is seen: the latest request the thing published.
    last_request: Option<usize>,
    jobs: BTreeMap<String, JobState>,
    /// The job whose execution changed last.
    latest_job: Option<String>,
    /// The latest answer the cloud sent to the thing's `$next/get`.
    jobs_answered_at: Option<usize>,
    stream_progress: SuffixMax,
    reported_progress: SuffixMax,
    reported_progress_by_job: BTreeMap<String, SuffixMax>,
    /// The worst scheduling lag the board's simulator reported.
    lag: Duration,
}

impl BoardState {
    pub fn new(board: &str, thing: &str, profile: Profile) -> Self {
        BoardState {
            board: board.to_string(),
            thing: thing.to_string(),
            profile,
            console: VecDeque::new(),
            console_at: VecDeque::new(),
            spilled: Vec::new(),
            spoke_at: None,
            boot: None,
            version: None,
            seen_connection: false,
            open: Vec::new(),
            last_request: None,
            jobs: BTreeMap::new(),
            latest_job: None,
            jobs_answered_at: None,
            stream_progress: SuffixMax::default(),
            reported_progress: SuffixMax::default(),
            reported_progress_by_job: BTreeMap::new(),
            lag: Duration::ZERO,
        }
    }

    /// Takes in one event about this board or its thing, found at `mark`. False when the
    /// event changed nothing a waiter reads from the state (most of the MQTT transcript:
    /// a stream's blocks; most console lines: those who read lines get them in a feed),
    /// so its waiters need not wake.
    pub fn apply(&mut self, mark: Mark, event: &Event) -> bool {
        let at = mark.index;
        match &event.kind {
            EventKind::Console { line } => return self.console_line(mark, line),
            EventKind::Connection {
                conn, connected, ..
            } => {
                self.seen_connection = true;
                self.open.retain(|(c, _)| c != conn);
                if *connected {
                    self.open.push((*conn, at));
                }
            }
            EventKind::Mqtt {
                dir: Direction::In,
                packet,
                ..
            } if packet == "PUBLISH" => self.last_request = Some(at),
            EventKind::Mqtt {
                dir: Direction::Out,
                topic: Some(topic),
                ..
            } => {
                let answer = topic
                    .strip_prefix("$aws/things/")
                    .and_then(|rest| rest.strip_prefix(self.thing.as_str()))
                    .is_some_and(|rest| rest.starts_with("/jobs/$next/get/"));
                if answer {
                    self.jobs_answered_at = Some(at);
                }
                return answer;
            }
            EventKind::Mqtt { .. } => return false,
            EventKind::JobExecution {
                job_id,
                status,
                status_details,
                ..
            } => {
                if let Some(fraction) = reported_progress(status_details) {
                    self.reported_progress.push(at, fraction);
                    self.reported_progress_by_job
                        .entry(job_id.clone())
                        .or_default()
                        .push(at, fraction);
                }
                self.jobs.insert(
                    job_id.clone(),
                    JobState {
                        job_id: job_id.clone(),
                        status: *status,
                        status_details: status_details.clone(),
                    },
                );
                self.latest_job = Some(job_id.clone());
            }
            EventKind::StreamProgress {
                blocks_served,
                block_count,
                ..
            } if *block_count > 0 => {
                let fraction = *blocks_served as f64 / *block_count as f64;
                self.stream_progress.push(at, fraction);
            }
            _ => {}
        }
        true
    }

    /// True when the line is a boot, a version, a `connected` line or a lag note: what
    /// the state says beyond the line itself.
    fn console_line(&mut self, mark: Mark, line: &str) -> bool {
        let at = mark.index;
        let mut told = false;
        if !line.starts_with(crate::board::native::RIG_LINE_PREFIX) {
            self.spoke_at = Some(at);
        } else if let Some(lag) = parse_lag_note(line) {
            self.lag = self.lag.max(lag);
            told = true;
        }
        if self.profile.banner.is_match(line) {
            self.boot = Some(Boot {
                at,
                says_connected: false,
            });
            told = true;
        }
        if let Some(boot) = self.boot.as_mut() {
            if !boot.says_connected && self.profile.connected.is_match(line) {
                boot.says_connected = true;
                told = true;
            }
        }
        if let Some(caps) = self.profile.version.captures(line) {
            if let Some(v) = caps.name("version").or_else(|| caps.get(1)) {
                self.version = Some((at, v.as_str().to_string()));
                told = true;
            }
        }
        if self.console.len() == CONSOLE_KEPT {
            self.console.pop_front();
            self.spilled.extend(self.console_at.pop_front());
        }
        self.console.push_back((at, line.to_string()));
        self.console_at.push_back(mark);
        told
    }

    /// The console lines at or after `from`: where those no longer kept are in the file
    /// (to read back, oldest first), then those kept.
    pub fn console_since(&self, from: usize) -> (&[Mark], impl Iterator<Item = &(usize, String)>) {
        let spilled = self.spilled.partition_point(|m| m.index < from);
        let kept = self.console.partition_point(|(at, _)| *at < from);
        (&self.spilled[spilled..], self.console.range(kept..))
    }

    /// The latest `n` console lines, oldest first.
    pub fn console_tail(&self, n: usize) -> Vec<String> {
        let skip = self.console.len().saturating_sub(n);
        self.console
            .iter()
            .skip(skip)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// The latest console line, for "what is seen instead".
    pub fn last_line(&self) -> String {
        self.console
            .back()
            .map(|(_, l)| format!("last console line {l:?}"))
            .unwrap_or_else(|| "no console output".into())
    }

    /// Whether the board itself printed a line at or after `from`. A plain line wakes
    /// only waiters that read lines: wait for this with one.
    pub fn spoke_since(&self, from: usize) -> bool {
        self.spoke_at.is_some_and(|at| at >= from)
    }

    /// The running version: that of the latest version line.
    pub fn running_version(&self) -> Option<&str> {
        self.version.as_ref().map(|(_, v)| v.as_str())
    }

    /// Whether the thing holds an open connection at the gateway. In client mode the lab's
    /// broker owns the connections and none is seen: a request the thing published is
    /// the evidence that it is online.
    pub fn online_since(&self) -> Option<usize> {
        if self.seen_connection {
            self.open.last().map(|(_, at)| *at)
        } else {
            self.last_request
        }
    }

    pub fn online(&self) -> bool {
        self.online_since().is_some()
    }

    /// Healthy = booted (the latest banner came at or after `since`), a version line since
    /// that boot, and connected to the cloud since then: the cloud saw the connection after
    /// the banner, or the board, online now, printed its `connected` line after it (a serial
    /// port read later than the network, as after a USB-serial adapter re-enumerates, puts
    /// the banner after the CONNECT). The running version and the banner's index.
    pub fn healthy_since(&self, since: usize) -> Option<(String, usize)> {
        let boot = self.boot.as_ref().filter(|b| b.at >= since)?;
        let connected = self.online_since()?;
        if connected < boot.at && !boot.says_connected {
            return None;
        }
        let (at, version) = self.version.as_ref()?;
        (*at >= boot.at).then(|| (version.clone(), boot.at))
    }

    /// The latest execution state of `job` (of whichever job changed last when `None`).
    pub fn job(&self, job: Option<&str>) -> Option<&JobState> {
        let id = job.or(self.latest_job.as_deref())?;
        self.jobs.get(id)
    }

    /// Every execution this thing has had, by job.
    pub fn jobs(&self) -> impl Iterator<Item = &JobState> {
        self.jobs.values()
    }

    /// The agent is still deciding about a new image: its latest execution update is
    /// IN_PROGRESS with a `self_test` status.
    pub fn self_test_pending(&self) -> bool {
        self.job(None).is_some_and(|s| {
            s.status == ExecutionStatus::InProgress && s.status_details.contains_key("self_test")
        })
    }

    /// An update is under way: some execution is not final, or a self-test is pending.
    pub fn update_pending(&self) -> bool {
        self.jobs.values().any(|s| !s.status.is_terminal()) || self.self_test_pending()
    }

    /// The cloud answered the agent's `$next/get` at or after `from`.
    pub fn jobs_answered_since(&self, from: usize) -> bool {
        self.jobs_answered_at.is_some_and(|at| at >= from)
    }

    /// Download progress (0..=1) since `from`: from the stream service or the board's own
    /// `receive` reports (of `job`, or of any job), whichever is further.
    pub fn progress_since(&self, from: usize, job: Option<&str>) -> f64 {
        let reported = match job {
            Some(j) => self
                .reported_progress_by_job
                .get(j)
                .map_or(0.0, |s| s.since(from)),
            None => self.reported_progress.since(from),
        };
        self.stream_progress.since(from).max(reported).min(1.0)
    }

    /// The worst scheduling lag the board's simulator reported (zero: none past the bound).
    pub fn lag(&self) -> Duration {
        self.lag
    }

    /// The latest boot at or after `from` whose version is known: its version.
    pub fn booted_since(&self, from: usize) -> Option<&str> {
        let boot = self.boot.as_ref().filter(|b| b.at >= from)?;
        self.version
            .as_ref()
            .filter(|(at, _)| *at >= boot.at)
            .map(|(_, v)| v.as_str())
    }
}

/// The first console line of `lines` that matches `re`.
pub fn first_match<'a>(
    lines: impl Iterator<Item = &'a (usize, String)>,
    re: &Regex,
) -> Option<(usize, String)> {
    lines.into_iter().find(|(_, l)| re.is_match(l)).cloned()
}

#[cfg(test)]
mod tests;
