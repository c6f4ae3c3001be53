//! `online: true | false`: the board's connection to the cloud is up (or down).

use serde::Deserialize;

use super::parse::fields;
use super::{Check, Eval, Follow, Kind, Spec, Window};
use crate::config::CheckCx;
use crate::scenario::watch::BoardState;

pub const SPEC: Spec = Spec {
    key: "online",
    fields: fields::<Keys>,
    window: Window::Within,
    noun: "online",
    example: "`online: true`",
    parse,
};

#[derive(Deserialize)]
struct Keys {
    online: bool,
}

fn parse(cx: &mut CheckCx<'_, '_>) -> Option<Check> {
    let keys: Keys = cx.read()?;
    Some(Check::Online(Online(keys.online)))
}

/// Whether the board is to be connected.
#[derive(Clone, Debug)]
pub struct Online(pub bool);

impl Kind for Online {
    fn describe(&self, window: &str) -> String {
        let state = if self.0 { "online" } else { "offline" };
        format!("{state} within {window}")
    }

    fn follow(&self, _from: usize) -> Box<dyn Follow + '_> {
        Box::new(self.clone())
    }
}

impl Follow for Online {
    fn eval(&self, state: &BoardState) -> Eval {
        match (state.online(), self.0) {
            (now, want) if now == want => Eval::Met,
            (true, _) => Eval::Pending("online".into()),
            (false, _) => Eval::Pending("offline".into()),
        }
    }
}
