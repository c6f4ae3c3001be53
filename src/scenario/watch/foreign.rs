//! Attribution: requests on one thing's Jobs or stream topics that came from another
//! thing's connection (a board speaking for a thing that is not its own).

use std::collections::HashSet;

use crate::timeline::{Direction, Event, EventKind};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ForeignRequest {
    /// The thing of the connection that sent it (its certificate CN / client id).
    pub sender: String,
    pub client_id: String,
    /// The thing whose topic it was published on.
    pub owner: String,
    pub topic: String,
}

/// Every request that changes another thing's job executions or takes its stream (an
/// execution update, start-next, a stream's blocks or description), once per (sender,
/// owner, topic), in order. Reads of a job (get, describe) do not count: looking is not
/// speaking for another thing.
#[derive(Default)]
pub(super) struct Foreign {
    pub found: Vec<ForeignRequest>,
    seen: HashSet<ForeignRequest>,
}

impl Foreign {
    pub fn observe(&mut self, event: &Event) {
        let EventKind::Mqtt {
            thing: Some(sender),
            client_id,
            dir: Direction::In,
            packet,
            topic: Some(topic),
            ..
        } = &event.kind
        else {
            return;
        };
        if packet != "PUBLISH" {
            return;
        }
        let Some(owner) = topic
            .strip_prefix("$aws/things/")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(owner, api)| owner != sender && changes_or_takes(api))
            .map(|(owner, _)| owner)
        else {
            return;
        };
        let found = ForeignRequest {
            sender: sender.clone(),
            client_id: client_id.clone(),
            owner: owner.to_string(),
            topic: topic.clone(),
        };
        if self.seen.insert(found.clone()) {
            self.found.push(found);
        }
    }
}

/// `api` is the topic after `$aws/things/{thing}/`.
fn changes_or_takes(api: &str) -> bool {
    let jobs_write = api
        .strip_prefix("jobs/")
        .is_some_and(|rest| rest.ends_with("/update") || rest == "start-next");
    jobs_write || api.starts_with("streams/")
}
