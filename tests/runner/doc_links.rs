//! The documents stand alone: every Markdown link and every reference to a document
//! (`docs/protocol.md`, `README.md § Repeats and flaky cases`, `docs/protocol.md §6.3`) in
//! README.md, docs/, src/ and tests/ names a file of the repository, and a section that
//! file has.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::support::process::ROOT;

/// Files whose references are checked.
fn checked_files() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut files = vec![root.join("README.md")];
    for dir in ["docs", "src", "tests", "benches"] {
        walk(&root.join(dir), &mut files);
    }
    // This file names missing documents on purpose, to test the checker.
    files.retain(|f| !f.ends_with("tests/runner/doc_links.rs"));
    files
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "md" || e == "rs" || e == "c" || e == "py")
        {
            out.push(path);
        }
    }
}

/// A heading's text, without `#`s.
fn headings(md: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.push(line.trim_start_matches('#').trim().to_string());
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Whether `doc` (a Markdown file) has the section a reference names: `6.3` (a numbered
/// heading) or a heading's words (`Repeats and flaky cases`, `Modules`).
fn has_section(doc: &str, section: &str) -> bool {
    let section = section.trim().trim_end_matches(['.', ',']).to_lowercase();
    if section.is_empty() {
        return true;
    }
    headings(doc).iter().any(|h| {
        let h = h.to_lowercase();
        if section.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            let number = section.split_whitespace().next().unwrap_or_default();
            h.split_whitespace()
                .next()
                .is_some_and(|n| n.trim_end_matches('.') == number.trim_end_matches('.'))
        } else {
            h.starts_with(&section) || section.starts_with(&h)
        }
    })
}

struct Problem(String);

fn check_file(file: &Path, problems: &mut Vec<Problem>) {
    let root = Path::new(ROOT);
    let text = std::fs::read_to_string(file).unwrap();
    let rel = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    let is_md = file.extension().is_some_and(|e| e == "md");
    let md_link = Regex::new(r"\[[^\]]*\]\(([^)\s]+)\)").unwrap();
    // `docs/x.md`, `README.md`, `x.md`, optionally followed by `§ Section` or `§N.N`.
    let doc_ref =
        Regex::new(r"(?:\.\./)*([A-Za-z0-9_./-]*[A-Za-z0-9_-]+\.md)(?:\s*§\s*([0-9][0-9.]*|[A-Z][A-Za-z0-9 '/-]*))?")
            .unwrap();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{rel}:{}", n + 1);
        if is_md {
            for cap in md_link.captures_iter(line) {
                let target = &cap[1];
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target, None),
                };
                let resolved = if path.is_empty() {
                    file.to_path_buf()
                } else {
                    file.parent().unwrap().join(path)
                };
                if !resolved.exists() {
                    problems.push(Problem(format!("{at}: link to {target}: no such file")));
                    continue;
                }
                if let (Some(anchor), true) =
                    (anchor, resolved.extension().is_some_and(|e| e == "md"))
                {
                    let doc = std::fs::read_to_string(&resolved).unwrap();
                    if !headings(&doc).iter().any(|h| slug(h) == anchor) {
                        problems.push(Problem(format!(
                            "{at}: link to {target}: {} has no heading #{anchor}",
                            resolved.strip_prefix(root).unwrap_or(&resolved).display()
                        )));
                    }
                }
            }
        }
        for cap in doc_ref.captures_iter(line) {
            let name = &cap[1];
            let whole = cap.get(0).unwrap().as_str();
            // A reference from src/ or tests/ is from the repository's root; from a
            // document, also from its folder (Markdown links between docs are relative).
            let mut candidates = vec![root.join(name)];
            if whole.starts_with("../") || is_md {
                candidates.push(
                    file.parent()
                        .unwrap()
                        .join(whole.split('§').next().unwrap().trim()),
                );
            }
            let Some(found) = candidates.iter().find(|c| c.is_file()) else {
                problems.push(Problem(format!(
                    "{at}: `{name}` is not a file of the repository (name a file of docs/ by its path from the root, e.g. docs/protocol.md)"
                )));
                continue;
            };
            if let Some(section) = cap.get(2) {
                let doc = std::fs::read_to_string(found).unwrap();
                if !has_section(&doc, section.as_str()) {
                    problems.push(Problem(format!(
                        "{at}: {name} has no section `{}`",
                        section.as_str().trim()
                    )));
                }
            }
        }
    }
}

#[test]
fn every_link_and_document_reference_resolves() {
    let mut problems = Vec::new();
    let files = checked_files();
    assert!(
        files.len() > 100,
        "the walk found the sources: {}",
        files.len()
    );
    for file in &files {
        check_file(file, &mut problems);
    }
    let text: Vec<String> = problems.into_iter().map(|p| p.0).collect();
    assert!(
        text.is_empty(),
        "{} reference(s) that do not resolve:\n{}",
        text.len(),
        text.join("\n")
    );
}

#[test]
fn the_checker_finds_a_missing_file_a_missing_anchor_and_a_missing_section() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.md");
    assert!(has_section("# 1. A\n## 6.3 PIC32MZ\n", "6.3"));
    assert!(!has_section("# 1. A\n## 6.3 PIC32MZ\n", "6.2"));
    assert!(has_section(
        "## Repeats and flaky cases\n",
        "Repeats and flaky cases"
    ));
    assert!(!has_section(
        "## Repeats\n```\n# Not a heading\n```\n",
        "Not a heading"
    ));
    assert_eq!(
        slug("Fixture files (`firmware-fixtures/*.yaml`)"),
        "fixture-files-firmware-fixturesyaml"
    );
    std::fs::write(
        &file,
        "[a](nowhere.md) [b](#nope) see docs/nothing.md and README.md § No such section\n# Title\n",
    )
    .unwrap();
    let mut problems = Vec::new();
    // Checked as if it were in the repository: the paths it names are the repository's.
    check_file(&file, &mut problems);
    let text: Vec<String> = problems.into_iter().map(|p| p.0).collect();
    assert!(
        text.iter()
            .any(|p| p.contains("link to nowhere.md: no such file")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|p| p.contains("has no heading #nope")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|p| p.contains("`docs/nothing.md` is not a file")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|p| p.contains("README.md has no section `No such section`")),
        "{text:?}"
    );
}
