//! A native board's console lines as a person and an expectation see them: a firmware
//! that ends its lines with CRLF, as most embedded consoles do, on a pty that also turns
//! its `\n` into `\r\n`, gives lines without any trailing `\r`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::support::process::{command, s};

const RIG: &str = r#"
name: crlf
boards:
  - name: dut
    thing_name: Thing1
    native:
      program:
        path: /bin/sh
        args: ["-c", "printf 'hello from a CRLF firmware\\r\\n'; printf 'second line\\r\\n'; sleep 60"]
"#;

#[test]
fn crlf_console_lines_keep_no_carriage_return() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("rigs")).unwrap();
    let rig = tmp.path().join("rigs/crlf.yaml");
    std::fs::write(&rig, RIG).unwrap();
    let state = tmp.path().join("state");
    let mut child = command(&[
        "board",
        "console",
        "dut",
        "--power-on",
        "--rig",
        s(&rig),
        "--state-dir",
        s(&state),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("otarig starts");
    // Raw bytes up to each `\n`: a reader that drops `\r\n` would hide the bug.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    while lines.len() < 2 {
        let mut line = Vec::new();
        let n = out.read_until(b'\n', &mut line).unwrap();
        assert!(n > 0, "the console ended early after {lines:?}");
        lines.push(String::from_utf8_lossy(&line).into_owned());
    }
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
    assert!(
        lines[0].ends_with("] hello from a CRLF firmware\n"),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("] second line\n"), "{lines:?}");
}
