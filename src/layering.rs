//! The module graph, checked (docs/architecture.md § Modules): every `crate::…` path in
//! `src/` is an arrow from the top-level module of its file to the top-level module it
//! names, and every arrow must be one the layering allows. The allowed graph has no
//! cycle, so the code has none either. Plain text matching, no parser: a path in a
//! `//` comment does not count; one in a string would (none is).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Who may import whom: each top-level module and the modules it may name. `config`
/// (the parsed rig, scenario and fixture files) and `model` (the vocabulary) are leaves
/// every layer may read; nothing else is allowed, in particular no arrow upwards.
const ALLOWED: &[(&str, &[&str])] = &[
    // The composition root: wires the runner to the reports, runs the other commands.
    (
        "cli",
        &[
            "scenario", "report", "faults", "cloud", "board", "sim", "labgrid", "timeline",
            "config", "model",
        ],
    ),
    // The runner: drives the cloud, the boards and the faults; hands results to the
    // reports through `report::model` and `report::events` only (see NARROW).
    (
        "scenario",
        &[
            "faults", "cloud", "board", "sim", "report", "timeline", "config", "model",
        ],
    ),
    // A scenario's link steps made into the faults the gateway applies (cloud owns those).
    ("faults", &["cloud", "timeline", "config", "model"]),
    // The simulated board: a board (it plugs into `board`'s parts), built and run by others.
    ("sim", &["board", "timeline", "config", "model"]),
    ("cloud", &["timeline", "config", "model"]),
    ("board", &["timeline", "config", "model"]),
    // Boards from a labgrid coordinator: rig boards composed from locked places, for the CLI.
    ("labgrid", &["config", "model"]),
    // Views of the timeline and the results; never calls back into the runner or the CLI.
    ("report", &["timeline", "config", "model"]),
    ("timeline", &["config", "model"]),
    ("config", &["model"]),
    ("model", &[]),
];

/// Arrows allowed only into some submodules of their target: the runner sees the
/// reports' data and event contract, never a concrete display or file layout.
const NARROW: &[(&str, &str, &[&str])] = &[("scenario", "report", &["model", "events"])];

/// One `crate::` path: where it is, the module it is in, and the first two segments.
#[derive(Debug)]
struct Use {
    file: PathBuf,
    line: usize,
    from: String,
    to: String,
    sub: Option<String>,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/cloud/gateway/io.rs` → `cloud`,
/// `src/model.rs` → `model`); `None` for `lib.rs`, `main.rs` and this file.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_str()?;
    if parts.next().is_some() {
        Some(first.to_string())
    } else {
        let stem = first.strip_suffix(".rs")?;
        // The crate root, the binary, and this checker (whose tests spell paths out).
        (!matches!(stem, "lib" | "main" | "layering")).then(|| stem.to_string())
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Skips whitespace from `i`.
fn skip_ws(s: &[char], mut i: usize) -> usize {
    while i < s.len() && s[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Parses a use tree at `i` (`a::b`, `a::{b, c::d}`, `{a, b}`, `self`, `*`), returning the
/// paths it names as segments with their offsets, and where it ends. In an expression
/// (`crate::a::f(x)`) it stops at the first character that is not part of a path.
fn use_tree(s: &[char], i: usize) -> (Vec<Vec<(String, usize)>>, usize) {
    let i = skip_ws(s, i);
    if i < s.len() && s[i] == '{' {
        let mut paths = Vec::new();
        let mut j = i + 1;
        loop {
            j = skip_ws(s, j);
            if j >= s.len() {
                return (paths, j);
            }
            if s[j] == '}' {
                return (paths, j + 1);
            }
            if s[j] == ',' {
                j += 1;
                continue;
            }
            let (sub, end) = use_tree(s, j);
            if end == j {
                // Not a path (a stray character): step over it.
                j += 1;
            } else {
                paths.extend(sub);
                j = end;
            }
        }
    }
    let start = i;
    let mut j = i;
    while j < s.len() && (is_ident(s[j]) || s[j] == '*') {
        j += 1;
    }
    if j == start {
        return (Vec::new(), i);
    }
    let name: String = s[start..j].iter().collect();
    // `name as alias`
    let k = skip_ws(s, j);
    if s[k..].starts_with(&['a', 's']) && s.get(k + 2).is_some_and(|c| c.is_whitespace()) {
        let mut m = skip_ws(s, k + 2);
        while m < s.len() && is_ident(s[m]) {
            m += 1;
        }
        return (vec![vec![(name, start)]], m);
    }
    if s[j..].starts_with(&[':', ':']) {
        let (rest, end) = use_tree(s, j + 2);
        if rest.is_empty() {
            return (vec![vec![(name, start)]], end);
        }
        let paths = rest
            .into_iter()
            .map(|mut p| {
                p.insert(0, (name.clone(), start));
                p
            })
            .collect();
        return (paths, end);
    }
    (vec![vec![(name, start)]], j)
}

/// Every `crate::` path of a file, as (offset, segments), outside `//` comments.
fn crate_paths(text: &str) -> Vec<(usize, Vec<String>)> {
    // Comments become spaces, so offsets (and line numbers) stay as in the file.
    let mut code = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let cut = comment_start(body).unwrap_or(body.len());
        code.push_str(&body[..cut]);
        code.extend(std::iter::repeat_n(' ', body[cut..].chars().count()));
        if line.ends_with('\n') {
            code.push('\n');
        }
    }
    let chars: Vec<char> = code.chars().collect();
    let needle: Vec<char> = "crate::".chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i + needle.len() <= chars.len() {
        let before_ok = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == '$');
        if before_ok && chars[i..].starts_with(&needle) {
            let (paths, end) = use_tree(&chars, i + needle.len());
            for p in paths {
                let at = p.first().map(|(_, o)| *o).unwrap_or(i);
                found.push((at, p.into_iter().map(|(n, _)| n).collect()));
            }
            i = end.max(i + needle.len());
        } else {
            i += 1;
        }
    }
    found
}

/// Where a `//` comment starts on a line, outside a string literal.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'/' if !in_str && bytes[i + 1] == b'/' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn line_of(chars_before: &str) -> usize {
    chars_before.matches('\n').count() + 1
}

/// Every arrow between top-level modules in `src/`.
fn uses(src: &Path) -> Vec<Use> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut all = Vec::new();
    for file in files {
        let Some(from) = module_of(src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let chars: Vec<char> = text.chars().collect();
        for (at, segments) in crate_paths(&text) {
            let Some(to) = segments.first() else { continue };
            if *to == from || *to == "self" {
                continue;
            }
            let before: String = chars[..at].iter().collect();
            all.push(Use {
                file: file.clone(),
                line: line_of(&before),
                from: from.clone(),
                to: to.clone(),
                sub: segments.get(1).cloned(),
            });
        }
    }
    all
}

/// What is wrong with one arrow, if anything.
fn violation(u: &Use) -> Option<String> {
    let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == u.from) else {
        return Some(format!(
            "module `{}` is not in the layering (src/layering.rs ALLOWED)",
            u.from
        ));
    };
    if !allowed.contains(&u.to.as_str()) {
        let why = if reaches(&u.to, &u.from) {
            "an upward arrow (makes a cycle)"
        } else {
            "an arrow the layering does not allow"
        };
        return Some(format!("`{}` → `{}`: {why}", u.from, u.to));
    }
    if let Some((_, _, subs)) = NARROW.iter().find(|(f, t, _)| *f == u.from && *t == u.to) {
        let sub = u.sub.as_deref().unwrap_or("");
        if !subs.contains(&sub) {
            return Some(format!(
                "`{}` may use `{}` only through {}, not `{}::{sub}`",
                u.from,
                u.to,
                subs.iter()
                    .map(|s| format!("`{}::{s}`", u.to))
                    .collect::<Vec<_>>()
                    .join(", "),
                u.to
            ));
        }
    }
    None
}

/// Whether the allowed graph leads from `a` to `b`.
fn reaches(a: &str, b: &str) -> bool {
    let graph: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut stack = vec![a];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(m) = stack.pop() {
        if m == b {
            return true;
        }
        if seen.insert(m) {
            stack.extend(graph.get(m).copied().unwrap_or_default().iter().copied());
        }
    }
    false
}

#[test]
fn the_allowed_graph_has_no_cycle() {
    for (from, tos) in ALLOWED {
        for to in *tos {
            assert!(
                !reaches(to, from),
                "the allowed graph has a cycle through `{from}` → `{to}`"
            );
        }
    }
}

#[test]
fn every_import_follows_the_layering() {
    let src = src_dir();
    let all = uses(&src);
    assert!(
        all.iter().any(|u| u.from == "cli" && u.to == "scenario"),
        "the scan found no `cli` → `scenario` arrow: the checker is broken"
    );
    let mut bad: Vec<String> = all
        .iter()
        .filter_map(|u| {
            violation(u).map(|why| {
                let file = u
                    .file
                    .strip_prefix(src.parent().unwrap())
                    .unwrap_or(&u.file);
                format!("{}:{}: {why}", file.display(), u.line)
            })
        })
        .collect();
    bad.dedup();
    assert!(
        bad.is_empty(),
        "imports against the layering (docs/architecture.md § Modules):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scanner_reads_grouped_aliased_and_expression_paths() {
    let text = "use crate::a::{b::C, self, d as e};\n// crate::z::no\nlet x = crate::f::g(1);\n\
                use crate::{h::{i, j}, k};\nlet s = \"//\"; crate::l::m;\n$crate::n::o;\n";
    let got: Vec<Vec<String>> = crate_paths(text).into_iter().map(|(_, p)| p).collect();
    let want: Vec<Vec<&str>> = vec![
        vec!["a", "b", "C"],
        vec!["a", "self"],
        vec!["a", "d"],
        vec!["f", "g"],
        vec!["h", "i"],
        vec!["h", "j"],
        vec!["k"],
        vec!["l", "m"],
    ];
    assert_eq!(got, want);
}
