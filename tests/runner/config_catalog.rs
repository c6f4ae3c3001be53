//! The shipped configuration parses: every rig under rigs/ and every scenario under scenarios/.

use std::path::{Path, PathBuf};

use otarig::cli::catalog::ListFormat;
use otarig::cli::selection::Selection;
use otarig::config::{bind_roles, embedded_sim_rig, load_rig};
use otarig::scenario::load_scenarios;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn embedded_sim_rig_has_21_sim_boards_with_thing_names() {
    let rig = load_rig(&repo("rigs/sim.yaml")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(rig.boards.len(), 21);
    assert_eq!(rig.boards[0].name, "sim-1");
    assert_eq!(rig.boards[20].thing_name, "Thing21");
    assert_eq!(rig.baseline.as_deref(), Some("app-v4"));
    let b = &rig.boards[0];
    assert!(b
        .profile
        .banner
        .is_match("otarig-sim app version 0.9.4 (thing Thing1)"));
    let caps = b
        .profile
        .version
        .captures("otarig-sim app version 0.9.4 (thing Thing1)")
        .unwrap();
    assert_eq!(&caps["version"], "0.9.4");
    assert!(b.can_power_cycle());
    let embedded = embedded_sim_rig(Path::new("/tmp/x"));
    assert_eq!(embedded.boards.len(), 21);
    assert_eq!(embedded.cloud.pki, Path::new("/tmp/x/.otarig/pki"));
}

#[test]
fn every_shipped_rig_loads_and_its_presets_serve_its_boards() {
    let mut rigs: Vec<PathBuf> = std::fs::read_dir(repo("rigs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    rigs.sort();
    assert!(rigs.len() >= 4, "{rigs:?}");
    for rig in rigs {
        load_rig(&rig).unwrap_or_else(|d| panic!("{}: {d}", rig.display()));
    }
}

#[test]
fn every_shipped_scenario_is_valid_and_binds_on_the_sim_rig() {
    let dir = repo("scenarios");
    let fixtures = repo("firmware-fixtures");
    let has_fixtures = std::fs::read_dir(&fixtures).is_ok_and(|mut d| d.next().is_some());
    let scenarios = load_scenarios(&[dir], has_fixtures.then_some(fixtures.as_path()))
        .unwrap_or_else(|d| panic!("{d}"));
    let rig = embedded_sim_rig(Path::new(env!("CARGO_MANIFEST_DIR")));
    for s in &scenarios {
        bind_roles(s, &rig).unwrap_or_else(|r| panic!("{}: {r}", s.name));
    }
}

#[test]
fn list_shows_bindings_and_filters_by_glob_and_tag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pair.yaml"),
        "name: pair\nsummary: Two boards. More text.\ntags: [field]\nboards: { a: {}, b: { thing_name: Thing3 } }\nsteps: [ { wait: 1s } ]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("huge.yaml"),
        format!(
            "name: huge\nboards: {{ {} }}\nsteps: [ {{ wait: 1s }} ]\n",
            (0..22)
                .map(|i| format!("r{i}: {{}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .unwrap();
    let paths = [dir.path().to_path_buf()];
    let out = otarig::cli::catalog::list(&paths, None, &Selection::default(), ListFormat::Human);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.text.contains("pair  [a=sim-1 b=sim-3]  Two boards."),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains("huge  [skipped: needs 22 boards, the rig has 21]"),
        "{}",
        out.text
    );
    let out = otarig::cli::catalog::list(
        &paths,
        None,
        &Selection::filter("tag:field"),
        ListFormat::Human,
    );
    assert!(
        out.text.contains("pair") && !out.text.contains("huge"),
        "{}",
        out.text
    );
    let out =
        otarig::cli::catalog::list(&paths, None, &Selection::filter("h*e"), ListFormat::Human);
    assert!(
        !out.text.contains("pair") && out.text.contains("huge"),
        "{}",
        out.text
    );
    let bad = otarig::cli::catalog::list(
        &[repo("tests/corpus/bad-regex.yaml")],
        None,
        &Selection::default(),
        ListFormat::Human,
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.diagnostics.contains("bad-regex.yaml:7:16: error:"),
        "{bad:?}"
    );
}
