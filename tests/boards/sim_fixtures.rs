//! The shipped firmware fixtures: each parses strictly, builds deterministically, and
//! every fixture a shipped scenario names exists.

use std::path::Path;

use otarig::sim::fixture::{self, build, load_named};
use otarig::sim::flash::DEFAULT_BANK_SIZE;
use otarig::sim::image::decode_app;

fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(crate::support::sim::fixtures_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "yaml")
                .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_shipped_fixture_builds_twice_to_identical_bytes() {
    let key = p256::ecdsa::SigningKey::from_slice(&[11u8; 32]).unwrap();
    let names = names();
    assert!(names.len() >= 16, "{names:?}");
    for name in names {
        let f = load_named(&crate::support::sim::fixtures_dir(), &name)
            .unwrap_or_else(|d| panic!("{d}"));
        let a = build(&f, &key, DEFAULT_BANK_SIZE).unwrap();
        let b = build(&f, &key, DEFAULT_BANK_SIZE).unwrap();
        assert!(a == b, "{name} is not deterministic");
        if let Some(p) = &a.personality {
            let (maj, min, bld) = f.version;
            assert_eq!(
                p.version.to_string(),
                format!("{maj}.{min}.{bld}"),
                "{name}"
            );
            assert_eq!(&decode_app(&a.ota[24..]).unwrap(), p, "{name}");
        }
    }
}

#[test]
fn build_to_dir_writes_the_same_files_twice() {
    let root = tempfile::tempdir().unwrap();
    crate::support::sim::pki(&root.path().join("pki"));
    let out = root.path().join("out");
    let (_, p1) = fixture::build_to_dir(
        &crate::support::sim::fixtures_dir(),
        "app-v5",
        &root.path().join("pki"),
        &out,
    )
    .unwrap();
    let first = (
        std::fs::read(&p1.ota).unwrap(),
        std::fs::read(&p1.factory).unwrap(),
    );
    let (_, p2) = fixture::build_to_dir(
        &crate::support::sim::fixtures_dir(),
        "app-v5",
        &root.path().join("pki"),
        &out,
    )
    .unwrap();
    assert_eq!(p1, p2);
    assert_eq!(
        first,
        (
            std::fs::read(&p2.ota).unwrap(),
            std::fs::read(&p2.factory).unwrap()
        )
    );
    assert_eq!(first.1.len() as u32, 2 * DEFAULT_BANK_SIZE + 16);
}

#[test]
fn a_missing_codesign_key_names_the_file() {
    let root = tempfile::tempdir().unwrap();
    let err = fixture::build_to_dir(
        &crate::support::sim::fixtures_dir(),
        "app-v5",
        root.path(),
        root.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("codesign.key"), "{err}");
}

#[test]
fn every_fixture_a_shipped_scenario_names_exists() {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let re = regex::Regex::new(r"(?:image|baseline):\s*([A-Za-z0-9_.-]+)").unwrap();
    let known = names();
    for entry in std::fs::read_dir(scenarios).unwrap() {
        let path = entry.unwrap().path();
        let text: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| l.split(" #").next().unwrap_or("").to_string() + "\n")
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        for c in re.captures_iter(&text) {
            assert!(
                known.contains(&c[1].to_string()),
                "{}: fixture `{}` is not shipped",
                path.display(),
                &c[1]
            );
        }
    }
}
