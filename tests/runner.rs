//! The runner and its reports: `otarig run`, `list` and `validate` end to end on simulated
//! boards (verdicts, attribution, guards, interrupts, seeds, reruns, a shared cloud), the
//! configuration files and their diagnostics, and the reports as data. Modules under
//! tests/runner/, helpers in tests/support/.

mod support;

#[path = "runner/bound_checks.rs"]
mod bound_checks;
#[path = "runner/config_catalog.rs"]
mod config_catalog;
#[path = "runner/config_corpus.rs"]
mod config_corpus;
#[path = "runner/config_corpus_cli.rs"]
mod config_corpus_cli;
#[path = "runner/doc_links.rs"]
mod doc_links;
#[path = "runner/readme_steps.rs"]
mod readme_steps;
#[path = "runner/report_artifacts.rs"]
mod report_artifacts;
#[path = "runner/report_flaky.rs"]
mod report_flaky;
#[path = "runner/report_index.rs"]
mod report_index;
#[path = "runner/report_junit.rs"]
mod report_junit;
#[path = "runner/report_model.rs"]
mod report_model;
#[path = "runner/report_pages_as_they_finish.rs"]
mod report_pages_as_they_finish;
#[path = "runner/report_picture.rs"]
mod report_picture;
#[path = "runner/run_cli.rs"]
mod run_cli;
#[path = "runner/run_exit_codes.rs"]
mod run_exit_codes;
#[path = "runner/run_max_fail.rs"]
mod run_max_fail;
#[path = "runner/run_retries.rs"]
mod run_retries;
#[path = "runner/run_seeds.rs"]
mod run_seeds;
#[path = "runner/run_shared_cloud.rs"]
mod run_shared_cloud;
#[path = "runner/runner_attribution.rs"]
mod runner_attribution;
#[path = "runner/runner_fail_fast.rs"]
mod runner_fail_fast;
#[path = "runner/runner_guards.rs"]
mod runner_guards;
#[path = "runner/runner_interrupt.rs"]
mod runner_interrupt;
#[path = "runner/runner_not_judged.rs"]
mod runner_not_judged;
#[path = "runner/runner_rerun.rs"]
mod runner_rerun;
#[path = "runner/runner_rollout.rs"]
mod runner_rollout;
#[path = "runner/runner_silent_board.rs"]
mod runner_silent_board;
#[path = "runner/runner_unawaited.rs"]
mod runner_unawaited;
#[path = "runner/runner_verdicts.rs"]
mod runner_verdicts;
#[path = "runner/sim_field_seed.rs"]
mod sim_field_seed;
