//! The command lines of the presets, built from their rows in
//! `config::flash_presets::PRESETS` (the single source of the tools' arguments).

use super::CommandFlasherOptions;
pub use crate::config::flash_presets::FlashPreset;
use crate::config::flash_presets::{select, Arg};

/// The board fields a template can name; every other placeholder (`{image}`,
/// `{script}`, `{speed}` …) has a value whenever the template is rendered.
fn field<'a>(o: &'a CommandFlasherOptions, name: &str) -> Option<Option<&'a String>> {
    match name {
        "part" => Some(o.part.as_ref()),
        "tool" => Some(o.tool.as_ref()),
        "serial" => Some(o.serial.as_ref()),
        "device" => Some(o.device.as_ref()),
        _ => None,
    }
}

fn templates(args: &[Arg], o: &CommandFlasherOptions) -> Vec<String> {
    select(args, |name| field(o, name).is_none_or(|v| v.is_some()))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

impl FlashPreset {
    /// The program run when the rig names the preset but no `program:`.
    pub fn default_program(self) -> &'static str {
        self.spec().program
    }

    /// The arguments that make the tool print its version, for `otarig doctor`.
    pub fn version_args(self) -> &'static [&'static str] {
        self.spec().version_args
    }

    pub(super) fn flash_args(self, o: &CommandFlasherOptions) -> Vec<String> {
        templates(self.spec().flash, o)
    }

    /// `None`: the tool has no reset-only operation.
    pub(super) fn reset_args(self, o: &CommandFlasherOptions) -> Option<Vec<String>> {
        self.spec().reset.map(|args| templates(args, o))
    }

    /// The command file's lines (templates), when the preset runs one: `{base}` and
    /// `{image}` decide, so the caller passes whether each placeholder has a value.
    pub(super) fn script_lines(
        self,
        flashing: bool,
        is_set: impl Fn(&str) -> bool,
    ) -> Option<Vec<&'static str>> {
        let (load, reset) = self.spec().script?;
        Some(select(if flashing { load } else { reset }, is_set))
    }

    /// Output that means failure even when the exit status says success.
    pub(super) fn failure_marker(self) -> Option<&'static str> {
        self.spec().failure_marker
    }
}
