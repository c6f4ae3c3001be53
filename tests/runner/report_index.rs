//! The run's pages from real runs: `index.html` and every page it leads to link only to
//! files (and line anchors) that exist; JUnit test case names stay the same when a run
//! binds other boards; junit.xml validates and carries its attachments.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::support::process::{describe, ROOT};
use crate::support::run::{bench_folder, otarig_run, otarig_run_in};

/// The `href`s of an HTML page, unescaped, without outside links.
fn hrefs(page: &str) -> Vec<String> {
    let re = Regex::new(r#"href="([^"]*)""#).unwrap();
    re.captures_iter(page)
        .map(|c| c[1].replace("&amp;", "&").replace("%20", " "))
        .filter(|h| !h.starts_with("http:") && !h.starts_with("https:"))
        .collect()
}

/// Checks every link of the HTML page at `page`: the file exists and, for `#anchor`,
/// the target page has that id. Follows links to other HTML pages once; `seen` gets
/// the pages visited.
fn check_links(page: &Path, seen: &mut BTreeSet<PathBuf>) {
    let page = &page.canonicalize().unwrap();
    if !seen.insert(page.clone()) {
        return;
    }
    let text = std::fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let dir = page.parent().unwrap();
    for link in hrefs(&text) {
        let (file, anchor) = match link.split_once('#') {
            Some((f, a)) => (f.to_string(), Some(a.to_string())),
            None => (link.clone(), None),
        };
        let target = if file.is_empty() {
            page.to_path_buf()
        } else {
            dir.join(&file)
        };
        assert!(
            target.is_file(),
            "{} links to {link}, which does not exist",
            page.display()
        );
        if let Some(anchor) = anchor {
            let target_text = std::fs::read_to_string(&target).unwrap();
            assert!(
                target_text.contains(&format!("id=\"{anchor}\"")),
                "{} links to {link}: no id {anchor} there",
                page.display()
            );
        }
        if target.extension().is_some_and(|e| e == "html") {
            check_links(&target, seen);
        }
    }
}

#[test]
fn a_real_runs_index_links_only_to_files_that_exist() {
    let run = otarig_run(&[
        "scenarios/greater-version.yaml",
        "tests/scenarios/buggy-firmware/same-version.yaml",
    ]);
    assert_eq!(run.out.code, Some(1), "{}", describe(&run.out));
    let index = run.latest().join("index.html");
    assert!(
        run.out.stdout.contains(&format!(
            "reports: {}",
            run.reports
                .join(run.summary_file().run.run_id)
                .join("index.html")
                .display()
        )),
        "the run prints where its index is:\n{}",
        run.out.stdout
    );
    let mut seen = BTreeSet::new();
    check_links(&index, &mut seen);
    let pages: Vec<String> = seen
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for page in ["index.html", "timeline.html"] {
        assert!(
            pages.iter().any(|p| p == page),
            "{page} not reached: {pages:?}"
        );
    }
    assert!(
        pages
            .iter()
            .filter(|p| p.ends_with(".console.html"))
            .count()
            >= 2,
        "each board's console view is reached: {pages:?}"
    );

    // Failures first, with their whole reason.
    let html = std::fs::read_to_string(&index).unwrap();
    let attention = html
        .find("Needs attention (1)")
        .expect("one case needs attention");
    let failure = html.find("recovered-by-power-cycle").unwrap();
    let passed = html.find("greater-version").unwrap();
    assert!(
        attention < failure && failure < passed,
        "the failure comes first"
    );
    let reason = run
        .summary_file()
        .cases
        .iter()
        .find_map(|c| c.message.clone())
        .unwrap();
    assert!(
        html.contains(&otarig::report::html::esc(&reason)),
        "the whole reason is on the page: {reason}"
    );

    // The timeline's marks link to the console lines they stand for.
    let timeline =
        std::fs::read_to_string(run.latest().join("same-version/timeline.html")).unwrap();
    assert!(
        Regex::new(r#"href="sim-\d+\.console\.html#L\d+""#)
            .unwrap()
            .is_match(&timeline),
        "marks link to console lines"
    );
}

#[test]
fn junit_attachments_name_files_that_exist() {
    let run = otarig_run(&["scenarios/greater-version.yaml"]);
    assert_eq!(run.out.code, Some(0), "{}", describe(&run.out));
    let xml = std::fs::read_to_string(run.latest().join("junit.xml")).unwrap();
    let attached: Vec<&str> = xml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[[ATTACHMENT|"))
        .map(|l| l.trim_end_matches("</system-out>"))
        .filter_map(|l| l.strip_suffix("]]"))
        .collect();
    assert_eq!(
        attached.len(),
        3,
        "console log, MQTT transcript, timeline:\n{xml}"
    );
    for file in attached {
        assert!(Path::new(file).is_absolute(), "{file}");
        assert!(Path::new(file).is_file(), "{file} does not exist");
    }
    assert!(
        xml.contains("## job update-v5: SUCCEEDED") && xml.contains("## verdict passed"),
        "system-out is the annotated console:\n{xml}"
    );
    super::report_junit::validate_if_xmllint(&xml);
}

/// The embedded rig with its boards renamed `sim-N` → `lab-N`, and a scenario with one
/// role pinned to a thing and one not.
fn two_rigs() -> tempfile::TempDir {
    let rig = std::fs::read_to_string(Path::new(ROOT).join("rigs/sim.yaml")).unwrap();
    let renamed = rig.replace("name: sim-", "name: lab-");
    assert_ne!(rig, renamed);
    let scenario = "name: pinned-and-free\nsummary: one role pins Thing2, the other takes any board\nboards:\n  pinned: { thing_name: Thing2 }\n  free: {}\nsteps:\n  - expect: { boards: all, version: 0.9.4, within: 30s }\n";
    bench_folder(
        true,
        &[
            ("rigs/a.yaml", &rig),
            ("rigs/b.yaml", &renamed),
            ("scenarios/pinned-and-free.yaml", scenario),
        ],
    )
}

fn case_names(xml: &str) -> Vec<String> {
    let re = Regex::new(r#"<testcase name="([^"]*)" classname="([^"]*)""#).unwrap();
    re.captures_iter(xml)
        .map(|c| format!("{} :: {}", &c[2], &c[1]))
        .collect()
}

#[test]
fn junit_names_are_the_same_whatever_boards_a_run_binds() {
    let folder = two_rigs();
    let root = folder.path().to_path_buf();
    let mut xmls = Vec::new();
    for rig in ["rigs/a.yaml", "rigs/b.yaml"] {
        let run = otarig_run_in(
            tempfile::tempdir().unwrap(),
            &root,
            &["--rig", rig, "scenarios/pinned-and-free.yaml"],
        );
        assert_eq!(run.out.code, Some(0), "{}", describe(&run.out));
        xmls.push(std::fs::read_to_string(run.latest().join("junit.xml")).unwrap());
    }
    let (a, b) = (case_names(&xmls[0]), case_names(&xmls[1]));
    assert_eq!(
        a,
        [
            "pinned-and-free :: pinned (thing Thing2)",
            "pinned-and-free :: free"
        ]
    );
    assert_eq!(a, b, "identical names across the two runs");
    // The bound board is a property, and it did differ.
    let board = |xml: &str| {
        Regex::new(r#"<property name="free.board" value="([^"]*)"/>"#)
            .unwrap()
            .captures(xml)
            .map(|c| c[1].to_string())
            .expect("free.board property")
    };
    assert!(board(&xmls[0]).starts_with("sim-"), "{}", board(&xmls[0]));
    assert!(board(&xmls[1]).starts_with("lab-"), "{}", board(&xmls[1]));
}
