//! Questions every view of a timeline asks (which thing an event is about, how far
//! a download got), answered once for the board watch and the reports alike.

use std::collections::BTreeMap;

use super::EventKind;

impl EventKind {
    /// The thing an event names: jobs, streams, and MQTT packets and
    /// connections whose thing is known.
    pub fn thing(&self) -> Option<&str> {
        match self {
            EventKind::JobExecution { thing, .. } | EventKind::StreamProgress { thing, .. } => {
                Some(thing)
            }
            EventKind::Mqtt { thing, .. } | EventKind::Connection { thing, .. } => thing.as_deref(),
            _ => None,
        }
    }

    /// [`Self::thing`], or the client id of a connection whose thing is unknown
    /// (a refused one), for views that show every connection.
    pub fn thing_or_client(&self) -> Option<&str> {
        match self {
            EventKind::Mqtt {
                thing, client_id, ..
            }
            | EventKind::Connection {
                thing, client_id, ..
            } => Some(thing.as_deref().unwrap_or(client_id)),
            other => other.thing(),
        }
    }
}

/// The download progress (0..=1) a board reported in an execution's
/// `statusDetails.receive` (`"got/total"`), when it did.
pub fn reported_progress(status_details: &BTreeMap<String, String>) -> Option<f64> {
    let (got, total) = status_details.get("receive")?.split_once('/')?;
    let got: f64 = got.trim().parse().ok()?;
    let total: f64 = total.trim().parse().ok()?;
    (total > 0.0).then_some(got / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_read_from_the_receive_detail() {
        let details = |v: &str| BTreeMap::from([("receive".to_string(), v.to_string())]);
        assert_eq!(reported_progress(&details("64/256")), Some(0.25));
        assert_eq!(reported_progress(&details(" 1 / 2 ")), Some(0.5));
        assert_eq!(reported_progress(&details("1/0")), None);
        assert_eq!(reported_progress(&details("half")), None);
        assert_eq!(reported_progress(&BTreeMap::new()), None);
    }
}
