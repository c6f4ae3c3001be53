//! `not_console: REGEX` for a window `for: DURATION`: no console line of the board matches.

use regex::Regex;
use serde::Deserialize;

use super::parse::fields;
use super::{Check, Eval, Follow, Kind, Spec, Window};
use crate::config::CheckCx;
use crate::scenario::watch::BoardState;

pub const SPEC: Spec = Spec {
    key: "not_console",
    fields: fields::<Keys>,
    window: Window::For {
        meaning: "the window during which the line must not appear",
    },
    noun: "not_console",
    example: "`not_console: REGEX`",
    parse,
};

#[derive(Deserialize)]
struct Keys {
    not_console: String,
}

fn parse(cx: &mut CheckCx<'_, '_>) -> Option<Check> {
    let keys: Keys = cx.read()?;
    let at = cx.key("not_console");
    cx.regex(&at, &keys.not_console)
        .map(|re| Check::NotConsole(NotConsole(re)))
}

/// No console line matches during the window.
#[derive(Clone, Debug)]
pub struct NotConsole(pub Regex);

impl Kind for NotConsole {
    fn describe(&self, window: &str) -> String {
        format!("no console /{}/ for {window}", self.0)
    }

    fn follow(&self, _from: usize) -> Box<dyn Follow + '_> {
        Box::new(Following {
            regex: &self.0,
            line: None,
        })
    }
}

struct Following<'c> {
    regex: &'c Regex,
    /// The forbidden line, once seen.
    line: Option<String>,
}

impl Follow for Following<'_> {
    fn reads_console(&self) -> bool {
        true
    }

    fn take_line(&mut self, line: &str) {
        if self.line.is_none() && self.regex.is_match(line) {
            self.line = Some(line.to_string());
        }
    }

    /// Never met before the window has passed; violated by the line at once.
    fn eval(&self, _state: &BoardState) -> Eval {
        match &self.line {
            Some(line) => Eval::Violated(format!("{line:?}")),
            None => Eval::Pending("not seen".into()),
        }
    }

    fn at_deadline(&self, state: &BoardState) -> Eval {
        match self.eval(state) {
            Eval::Pending(_) => Eval::Met,
            decided => decided,
        }
    }
}
