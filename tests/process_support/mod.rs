//! The `otarig` binary as the tests run it: a command in a folder, and what it did, for
//! assertion messages.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `otarig ARGS…` in `cwd` to the end.
pub fn otarig(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otarig"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("otarig runs")
}

/// Exit code, stdout and stderr, for a failed assertion.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
