//! `labgrid-client`, run as a process: labgrid's stable, documented surface (the
//! coordinator's gRPC API would mean generating protobuf code for Rust and following its
//! changes). Every call gets the coordinator (`-x`) when the rig names one; the owner of
//! locks and reservations is `LG_HOSTNAME/LG_USERNAME` from the environment, as for any
//! labgrid client.

use std::process::Stdio;
use std::time::Duration;

use crate::config::labgrid::Labgrid;

use super::LabgridError;

/// labgrid-client settings from the environment that would redirect a command: an env
/// config (`LG_ENV`) makes `acquire` take the config's places instead of the one named.
const CLEARED: [&str; 5] = [
    "LG_ENV",
    "LG_PLACE",
    "LG_TOKEN",
    "LG_STATE",
    "LG_INITIAL_STATE",
];

/// How long one quick command (`places`, `acquire`, `env`, `release`…) may take.
pub const QUICK: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct Client {
    pub program: String,
    pub coordinator: Option<String>,
}

impl Client {
    pub fn new(labgrid: &Labgrid) -> Client {
        Client {
            program: labgrid.client.clone(),
            coordinator: labgrid.coordinator.clone(),
        }
    }

    fn args(&self, place: Option<&str>, args: &[&str]) -> Vec<String> {
        let mut all = Vec::new();
        if let Some(c) = &self.coordinator {
            all.extend(["-x".to_string(), c.clone()]);
        }
        if let Some(p) = place {
            all.extend(["-p".to_string(), p.to_string()]);
        }
        all.extend(args.iter().map(|a| a.to_string()));
        all
    }

    /// The command line, for messages.
    pub fn line(&self, place: Option<&str>, args: &[&str]) -> String {
        std::iter::once(self.program.clone())
            .chain(self.args(place, args))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs `labgrid-client [-x C] [-p PLACE] ARGS` to its end (killed after `within`, or
    /// when the future is dropped); its stdout, or why it failed.
    pub async fn run(
        &self,
        place: Option<&str>,
        args: &[&str],
        within: Duration,
    ) -> Result<String, LabgridError> {
        self.run_with(place, args, within, false).await
    }

    /// [`Client::run`] in a process group of its own, for a command that changes the
    /// coordinator's state (`reserve`, `acquire`): a Ctrl-C at the terminal reaches only
    /// otarig, which lets the command end and gives back what it got.
    pub async fn run_own_group(
        &self,
        place: Option<&str>,
        args: &[&str],
        within: Duration,
    ) -> Result<String, LabgridError> {
        self.run_with(place, args, within, true).await
    }

    async fn run_with(
        &self,
        place: Option<&str>,
        args: &[&str],
        within: Duration,
        own_group: bool,
    ) -> Result<String, LabgridError> {
        let line = self.line(place, args);
        let mut command = self.command(place, args);
        if own_group {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        let child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        let out = match tokio::time::timeout(within, child.wait_with_output()).await {
            Ok(out) => out.map_err(|e| LabgridError::Client {
                command: line.clone(),
                message: e.to_string(),
            })?,
            Err(_) => return Err(no_answer(line, within)),
        };
        finish(line, out)
    }

    /// [`Client::run`] without a runtime, for releasing from `Drop` and at exit.
    pub fn run_blocking(
        &self,
        place: Option<&str>,
        args: &[&str],
        within: Duration,
    ) -> Result<String, LabgridError> {
        let line = self.line(place, args);
        let child = self
            .command(place, args)
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(within) {
            Ok(Ok(out)) => finish(line, out),
            Ok(Err(e)) => Err(LabgridError::Client {
                command: line,
                message: e.to_string(),
            }),
            Err(_) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                Err(no_answer(line, within))
            }
        }
    }

    /// `labgrid-client [-x C] [-p PLACE] ARGS`, output piped, without the `LG_*`
    /// variables that would steer it elsewhere.
    fn command(&self, place: Option<&str>, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        for v in CLEARED {
            command.env_remove(v);
        }
        command
            .args(self.args(place, args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn spawn_error(&self, e: std::io::Error) -> LabgridError {
        if e.kind() == std::io::ErrorKind::NotFound {
            LabgridError::ClientMissing {
                program: self.program.clone(),
            }
        } else {
            LabgridError::Client {
                command: self.program.clone(),
                message: format!("cannot start it: {e}"),
            }
        }
    }
}

fn finish(line: String, out: std::process::Output) -> Result<String, LabgridError> {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    Err(LabgridError::Client {
        command: line,
        message: failure_text(&String::from_utf8_lossy(&out.stderr), &stdout, out.status),
    })
}

/// The line of a failed labgrid-client that says why: its `Error:` line, else the last
/// line of a Python traceback, else the exit status.
pub fn failure_text(stderr: &str, stdout: &str, status: std::process::ExitStatus) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| l.contains("Error: ") || l.starts_with("labgrid-client: "))
        .or(lines.last())
        .map(|l| l.to_string())
        .unwrap_or_else(|| format!("it exited with {status} and printed nothing"))
}

fn no_answer(command: String, within: Duration) -> LabgridError {
    LabgridError::Client {
        command,
        message: format!(
            "no answer within {} (is the coordinator reachable?)",
            humantime::format_duration(within)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn the_error_line_is_picked_from_a_traceback() {
        let status = std::process::ExitStatus::from_raw(1 << 8);
        let stderr = "Traceback (most recent call last):\n  File \"x\", line 1\nrequests.exceptions.ConnectionError: refused\n";
        assert_eq!(
            failure_text(stderr, "", status),
            "requests.exceptions.ConnectionError: refused"
        );
        let stderr = "labgrid-client: Error: place board-1 is not acquired\n";
        assert_eq!(
            failure_text(stderr, "", status),
            "labgrid-client: Error: place board-1 is not acquired"
        );
        assert!(failure_text("", "", status).contains("printed nothing"));
    }
}
