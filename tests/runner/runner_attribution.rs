//! Attribution: a board whose image carries another thing's name and answers that
//! thing's job from its own connection fails, and so does the board it spoke for, with a
//! reason that names both, under the permissive policy of the field report. The real
//! binary on the embedded simulated rig.

use crate::support::process::describe;
use crate::support::run::run_scenario;

const SCENARIO: &str = r#"name: speaks-for-thing2
summary: Thing1's board runs an image built for Thing2; a job for Thing2 alone is answered by both boards.
recovery: { settle: 1s }
boards:
  thing1: { thing_name: Thing1 }
  thing2: { thing_name: Thing2 }
steps:
  - flash: { boards: thing1, image: app-v5-built-for-thing2 }
  - job: { id: update-thing2, image: app-v5, targets: thing2 }
  - expect: { board: thing2, job: SUCCEEDED, within: 10s }
"#;

#[test]
fn a_board_answering_another_things_job_fails_with_both_named() {
    let run = run_scenario(SCENARIO);
    assert_eq!(run.out.code, Some(1), "{}", describe(&run.out));
    let summary = run.summary;
    let boards = summary["scenarios"][0]["boards"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(boards.len(), 2, "{summary}");
    for b in boards {
        assert_eq!(b["verdict"], "failed", "{b}");
        let message = b["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("from the connection of thing Thing1 (board sim-1)")
                && message.contains("not by thing Thing2 (board sim-2)"),
            "{message}"
        );
    }
}
