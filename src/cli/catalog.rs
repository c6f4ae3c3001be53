//! Bodies of `otarig validate` and `otarig list`: text and exit code, no printing, so
//! the output is testable. `config` parses and checks; this decides what the commands say.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::exit::{PASSED as OK, USAGE};
use crate::config::{
    self, bind_roles, embedded_sim_rig, load_rig, load_scenarios, validate_all, Scenario,
};

/// What a subcommand prints on stdout (`text`) and stderr (`diagnostics`), and its exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    pub text: String,
    pub diagnostics: String,
    pub code: u8,
}

/// `scenarios/` when no path is given.
pub fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    }
}

/// `firmware-fixtures/` when it exists and none is given.
pub fn default_fixtures(fixtures: Option<&Path>) -> Option<PathBuf> {
    match fixtures {
        Some(f) => Some(f.to_path_buf()),
        None => Some(PathBuf::from("firmware-fixtures")).filter(|d| d.is_dir()),
    }
}

/// `otarig validate [PATH…] [--rig FILE] [--fixtures DIR]`: exit 0 without errors
/// (warnings allowed), 2 with any.
pub fn validate(
    paths: &[PathBuf],
    rig: Option<&Path>,
    fixtures: Option<&Path>,
    bound_check: &config::BoundCheck<'_>,
) -> CommandOutput {
    let paths = default_paths(paths);
    let fixtures = default_fixtures(fixtures);
    let mut diags = validate_all(rig, &paths, fixtures.as_deref(), bound_check);
    diags.sort();
    let errors = diags.errors().count();
    let warnings = diags.warnings().count();
    let files = config::scenario_files(&paths, &mut config::Diagnostics::new()).len()
        + usize::from(rig.is_some());
    let mut text = String::new();
    if errors == 0 {
        let _ = write!(text, "ok: {files} file(s) valid");
        if warnings > 0 {
            let _ = write!(text, ", {warnings} warning(s)");
        }
        text.push('\n');
    } else {
        let _ = writeln!(
            text,
            "{errors} error(s), {warnings} warning(s) in {files} file(s)"
        );
    }
    CommandOutput {
        text,
        diagnostics: diags.to_string(),
        code: if errors == 0 { OK } else { USAGE },
    }
}

/// `otarig list [PATH…] [--rig FILE] [--filter PATTERN]`: one line per scenario
/// that matches, with its role binding on the rig (the embedded sim rig by
/// default) or why it would be skipped. Exit 2 on configuration errors.
pub fn list(paths: &[PathBuf], rig: Option<&Path>, filter: Option<&str>) -> CommandOutput {
    let paths = default_paths(paths);
    let fail = |diags: config::Diagnostics| CommandOutput {
        text: String::new(),
        diagnostics: diags.to_string(),
        code: USAGE,
    };
    let rig = match rig {
        Some(p) => match load_rig(p) {
            Ok(r) => r,
            Err(d) => return fail(d),
        },
        None => embedded_sim_rig(Path::new(".")),
    };
    let scenarios = match load_scenarios(&paths, None) {
        Ok(s) => s,
        Err(d) => return fail(d),
    };
    let shown: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| filter.is_none_or(|f| filter_matches(s, f)))
        .collect();
    let width = shown.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for s in &shown {
        let binding = match bind_roles(s, &rig) {
            Ok(map) if map.len() > 4 => format!("{} roles on {} boards", s.roles.len(), map.len()),
            Ok(map) => s
                .roles
                .iter()
                .map(|r| format!("{}={}", r.name, map[&r.name]))
                .collect::<Vec<_>>()
                .join(" "),
            Err(reason) => format!("skipped: {reason}"),
        };
        let _ = writeln!(
            text,
            "{:width$}  [{}]  {}",
            s.name,
            binding,
            first_sentence(&s.summary)
        );
    }
    let _ = writeln!(
        text,
        "{} of {} scenario(s) on rig `{}`",
        shown.len(),
        scenarios.len(),
        rig.name
    );
    CommandOutput {
        text,
        diagnostics: String::new(),
        code: OK,
    }
}

/// The summary up to its first full stop, for one-line listings.
fn first_sentence(summary: &str) -> &str {
    match summary.find(". ") {
        Some(i) => &summary[..=i],
        None => summary,
    }
}

/// `--filter`: comma-separated alternatives; `tag:NAME` matches a tag, anything
/// else matches the name as a glob (`*`, `?`), or as a substring without glob characters.
pub fn filter_matches(scenario: &Scenario, pattern: &str) -> bool {
    pattern
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| {
            if let Some(tag) = p.strip_prefix("tag:") {
                scenario.tags.iter().any(|t| t == tag)
            } else if p.contains(['*', '?']) {
                glob(p, &scenario.name)
            } else {
                scenario.name.contains(p)
            }
        })
}

/// Whether the whole name matches the glob; `[`, `]`, `{` and `}` are plain
/// characters, as scenario names never need classes or alternatives.
fn glob(pattern: &str, name: &str) -> bool {
    let escaped = pattern
        .replace('[', "[[]")
        .replace('{', "[{]")
        .replace('}', "[}]");
    globset::Glob::new(&escaped).is_ok_and(|g| g.compile_matcher().is_match(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("power-*", "power-cut-mid-download"));
        assert!(glob("*-version", "same-version"));
        assert!(!glob("*-version", "version-x"));
        assert!(glob("a?c", "abc"));
        assert!(glob("a[1]*", "a[1]-b"), "brackets are plain characters");
        assert!(glob("*{x}", "y{x}"));
        // A pattern the old recursive matcher took exponential time on.
        let name = "a".repeat(40);
        assert!(!glob(&format!("{}b", "*a".repeat(20)), &name));
    }
}
