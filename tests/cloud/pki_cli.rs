//! `otarig pki init` and `otarig sign`, run as the real binary in a temp dir.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use otarig::cloud::signing;

use crate::support::process::{describe, otarig, Out};

fn init(dir: &Path, extra: &[&str]) -> Out {
    let mut args = vec!["pki", "init", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    otarig(&args)
}

fn assert_ok(out: &Out) {
    assert_eq!(out.code, Some(0), "{}", describe(out));
}

/// Every file under `dir`, relative path → bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

const LAYOUT: [&str; 12] = [
    "ca.pem",
    "ca.key",
    "endpoint.pem",
    "endpoint.key",
    "codesign.pem",
    "codesign.key",
    "untrusted-codesign.pem",
    "untrusted-codesign.key",
    "things/Thing1.pem",
    "things/Thing1.key",
    "things/Thing2.pem",
    "things/Thing2.key",
];

#[test]
fn init_writes_the_documented_layout_with_private_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let out = init(
        &dir,
        &["--things", "Thing1,Thing2", "--host", "bench.local"],
    );
    assert_ok(&out);
    let stdout = &out.stdout;
    let files = snapshot(&dir);
    assert_eq!(files.len(), LAYOUT.len(), "{:?}", files.keys());
    for name in LAYOUT {
        let path = dir.join(name);
        assert!(files.contains_key(Path::new(name)), "{name} missing");
        assert!(
            stdout.contains(&format!("created  {}", path.display())),
            "{name} in:\n{stdout}"
        );
        let body = String::from_utf8_lossy(&files[Path::new(name)]);
        if name.ends_with(".key") {
            assert!(
                body.starts_with("-----BEGIN PRIVATE KEY-----"),
                "{name} is PKCS#8 PEM"
            );
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        } else {
            assert!(
                body.starts_with("-----BEGIN CERTIFICATE-----"),
                "{name} is a PEM certificate"
            );
        }
    }
}

#[test]
fn a_second_run_reuses_every_file_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_ok(&init(dir, &["--things", "Thing1,Thing2"]));
    let before = snapshot(dir);
    let out = init(dir, &["--things", "Thing1,Thing2"]);
    assert_ok(&out);
    let stdout = &out.stdout;
    assert!(!stdout.contains("created "), "{stdout}");
    assert!(
        stdout.contains(&format!("reused   {}", dir.join("ca.key").display())),
        "{stdout}"
    );
    assert_eq!(snapshot(dir), before);
}

#[test]
fn adding_a_thing_adds_only_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_ok(&init(dir, &["--things", "Thing1"]));
    let before = snapshot(dir);
    assert_ok(&init(dir, &["--things", "Thing1,Thing3"]));
    let mut after = snapshot(dir);
    let added: Vec<_> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    assert_eq!(
        added,
        [
            PathBuf::from("things/Thing3.key"),
            PathBuf::from("things/Thing3.pem")
        ]
    );
    after.retain(|k, _| before.contains_key(k));
    assert_eq!(after, before, "existing files untouched");
}

#[test]
fn a_host_the_endpoint_lacks_fails_and_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_ok(&init(dir, &[]));
    let before = snapshot(dir);
    let out = init(dir, &["--host", "10.1.2.3"]);
    assert_eq!(out.code, Some(2));
    let stderr = &out.stderr;
    assert!(
        stderr.contains("10.1.2.3")
            && stderr.contains("endpoint.pem")
            && stderr.contains("--reissue-endpoint"),
        "{stderr}"
    );
    assert_eq!(snapshot(dir), before);

    let out = init(dir, &["--host", "10.1.2.3", "--reissue-endpoint"]);
    assert_ok(&out);
    assert!(out
        .stdout
        .contains(&format!("reissued {}", dir.join("endpoint.pem").display())));
    assert_eq!(
        snapshot(dir)[Path::new("ca.pem")],
        before[Path::new("ca.pem")]
    );
}

#[test]
fn an_invalid_thing_name_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = init(tmp.path(), &["--things", "ok,not/ok"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("not/ok"), "{}", out.stderr);
}

#[test]
fn sign_prints_a_signature_that_verifies_against_codesign_pem() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_ok(&init(dir, &[]));
    let image = dir.join("image.bin");
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&image, &bytes).unwrap();
    let out = otarig(&[
        "sign",
        "--key",
        dir.join("codesign.key").to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let sig = signing::decode_signature(&out.stdout).unwrap();
    let trusted = std::fs::read_to_string(dir.join("codesign.pem")).unwrap();
    let untrusted = std::fs::read_to_string(dir.join("untrusted-codesign.pem")).unwrap();
    assert!(signing::verify_with_cert_pem(&trusted, &bytes, &sig).unwrap());
    assert!(!signing::verify_with_cert_pem(&untrusted, &bytes, &sig).unwrap());
}

#[test]
fn sign_with_bad_input_exits_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_ok(&init(dir, &[]));
    let image = dir.join("image.bin");
    std::fs::write(&image, b"abc").unwrap();
    let key = dir.join("codesign.key");
    let cases = [
        (dir.join("no-such.key"), image.clone(), "no-such.key"),
        (dir.join("codesign.pem"), image.clone(), "codesign.pem"),
        (key.clone(), dir.join("no-such.bin"), "no-such.bin"),
    ];
    for (key, file, named) in cases {
        let out = otarig(&[
            "sign",
            "--key",
            key.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        assert_eq!(out.code, Some(2), "{named}");
        assert!(out.stdout.is_empty());
        assert!(out.stderr.contains(named), "{named}: {}", out.stderr);
    }
}
