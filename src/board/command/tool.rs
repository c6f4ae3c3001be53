//! One tool run: its own process group, a timeout, output lines as timeline events.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::board::{BoardError, PartEvents};
use crate::timeline::EventKind;

/// Lines of tool output kept for the error message when the tool fails.
const TAIL_LINES: usize = 8;

/// One run of a tool: argv, time limit, and an optional output marker of failure.
#[derive(Clone, Debug)]
pub struct ToolCommand {
    pub program: String,
    pub args: Vec<String>,
    pub timeout: Duration,
    pub failure_marker: Option<&'static str>,
}

impl ToolCommand {
    /// Runs to completion, emitting each output line as a note. A run past `timeout` is
    /// killed with its whole process group (tools such as ipecmd.sh start a JVM child).
    pub async fn run(&self, board: &str, events: &PartEvents) -> Result<(), BoardError> {
        let name = std::path::Path::new(&self.program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.clone());
        events.emit(EventKind::Note {
            text: format!("run: {} {}", self.program, self.args.join(" ")),
        });
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            BoardError::io(
                format!(
                    "board {board}: start `{}` (is it installed and on PATH? the rig may set `program:` to its full path)",
                    self.program
                ),
                e,
            )
        })?;
        let pgid = child.id().map(|id| id as i32);
        let (line_tx, mut line_rx) = mpsc::unbounded_channel::<String>();
        let out = tokio::spawn(forward_lines(child.stdout.take(), line_tx.clone()));
        let err = tokio::spawn(forward_lines(child.stderr.take(), line_tx));
        let mut tail: Vec<String> = Vec::new();
        let mut marked: Option<String> = None;
        let mut note = |line: String, tail: &mut Vec<String>| {
            if self.failure_marker.is_some_and(|m| line.contains(m)) && marked.is_none() {
                marked = Some(line.clone());
            }
            events.emit(EventKind::Note {
                text: format!("{name}: {line}"),
            });
            tail.push(line);
            if tail.len() > TAIL_LINES {
                tail.remove(0);
            }
        };
        let deadline = tokio::time::Instant::now() + self.timeout;
        // Output until both pipes close, then the exit status; all under one deadline.
        let finished = tokio::time::timeout_at(deadline, async {
            while let Some(line) = line_rx.recv().await {
                note(line, &mut tail);
            }
            child.wait().await
        })
        .await;
        let status = match finished {
            Ok(status) => status.map_err(|e| {
                BoardError::io(format!("board {board}: wait for `{}`", self.program), e)
            })?,
            Err(_) => {
                if let Some(pgid) = pgid {
                    // The process group we created for the tool.
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pgid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.kill().await;
                out.abort();
                err.abort();
                while let Ok(line) = line_rx.try_recv() {
                    note(line, &mut tail);
                }
                return Err(BoardError::ToolTimeout {
                    program: self.program.clone(),
                    secs: self.timeout.as_secs(),
                });
            }
        };
        let last = if tail.is_empty() {
            "no output".to_owned()
        } else {
            format!("last output: {}", tail.join(" | "))
        };
        if !status.success() {
            return Err(BoardError::Tool {
                program: self.program.clone(),
                message: format!("board {board}: exited with {status}; {last}"),
            });
        }
        if let Some(line) = marked {
            return Err(BoardError::Tool {
                program: self.program.clone(),
                message: format!(
                    "board {board}: reported failure (`{line}`) although it exited 0; {last}"
                ),
            });
        }
        Ok(())
    }
}

/// Sends each line of `pipe` (lossily decoded: a tool's output is for people).
async fn forward_lines(pipe: Option<impl AsyncRead + Unpin>, tx: mpsc::UnboundedSender<String>) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let _ = tx.send(line.trim_end_matches(['\r', '\n']).to_owned());
            }
        }
    }
}

/// Splits a command written as one string (`usbrelay R1_1=0`) into argv, honouring
/// single and double quotes and backslash escapes as a POSIX shell would; no expansion.
pub fn split_command(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed ' in `{text}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed \" in `{text}`")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed \" in `{text}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("trailing backslash in `{text}`")),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("empty command".into());
    }
    Ok(words)
}
