//! Raw scenario → resolved [`Scenario`], reporting every problem with its position.

use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::path::Path;
use std::time::Duration;

use regex::Regex;

use super::expect_check::{job_defined, CheckCx, ExpectCheck, Regexes};
use super::locate::{Ctx, SourceFile, YamlPath};
use super::scenario::*;
use super::scenario_raw::*;
use super::values::{self, bounds, DurationBounds, Targets};
use super::Diagnostics;

const DEFAULT_OFF_FOR: Duration = Duration::from_secs(1);
const DEFAULT_BROKER_DOWN: Duration = Duration::from_secs(2);

/// Checks that a fixture named in a scenario exists (and parses, where known).
pub type FixtureCheck<'a> = &'a dyn Fn(&str) -> Result<(), String>;

/// Parses and resolves one scenario file. Every problem goes to `diags`; the
/// scenario is returned only if the file had no error.
pub fn load_file<C: ExpectCheck>(
    file: &SourceFile,
    fixtures: Option<FixtureCheck<'_>>,
    diags: &mut Diagnostics,
) -> Option<Scenario<C>> {
    let before = diags.errors().count();
    // Syntax first: with broken YAML, nothing else can be said.
    let scenario = Ctx::open(file, diags).and_then(|mut ctx| {
        let scenario = parse_and_resolve::<C>(&mut ctx, fixtures)?;
        // About the whole scenario, so only once every step resolved.
        if ctx.diags.errors().count() == before {
            for (at, message) in C::review(&scenario) {
                ctx.warning(&at, message);
            }
        }
        Some(scenario)
    });
    (diags.errors().count() == before)
        .then_some(scenario)
        .flatten()
}

/// Linear in the file's size: the text is read into an index once, each step is
/// deserialized from its own text, every position is a walk down the index.
fn parse_and_resolve<C: ExpectCheck>(
    ctx: &mut Ctx<'_>,
    fixtures: Option<FixtureCheck<'_>>,
) -> Option<Scenario<C>> {
    let text = &ctx.file.text;
    // The top level with steps left as values, then each step on its own, so an
    // error in one step does not hide the errors in the others.
    let top = match super::locate::from_str::<RawScenario<yaml_serde::Value>>(text) {
        Ok(top) => Some(top),
        Err(e) => {
            ctx.yaml_error(&e);
            None
        }
    };
    let steps_path = YamlPath::root().key("steps");
    let count = ctx.seq_len(&steps_path);
    let mut steps = Vec::with_capacity(count);
    for i in 0..count {
        match ctx.deserialize_at::<RawStep>(&steps_path.idx(i)) {
            Ok(step) => steps.push(step),
            Err(e) => {
                ctx.node_error(e);
                steps.push(None);
            }
        }
    }
    let top = top?;
    let mut r = Resolver {
        ctx,
        roles: Vec::new(),
        jobs: BTreeSet::new(),
        fixtures,
        regexes: Regexes::default(),
        check: PhantomData,
    };
    Some(r.scenario(top, steps))
}

struct Resolver<'c, 'f, 'x, C> {
    ctx: &'c mut Ctx<'f>,
    roles: Vec<String>,
    /// Job ids defined by the `job` steps seen so far.
    jobs: BTreeSet<String>,
    fixtures: Option<FixtureCheck<'x>>,
    regexes: Regexes,
    /// What each expectation's check is parsed into.
    check: PhantomData<C>,
}

impl<C: ExpectCheck> Resolver<'_, '_, '_, C> {
    fn scenario(
        &mut self,
        raw: RawScenario<yaml_serde::Value>,
        steps: Vec<Option<RawStep>>,
    ) -> Scenario<C> {
        let root = YamlPath::root();
        let file = self.ctx.file.path.clone();
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
        if stem.as_deref() != Some(raw.name.as_str()) {
            self.ctx.error(
                &root.key("name"),
                format!(
                    "scenario name `{}` differs from the file name `{}`: a scenario's name is its file stem (rename one of them)",
                    raw.name,
                    file.file_name().map(|s| s.to_string_lossy()).unwrap_or_default()
                ),
            );
        }
        let roles = self.roles(&raw.boards);
        let timeout = self.opt_duration(
            &root.key("timeout"),
            raw.timeout.as_deref(),
            bounds::SCENARIO_TIMEOUT,
        );
        if let Some(b) = &raw.baseline {
            self.fixture(&root.key("baseline"), b);
        }
        let never = raw
            .never
            .map(|g| self.guards(&root.key("never"), g.into_vec()))
            .unwrap_or_default();
        let raw_recovery = raw.recovery.unwrap_or_default();
        let recovery = Recovery {
            within: self.opt_duration(
                &root.key("recovery").key("within"),
                raw_recovery.within.as_deref(),
                bounds::RECOVERY_WITHIN,
            ),
            settle: self.opt_duration(
                &root.key("recovery").key("settle"),
                raw_recovery.settle.as_deref(),
                bounds::RECOVERY_SETTLE,
            ),
        };
        let steps_path = root.key("steps");
        let mut out = Vec::new();
        let mut lines = Vec::new();
        for (i, step) in steps.into_iter().enumerate() {
            let path = steps_path.idx(i);
            let Some(step) = step else {
                // Unparseable step: still learn a job id it defines, to avoid false "dangling" errors.
                if let Ok(Some(id)) = self
                    .ctx
                    .deserialize_at::<String>(&path.key("job").key("id"))
                {
                    self.jobs.insert(id);
                }
                continue;
            };
            let kind = step.kind();
            // `None` only with an error reported: the scenario is refused anyway.
            if let Some(resolved) = self.step(&path.key(kind), step) {
                lines.push(self.ctx.locate_nearest(&path).0);
                out.push(resolved);
            }
        }
        Scenario {
            name: raw.name,
            file,
            summary: raw.summary,
            tags: raw.tags,
            roles,
            needs: raw.needs,
            baseline: raw.baseline,
            timeout,
            steps: out,
            step_lines: lines,
            never,
            recovery,
        }
    }

    fn roles(&mut self, boards: &yaml_serde::Mapping) -> Vec<Role> {
        let path = YamlPath::root().key("boards");
        if boards.is_empty() {
            self.ctx.error(
                &path,
                "a scenario needs at least one board role, e.g. `boards: { thing1: {} }`",
            );
        }
        let mut roles = Vec::new();
        for (key, _) in boards {
            let Some(name) = key.as_str() else {
                self.ctx
                    .error(&path, format!("role names are strings, found {key:?}"));
                continue;
            };
            let rp = path.key(name);
            if name == "all" {
                self.ctx.error(
                    &rp,
                    "`all` is reserved (it means every role); choose another role name",
                );
                continue;
            }
            let req = match self.ctx.deserialize_at::<Option<RawRoleReq>>(&rp) {
                Ok(r) => r.flatten().unwrap_or_default(),
                Err(e) => {
                    self.ctx.node_error(e);
                    RawRoleReq::default()
                }
            };
            self.roles.push(name.to_string());
            roles.push(Role {
                name: name.to_string(),
                thing_name: req.thing_name,
            });
        }
        roles
    }

    fn step(&mut self, p: &YamlPath, step: RawStep) -> Option<Step<C>> {
        Some(match step {
            RawStep::Flash(f) => {
                self.fixture(&p.key("image"), &f.image);
                Step::Flash {
                    roles: self.targets(&p.key("boards"), &f.boards),
                    image: f.image,
                }
            }
            RawStep::Expect(e) => Step::Expect(self.expect(p, e)?),
            RawStep::Job(j) => Step::Job(self.job(p, j)),
            RawStep::Cancel(c) => {
                self.job_ref(&p.key("job"), &c.job);
                Step::Cancel {
                    job: c.job,
                    force: c.force,
                }
            }
            RawStep::Retry(r) => {
                self.job_ref(&p.key("job"), &r.job);
                Step::Retry {
                    roles: r.boards.as_ref().map(|t| self.targets(&p.key("boards"), t)),
                    job: r.job,
                }
            }
            RawStep::Reset(b) => Step::Reset {
                roles: self.targets(&p.key("boards"), &b.boards),
            },
            RawStep::PowerCycle(c) => Step::PowerCycle {
                roles: self.targets(&p.key("boards"), &c.boards),
                off_for: self
                    .opt_duration(&p.key("off_for"), c.off_for.as_deref(), bounds::OFF_FOR)
                    .unwrap_or(DEFAULT_OFF_FOR),
            },
            RawStep::PowerCut(c) => Step::PowerCut(self.power_cut(p, c)),
            RawStep::Kick(k) => Step::Kick {
                role: self.role(&p.key("board"), &k.board),
            },
            RawStep::Link(l) => Step::Link(self.link(p, l)),
            RawStep::BrokerRestart(b) => Step::BrokerRestart {
                down_for: self
                    .opt_duration(&p.key("down_for"), b.down_for.as_deref(), bounds::DOWN_FOR)
                    .unwrap_or(DEFAULT_BROKER_DOWN),
            },
            RawStep::Wait(w) => Step::Wait(self.duration(p, &w, bounds::WAIT).unwrap_or_default()),
            RawStep::Never(g) => Step::Never(self.guards(p, g.into_vec())),
        })
    }

    fn job(&mut self, p: &YamlPath, j: RawJob) -> JobStep {
        if !self.jobs.insert(j.id.clone()) {
            self.ctx.error(
                &p.key("id"),
                format!("job id `{}` is already used by an earlier `job` step; job ids are unique within a scenario", j.id),
            );
        }
        self.fixture(&p.key("image"), &j.image);
        if j.block_size == Some(0) {
            self.ctx
                .error(&p.key("block_size"), "block_size must be at least 1 byte");
        }
        if let Some(stream) = &j.stream {
            if !values::is_stream_id(stream) {
                self.ctx.error(
                    &p.key("stream"),
                    format!(
                        "stream `{stream}` is not a valid AWS stream id: 1 to 128 of [a-zA-Z0-9_-]"
                    ),
                );
            }
        }
        for (field, value) in [
            ("filepath", &j.filepath),
            ("certfile", &j.certfile),
            ("signature", &j.signature),
        ] {
            if value.as_deref() == Some("") {
                self.ctx.error(
                    &p.key(field),
                    format!("`{field}` is empty: leave it out for the default"),
                );
            }
        }
        // A signing key is a file next to the scenario, like any path a scenario names.
        let key = j.key.as_ref().map(|k| {
            let dir = self.ctx.file.path.parent().unwrap_or(Path::new("."));
            dir.join(k)
        });
        if let Some(k) = &key {
            if !k.is_file() {
                self.ctx.error(
                    &p.key("key"),
                    format!("signing key {} is not a file (a PEM P-256 private key, relative to the scenario file)", k.display()),
                );
            }
        }
        let controls =
            super::scenario_rollout::fleet_controls(self.ctx, p, j.rollout, j.abort, j.retry);
        JobStep {
            controls: Box::new(controls),
            targets: self.targets(&p.key("targets"), &j.targets),
            step_timeout: self.opt_duration(
                &p.key("step_timeout"),
                j.step_timeout.as_deref(),
                bounds::STEP_TIMEOUT,
            ),
            id: j.id,
            image: j.image,
            faults: j.faults,
            block_size: j.block_size,
            document: JobDocument {
                filepath: j.filepath,
                certfile: j.certfile,
                signature: j.signature,
                key,
                stream: j.stream,
            },
        }
    }

    fn power_cut(&mut self, p: &YamlPath, c: RawPowerCut) -> PowerCut {
        let role = self.role(&p.key("board"), &c.board);
        if c.of.is_some() && c.job.is_some() {
            self.ctx
                .error(&p.key("job"), "name the job once: `of: JOB_ID`");
        }
        let (job_path, job) = match (&c.of, &c.job) {
            (Some(id), _) => (p.key("of"), Some(id.clone())),
            (None, id) => (p.key("job"), id.clone()),
        };
        if let Some(id) = &job {
            self.job_ref(&job_path, id);
        }
        let at = match (&c.at_progress, &c.at_console) {
            (Some(_), Some(_)) => {
                self.ctx
                    .error(p, "power_cut takes `at_progress` or `at_console`, not both");
                CutAt::Now
            }
            (Some(pc), None) => CutAt::Progress {
                job: job.clone(),
                fraction: self.percent(&p.key("at_progress"), pc).unwrap_or(0.0),
            },
            (None, Some(re)) => self
                .regex(&p.key("at_console"), re)
                .map(CutAt::Console)
                .unwrap_or(CutAt::Now),
            (None, None) => {
                if c.job.is_some() {
                    self.ctx
                        .error(&p.key("job"), "`job` only applies with `at_progress`");
                }
                CutAt::Now
            }
        };
        PowerCut {
            role,
            at,
            off_for: self
                .opt_duration(&p.key("off_for"), c.off_for.as_deref(), bounds::OFF_FOR)
                .unwrap_or(DEFAULT_OFF_FOR),
        }
    }

    fn link(&mut self, p: &YamlPath, l: RawLink) -> Link {
        let role = self.role(&p.key("board"), &l.board);
        let mut faults = Vec::new();
        for (i, f) in l.faults.into_iter().enumerate() {
            let fp = p.key("faults").idx(i);
            let fault = match f {
                RawLinkFault::Drop(m) => self
                    .message_fault(&fp.key("drop"), m)
                    .map(|(topic, probability)| LinkFault::Drop { topic, probability }),
                RawLinkFault::Duplicate(m) => self
                    .message_fault(&fp.key("duplicate"), m)
                    .map(|(topic, probability)| LinkFault::Duplicate { topic, probability }),
                RawLinkFault::Corrupt(m) => self
                    .message_fault(&fp.key("corrupt"), m)
                    .map(|(topic, probability)| LinkFault::Corrupt { topic, probability }),
                RawLinkFault::Delay(d) => {
                    let dp = fp.key("delay");
                    let topic = self.topic(&dp.key("topic"), d.topic);
                    let by = self.duration(&dp.key("by"), &d.by, bounds::DELAY_BY);
                    let jitter = self.opt_duration(
                        &dp.key("jitter"),
                        d.jitter.as_deref(),
                        bounds::DELAY_JITTER,
                    );
                    by.map(|by| LinkFault::Delay {
                        topic,
                        by,
                        jitter: jitter.unwrap_or_default(),
                    })
                }
                RawLinkFault::Stall(s) => self
                    .duration(&fp.key("stall").key("for"), &s.for_, bounds::STALL_FOR)
                    .map(|duration| LinkFault::Stall { duration }),
            };
            faults.extend(fault);
        }
        Link {
            role,
            faults,
            seed: l.seed,
        }
    }

    fn message_fault(&mut self, p: &YamlPath, m: RawMessageFault) -> Option<(String, f64)> {
        let topic = self.topic(&p.key("topic"), m.topic);
        match values::check_probability(m.probability) {
            Ok(prob) => Some((topic, prob)),
            Err(e) => {
                self.ctx.error(&p.key("probability"), e);
                None
            }
        }
    }

    fn topic(&mut self, p: &YamlPath, topic: Option<String>) -> String {
        let topic = topic.unwrap_or_else(|| "#".to_string());
        if let Err(e) = crate::model::mqtt::check_filter(&topic) {
            self.ctx.error(p, e);
        }
        topic
    }

    /// Its boards here; its check and window by the check type, from the map's keys.
    fn expect(&mut self, p: &YamlPath, e: RawExpect) -> Option<Expect<C>> {
        let roles = match (&e.board, &e.boards) {
            (Some(b), None) => vec![self.role(&p.key("board"), b)],
            (None, Some(t)) => self.targets(&p.key("boards"), t),
            (Some(_), Some(_)) => {
                self.ctx
                    .error(p, "expect takes `board` or `boards`, not both");
                Vec::new()
            }
            (None, None) => {
                self.ctx.error(
                    p,
                    "expect needs `board: ROLE` or `boards: all | ROLE | [ROLES]`",
                );
                Vec::new()
            }
        };
        let errors_before = self.ctx.diags.errors().count();
        let keys = self.ctx.map_keys(p);
        let mut cx = CheckCx {
            ctx: &mut *self.ctx,
            at: p.clone(),
            keys,
            within: e.within,
            for_: e.for_,
            jobs: &self.jobs,
            regexes: &mut self.regexes,
        };
        let Some((check, within)) = C::parse(&mut cx) else {
            if self.ctx.diags.errors().count() == errors_before {
                // Never a step dropped in silence: that would run a scenario without it.
                self.ctx.error(
                    p,
                    "this expectation could not be read, and no reason was given (a bug in otarig: please report it)",
                );
            }
            return None;
        };
        Some(Expect {
            roles,
            check,
            within,
        })
    }

    fn guards(&mut self, p: &YamlPath, raw: Vec<RawGuard>) -> Vec<Guard> {
        // A single guard (a map) has no index in its path.
        let single = raw.len() == 1 && self.ctx.locate(&p.idx(0)).is_none();
        let mut out = Vec::new();
        for (i, g) in raw.into_iter().enumerate() {
            let gp = if single { p.clone() } else { p.idx(i) };
            let roles = match (&g.board, &g.boards) {
                (Some(b), None) => vec![self.role(&gp.key("board"), b)],
                (None, Some(t)) => self.targets(&gp.key("boards"), t),
                (Some(_), Some(_)) => {
                    self.ctx
                        .error(&gp, "a guard takes `board` or `boards`, not both");
                    continue;
                }
                (None, None) => self.roles.clone(),
            };
            if let Some(console) = self.regex(&gp.key("console"), &g.console) {
                out.push(Guard { roles, console });
            }
        }
        out
    }

    fn targets(&mut self, p: &YamlPath, t: &Targets) -> Vec<String> {
        match t {
            Targets::All => self.roles.clone(),
            Targets::Roles(roles) => {
                if roles.is_empty() {
                    self.ctx
                        .error(p, "no roles named; write `all`, a role, or a list of roles");
                }
                let single = roles.len() == 1 && self.ctx.locate(&p.idx(0)).is_none();
                roles
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let rp = if single { p.clone() } else { p.idx(i) };
                        self.role(&rp, r)
                    })
                    .collect()
            }
        }
    }

    fn role(&mut self, p: &YamlPath, role: &str) -> String {
        if !self.roles.iter().any(|r| r == role) {
            let hint = if role == "all" {
                "; `board` names one role: use `boards: all` where the step takes several"
                    .to_string()
            } else {
                format!(" (declared: {})", self.roles.join(", "))
            };
            self.ctx.error(
                p,
                format!("role `{role}` is not declared in `boards:`{hint}"),
            );
        }
        role.to_string()
    }

    fn job_ref(&mut self, p: &YamlPath, job: &str) {
        job_defined(self.ctx, &self.jobs, p, job);
    }

    fn fixture(&mut self, p: &YamlPath, name: &str) {
        if let Err(e) = super::fixture::check_name(name) {
            self.ctx.error(p, e);
            return;
        }
        if let Some(check) = self.fixtures {
            if let Err(e) = check(name) {
                self.ctx.error(p, e);
            }
        }
    }

    /// A duration within the field's bounds (`values::bounds`); the message names the
    /// field by its key.
    fn duration(&mut self, p: &YamlPath, s: &str, b: DurationBounds) -> Option<Duration> {
        values::parse_duration_in(p.field(), s, b)
            .map_err(|e| self.ctx.error(p, e))
            .ok()
    }

    fn opt_duration(
        &mut self,
        p: &YamlPath,
        s: Option<&str>,
        b: DurationBounds,
    ) -> Option<Duration> {
        s.and_then(|s| self.duration(p, s, b))
    }

    fn percent(&mut self, p: &YamlPath, s: &str) -> Option<f64> {
        values::parse_percent(s)
            .map_err(|e| self.ctx.error(p, e))
            .ok()
    }

    fn regex(&mut self, p: &YamlPath, s: &str) -> Option<Regex> {
        self.regexes
            .compile(s)
            .map_err(|e| self.ctx.error(p, e))
            .ok()
    }
}

/// The standard fixture check: `DIR/NAME.yaml` must exist.
pub fn fixture_file_exists(dir: &Path, name: &str) -> Result<(), String> {
    super::fixture::check_name(name)?;
    let file = dir.join(format!("{name}.yaml"));
    if file.is_file() {
        Ok(())
    } else {
        Err(format!(
            "firmware fixture `{name}` not found: no file {}",
            file.display()
        ))
    }
}
