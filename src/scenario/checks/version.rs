//! `version: 0.9.4`: the board runs this version (read by its `profile.version` regex).

use serde::Deserialize;

use super::parse::fields;
use super::{Check, Eval, Follow, Kind, Spec, Window};
use crate::config::CheckCx;
use crate::scenario::watch::BoardState;

pub const SPEC: Spec = Spec {
    key: "version",
    fields: fields::<Keys>,
    window: Window::Within,
    noun: "version",
    example: "`version: 0.9.4`",
    parse,
};

#[derive(Deserialize)]
struct Keys {
    version: String,
}

fn parse(cx: &mut CheckCx<'_, '_>) -> Option<Check> {
    let keys: Keys = cx.read()?;
    Some(Check::Version(Version(keys.version)))
}

/// The running version.
#[derive(Clone, Debug)]
pub struct Version(pub String);

impl Kind for Version {
    fn describe(&self, window: &str) -> String {
        format!("running version {} within {window}", self.0)
    }

    fn follow(&self, from: usize) -> Box<dyn Follow + '_> {
        Box::new(Following {
            want: &self.0,
            from,
        })
    }
}

struct Following<'c> {
    want: &'c str,
    from: usize,
}

impl Follow for Following<'_> {
    /// Impossible once the board booted another version after the latest action with no
    /// update under way: a board expected back on 0.9.4 may pass through 0.9.5 while it
    /// self-tests, but nothing else will change its version.
    fn eval(&self, state: &BoardState) -> Eval {
        match state.running_version() {
            Some(v) if v == self.want => Eval::Met,
            Some(v) => {
                let seen = format!("running version {v}");
                match state.booted_since(self.from) {
                    Some(booted) if !state.update_pending() => Eval::Violated(format!(
                        "{seen}: the board booted {booted} and no update is under way"
                    )),
                    _ => Eval::Pending(seen),
                }
            }
            None => Eval::Pending(format!("no version line yet; {}", state.last_line())),
        }
    }
}
