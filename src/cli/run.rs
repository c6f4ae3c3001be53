//! `otarig run`, `list`, `validate` (nextest style: paths, `--filter`, exit codes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::catalog::{self, CommandOutput, ListFormat};
use super::exit;
use super::project::{self, RigChoice};
use super::selection::{Partition, Selection};
use crate::config::{self, Diagnostics};
use crate::report::progress::Verbosity;
use crate::report::rerun::LastRun;
use crate::report::{self, PageWriter, Progress, RunEvent, RunEvents};
use crate::scenario::runner::{self, RunPlan};
use crate::scenario::schedule::Schedule;

/// The rig file `otarig board` reads by default (`run`, `list`, `validate` and `doctor`
/// use the built-in rig instead: [`RigChoice`]).
pub(super) const DEFAULT_RIG: &str = "rigs/sim.yaml";

/// `--filter`, `--exclude`, `--partition`: shared by `run` and `list`.
#[derive(Args, Clone, Debug, Default)]
pub struct SelectArgs {
    /// Run only scenarios whose name contains PATTERN (`*` matches anything; `tag:NAME`
    /// a tag; comma-separated alternatives)
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,
    /// Leave out scenarios that match PATTERN (as --filter; repeatable)
    #[arg(long, value_name = "PATTERN")]
    exclude: Vec<String>,
    /// Only shard K of N of the selected scenarios, as cargo-nextest: `hash:K/N` by a
    /// stable hash of the name, `count:K/N` by position
    #[arg(long, value_name = "KIND:K/N")]
    partition: Option<Partition>,
}

impl SelectArgs {
    fn selection(&self) -> Selection {
        Selection {
            filter: self.filter.clone(),
            exclude: self.exclude.clone(),
            partition: self.partition,
        }
    }
}

#[derive(Args)]
pub struct RunArgs {
    /// Scenario files or folders [default: scenarios/]
    paths: Vec<PathBuf>,
    /// The rig file describing the bench [default: the built-in rig of simulated boards,
    /// rigs/sim.yaml, in the project folder: the nearest with scenarios/]
    #[arg(long, value_name = "FILE")]
    rig: Option<PathBuf>,
    #[command(flatten)]
    select: SelectArgs,
    /// Scenarios run at once (on disjoint boards); those that need the most boards start
    /// first
    #[arg(long, short = 'j', default_value_t = 8)]
    jobs: usize,
    /// Run every scenario N times, one attempt after another on the same boards; a board
    /// that passes in some attempts and fails in others is flaky, a failure (exit 1)
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// With --repeat: run the attempts as independent scenarios, at once on any boards
    /// that fit (up to --jobs), instead of one after another on the same boards
    #[arg(long)]
    repeat_parallel: bool,
    /// Run a scenario try with a firmware failure (failed, bricked, recovered by power
    /// cycle) again on the same boards, up to N times; a case that passes on a retry is
    /// flaky-pass, a pass (bench errors are not retried)
    #[arg(long, default_value_t = 0, value_name = "N")]
    retries: u32,
    /// Stop starting scenarios once N scenario attempts did not pass (after their
    /// retries); running ones finish, the rest are skipped with the reason. `all`: never
    /// stop [default: all]
    #[arg(long, value_name = "N", value_parser = parse_max_fail, overrides_with_all = ["fail_fast", "no_fail_fast"])]
    max_fail: Option<MaxFail>,
    /// Stop starting scenarios after the first one that does not pass (--max-fail 1)
    #[arg(long, overrides_with_all = ["max_fail", "no_fail_fast"])]
    fail_fast: bool,
    /// Run every scenario whatever fails (the default; undoes --fail-fast and --max-fail
    /// given before it)
    #[arg(long, overrides_with_all = ["max_fail", "fail_fast"])]
    no_fail_fast: bool,
    /// Every `link` step without a `seed:` uses seed N (without it each attempt draws a
    /// fresh seed, recorded in the table, junit.xml and summary.json): replays an attempt
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Where run folders are written [default: reports/ in the project folder]
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Run only the scenarios the last run under --report-dir did not pass
    /// (from its `latest/summary.json`), after PATHs and --filter
    #[arg(long)]
    rerun_failed: bool,
    /// Where otarig keeps simulated boards, built fixtures and the PKI of a rig that
    /// names none [default: `.otarig/` beside the rig's `rigs/` folder]; a rig's own
    /// `pki:` never moves
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

/// `--max-fail`'s value: a number of failed scenario attempts, or `all` (never stop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxFail(Option<usize>);

fn parse_max_fail(text: &str) -> Result<MaxFail, String> {
    if text == "all" {
        return Ok(MaxFail(None));
    }
    match text.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!(
            "`{text}` is not a number of failures: give 1 or more, or `all` to never stop"
        )),
        Ok(n) => Ok(MaxFail(Some(n))),
    }
}

impl RunArgs {
    /// The run's schedule: the last of --max-fail, --fail-fast and --no-fail-fast wins
    /// (clap keeps only it); none of them runs everything.
    fn schedule(&self) -> Schedule {
        let max_fail = if self.no_fail_fast {
            None
        } else if self.fail_fast {
            Some(1)
        } else {
            self.max_fail.and_then(|m| m.0)
        };
        Schedule {
            repeat: self.repeat,
            repeat_parallel: self.repeat_parallel,
            retries: self.retries,
            max_fail,
        }
    }
}

#[derive(Args)]
pub struct ListArgs {
    /// Scenario files or folders [default: scenarios/]
    paths: Vec<PathBuf>,
    /// The rig to bind roles on [default: the built-in rig]
    #[arg(long, value_name = "FILE")]
    rig: Option<PathBuf>,
    #[command(flatten)]
    select: SelectArgs,
    /// `json`: the same as data for scripts (fields in docs/configuration.md § Commands)
    #[arg(long, value_enum, default_value_t)]
    format: ListFormat,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// Scenario files or folders [default: scenarios/]
    paths: Vec<PathBuf>,
    #[arg(long)]
    rig: Option<PathBuf>,
    /// Folder of firmware fixtures [default: firmware-fixtures/]
    #[arg(long)]
    fixtures: Option<PathBuf>,
}

fn print(out: CommandOutput) -> u8 {
    print!("{}", out.text);
    eprint!("{}", out.diagnostics);
    out.code
}

pub fn list(args: ListArgs) -> u8 {
    print(catalog::list(
        &args.paths,
        args.rig.as_deref(),
        &args.select.selection(),
        args.format,
    ))
}

pub fn validate(args: ValidateArgs) -> u8 {
    print(catalog::validate(
        &args.paths,
        args.rig.as_deref(),
        args.fixtures.as_deref(),
        &crate::scenario::bound_checks::check,
    ))
}

fn config_error(diags: &Diagnostics) -> u8 {
    eprint!("{diags}");
    eprintln!(
        "error: the configuration has errors (nothing was run; `otarig validate` shows the same)"
    );
    exit::USAGE
}

pub fn run(args: RunArgs, verbosity: Verbosity) -> u8 {
    // probe-rs chip names are checked against its target registry before anything runs.
    let chip_check = |chip: &str| {
        crate::board::probe::check_chip(chip)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let choice = match RigChoice::load(args.rig.as_deref(), &args.paths, Some(&chip_check)) {
        Ok(choice) => choice,
        Err(d) => return config_error(&d),
    };
    if let (Some(note), false) = (choice.note(), verbosity == Verbosity::Quiet) {
        eprintln!("{note}");
    }
    let paths = match choice.paths(&args.paths) {
        Ok(p) => p,
        Err(d) => return config_error(&d),
    };
    let report_dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| project::under(choice.builtin_root.as_deref(), "reports"));
    let mut rig = choice.rig;
    let misplaced = project::misplaced_files(&paths);
    if misplaced.has_errors() {
        return config_error(&misplaced);
    }
    let fixtures = rig.root.join("firmware-fixtures");
    let loaded = match crate::scenario::load_scenarios(&paths, Some(&fixtures)) {
        Ok(s) => s,
        Err(d) => return config_error(&d),
    };
    let select = args.select.selection();
    let mut scenarios: Vec<crate::scenario::Scenario> =
        select.apply(&loaded).into_iter().cloned().collect();
    if let Some(seed) = args.seed {
        for s in &mut scenarios {
            crate::faults::seed_unseeded_links(s, seed);
        }
    }
    if scenarios.is_empty() {
        if let (Some(p), false) = (select.partition, loaded.is_empty()) {
            // CI shards more scenarios than there are: an empty shard has nothing to do.
            super::say(format!(
                "nothing to run: shard {p} has none of the {} scenario(s) selected",
                Selection {
                    partition: None,
                    ..select.clone()
                }
                .apply(&loaded)
                .len()
            ));
            return exit::PASSED;
        }
        eprintln!(
            "error: no scenario matches: {} scenario(s) in {}{}",
            loaded.len(),
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            match select.describe() {
                d if d.is_empty() => String::new(),
                d => format!(", none selected by {d}"),
            }
        );
        return exit::USAGE;
    }
    if args.rerun_failed {
        let last = match LastRun::read(&report_dir) {
            Ok(last) => last,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        };
        scenarios.retain(|s| last.wants(&s.name));
        if scenarios.is_empty() {
            super::say(format!(
                "nothing to rerun: no selected scenario failed in run {}",
                last.run_id
            ));
            return exit::PASSED;
        }
    }
    let sim_program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find the otarig executable to run simulated boards: {e}");
            return exit::BENCH;
        }
    };
    let state_dir = rig.use_state_dir(args.state_dir.as_deref());
    // What the bound boards make wrong (a fixture without a build for a board's platform,
    // a job that would need two files) and a missing PKI stop the run here, all reported at
    // once; warnings are shown and the run goes on.
    let mut bound = Diagnostics::new();
    for s in &scenarios {
        if let Ok(binding) = config::bind_roles(s, &rig) {
            crate::scenario::bound_checks::check(&rig, s, &binding, &fixtures, &mut bound);
        }
    }
    let pki_missing = match crate::cloud::pki::prepare(&rig) {
        Ok(Some(note)) => {
            eprintln!("otarig: {note}");
            None
        }
        Ok(None) => None,
        Err(e @ crate::cloud::pki::RigPkiError::Missing { .. }) => Some(e),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BENCH;
        }
    };
    if let Some(e) = &pki_missing {
        eprintln!("error: {e}");
    }
    if bound.errors().next().is_some() {
        return config_error(&bound);
    }
    if pki_missing.is_some() {
        return exit::USAGE;
    }
    eprint!("{bound}");
    // Boards from a labgrid coordinator: locked and composed here, released when `_lease`
    // is dropped, after the reports (docs/labgrid.md).
    let _lease = match crate::labgrid::take_blocking(&mut rig, None) {
        Ok(lease) => lease,
        Err(e) => {
            eprintln!("error: {e}\n  (a bench error: no scenario ran, no firmware was judged)");
            return exit::BENCH;
        }
    };
    let run_id = run_id();
    let plan = RunPlan {
        rig,
        scenarios,
        jobs: args.jobs,
        schedule: args.schedule(),
        scenario_dir: {
            let run_dir = report::run_dir(&report_dir, &run_id);
            Box::new(move |scenario, attempt, retry| {
                report::try_dir(&run_dir, scenario, attempt, retry)
            })
        },
        run_id,
        sim_program,
        state_dir,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::BENCH;
        }
    };
    runtime.block_on(run_async(plan, &report_dir, verbosity))
}

async fn run_async(plan: RunPlan, report_dir: &Path, verbosity: Verbosity) -> u8 {
    let total = plan.scenarios.len() * plan.schedule.repeat.max(1) as usize;
    // The runner's events go to the console progress display, and each finished try to
    // the writer of its pages (docs/architecture.md § Modules).
    let progress = Arc::new(Progress::new(total, verbosity));
    let pages = Arc::new(PageWriter::start(report::run_dir(report_dir, &plan.run_id)));
    let events: RunEvents = {
        let (progress, pages) = (progress.clone(), pages.clone());
        Arc::new(move |event| {
            if let RunEvent::ScenarioFinished {
                result,
                timeline: Some(timeline),
            } = event
            {
                pages.finished(result, timeline);
            }
            progress.on_event(event)
        })
    };
    let (interrupt_tx, interrupt) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::labgrid::interrupt().await;
        progress.note("otarig: interrupted; powering boards off and writing reports (Ctrl-C again to quit at once)");
        let _ = interrupt_tx.send(true);
        // A second interrupt: the person wants out now, reports or not.
        crate::labgrid::interrupt().await;
        progress
            .note("otarig: interrupted twice; quitting without reports (boards left as they are)");
        std::process::exit(130);
    });
    let output = match runner::run(plan, events, interrupt).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("  (a bench error: the rig could not be prepared; no firmware was judged)");
            return exit::BENCH;
        }
    };
    super::say(report::table::render(&output.result));
    let written = pages.finish();
    match report::write_run_after(report_dir, &output.result, &output.timelines, written) {
        Ok(paths) => super::say(format!("reports: {}", paths.index.display())),
        Err(e) => {
            eprintln!("error: writing reports under {}: {e}", report_dir.display());
            return exit::BENCH;
        }
    }
    output.result.stats().exit_code()
}

/// Sortable and unique enough for one bench: UTC time plus the process id.
fn run_id() -> String {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let compact: String = stamp
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{}-{}", compact.replace('T', "-"), std::process::id())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn schedule(args: &[&str]) -> Result<Schedule, String> {
        let argv = std::iter::once("otarig").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.run.schedule())
            .map_err(|e| e.to_string())
    }

    fn max_fail(args: &[&str]) -> Option<usize> {
        schedule(args).unwrap().max_fail
    }

    #[test]
    fn the_last_of_max_fail_fail_fast_and_no_fail_fast_wins() {
        assert_eq!(max_fail(&[]), None, "every scenario runs by default");
        assert_eq!(max_fail(&["--fail-fast"]), Some(1));
        assert_eq!(max_fail(&["--max-fail", "3"]), Some(3));
        assert_eq!(max_fail(&["--max-fail", "all"]), None);
        assert_eq!(max_fail(&["--max-fail", "3", "--no-fail-fast"]), None);
        assert_eq!(max_fail(&["--no-fail-fast", "--max-fail", "3"]), Some(3));
        assert_eq!(max_fail(&["--fail-fast", "--no-fail-fast"]), None);
        assert_eq!(max_fail(&["--no-fail-fast", "--fail-fast"]), Some(1));
        assert_eq!(max_fail(&["--max-fail", "3", "--fail-fast"]), Some(1));
        assert_eq!(max_fail(&["--fail-fast", "--max-fail", "3"]), Some(3));
    }

    #[test]
    fn repeats_and_retries_reach_the_schedule() {
        assert_eq!(schedule(&[]).unwrap(), Schedule::default());
        assert_eq!(
            schedule(&["--repeat", "4", "--repeat-parallel", "--retries", "2"]).unwrap(),
            Schedule {
                repeat: 4,
                repeat_parallel: true,
                retries: 2,
                max_fail: None,
            }
        );
        for bad in [
            &["--max-fail", "0"][..],
            &["--max-fail", "x"],
            &["--repeat", "0"],
        ] {
            assert!(schedule(bad).is_err(), "{bad:?}");
        }
    }
}
