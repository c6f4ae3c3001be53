//! A recording PAL for the agents' unit tests: every call and every console
//! line in one ordered list, with scripted results.

use crate::sim::pal::{FileContext, ImageState, Pal, PalError, PalImageState};

#[derive(Debug, Default)]
pub struct FakePal {
    pub state: Option<PalImageState>,
    /// Console lines only.
    pub lines: Vec<String>,
    /// Calls and lines interleaved, e.g. `close_file`, `set_image_state(Accepted)`.
    pub calls: Vec<String>,
    pub close_result: Option<PalError>,
    pub set_state_result: Option<PalError>,
    pub written: Vec<(u32, usize)>,
}

impl FakePal {
    pub fn pending() -> Self {
        FakePal {
            state: Some(PalImageState::PendingCommit),
            ..Default::default()
        }
    }
}

impl Pal for FakePal {
    fn platform_image_state(&mut self) -> PalImageState {
        self.state.unwrap_or(PalImageState::Valid)
    }
    fn create_file(&mut self, file: &FileContext) -> Result<(), PalError> {
        self.calls.push(format!("create_file({})", file.filesize));
        Ok(())
    }
    fn write_block(&mut self, offset: u32, data: &[u8]) -> Result<(), PalError> {
        self.written.push((offset, data.len()));
        Ok(())
    }
    fn close_file(&mut self, _file: &FileContext) -> Result<(), PalError> {
        self.calls.push("close_file".into());
        self.close_result.map_or(Ok(()), Err)
    }
    fn abort(&mut self, _file: &FileContext) -> Result<(), PalError> {
        self.calls.push("abort".into());
        Ok(())
    }
    fn set_image_state(&mut self, state: ImageState) -> Result<(), PalError> {
        self.calls.push(format!("set_image_state({state:?})"));
        self.set_state_result.map_or(Ok(()), Err)
    }
    fn log(&mut self, line: &str) {
        self.calls.push(format!("log: {line}"));
        self.lines.push(line.to_string());
    }
}
