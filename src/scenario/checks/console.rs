//! `console: REGEX` and `console_literal: TEXT`: a console line of the board matches.

use regex::Regex;
use serde::Deserialize;

use super::parse::fields;
use super::{Check, Eval, Follow, Kind, Spec, Window};
use crate::config::CheckCx;
use crate::scenario::watch::BoardState;

pub const SPEC: Spec = Spec {
    key: "console",
    fields: fields::<Keys>,
    window: Window::Within,
    noun: "console",
    example: "`console: REGEX`",
    parse,
};

pub const LITERAL_SPEC: Spec = Spec {
    key: "console_literal",
    fields: fields::<LiteralKeys>,
    window: Window::Within,
    noun: "console",
    example: "`console_literal: TEXT`",
    parse: parse_literal,
};

#[derive(Deserialize)]
struct Keys {
    console: String,
}

#[derive(Deserialize)]
struct LiteralKeys {
    console_literal: String,
}

fn parse(cx: &mut CheckCx<'_, '_>) -> Option<Check> {
    let keys: Keys = cx.read()?;
    let at = cx.key("console");
    cx.regex(&at, &keys.console)
        .map(|re| Check::Console(Console(re)))
}

/// The text as an escaped regex: one check, two ways to write it.
fn parse_literal(cx: &mut CheckCx<'_, '_>) -> Option<Check> {
    let keys: LiteralKeys = cx.read()?;
    let at = cx.key("console_literal");
    cx.regex(&at, &regex::escape(&keys.console_literal))
        .map(|re| Check::Console(Console(re)))
}

/// A console line matches.
#[derive(Clone, Debug)]
pub struct Console(pub Regex);

impl Kind for Console {
    fn describe(&self, window: &str) -> String {
        format!("console /{}/ within {window}", self.0)
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
    /// The matching line.
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

    fn eval(&self, state: &BoardState) -> Eval {
        match &self.line {
            Some(_) => Eval::Met,
            None => Eval::Pending(state.last_line()),
        }
    }
}
