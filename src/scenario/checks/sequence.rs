//! `sequence: [REGEX, …]`: console lines matching each regex, in this order.

use regex::Regex;
use serde::Deserialize;

use super::parse::fields;
use super::{Check, Eval, Follow, Kind, Spec, Window};
use crate::config::CheckCx;
use crate::scenario::watch::BoardState;

pub const SPEC: Spec = Spec {
    key: "sequence",
    fields: fields::<Keys>,
    window: Window::Within,
    noun: "sequence",
    example: "`sequence: [REGEX, …]`",
    parse,
};

#[derive(Deserialize)]
struct Keys {
    sequence: Vec<String>,
}

fn parse(cx: &mut CheckCx<'_, '_>) -> Option<Check> {
    let keys: Keys = cx.read()?;
    let at = cx.key("sequence");
    if keys.sequence.is_empty() {
        cx.error(&at, "sequence needs at least one regex");
    }
    // Every regex compiled, so each bad one is reported.
    let regexes: Vec<Option<Regex>> = keys
        .sequence
        .iter()
        .enumerate()
        .map(|(i, s)| cx.regex(&at.idx(i), s))
        .collect();
    regexes
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .map(|res| Check::Sequence(Sequence(res)))
}

/// Lines matching each regex, in this order.
#[derive(Clone, Debug)]
pub struct Sequence(pub Vec<Regex>);

impl Kind for Sequence {
    fn describe(&self, window: &str) -> String {
        let list: Vec<String> = self.0.iter().map(|r| format!("/{r}/")).collect();
        format!("console sequence {} within {window}", list.join(" → "))
    }

    fn follow(&self, _from: usize) -> Box<dyn Follow + '_> {
        Box::new(Following {
            regexes: &self.0,
            matched: 0,
        })
    }
}

struct Following<'c> {
    regexes: &'c [Regex],
    /// How many of its lines were seen, in order.
    matched: usize,
}

impl Follow for Following<'_> {
    fn reads_console(&self) -> bool {
        true
    }

    fn take_line(&mut self, line: &str) {
        if self
            .regexes
            .get(self.matched)
            .is_some_and(|re| re.is_match(line))
        {
            self.matched += 1;
        }
    }

    fn eval(&self, state: &BoardState) -> Eval {
        match self.regexes.get(self.matched) {
            None => Eval::Met,
            Some(missing) => Eval::Pending(format!(
                "{} of {} lines in order, still missing /{missing}/; {}",
                self.matched,
                self.regexes.len(),
                state.last_line()
            )),
        }
    }
}
