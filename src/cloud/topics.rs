//! The few AWS IoT topic shapes the gateway and client mode need to recognise.
//! MQTT's topic grammar and matching are the vocabulary's (`model::mqtt`).

pub use crate::model::mqtt::{matches, valid_filter, valid_topic_name};

/// The thing named by a `$aws/things/{thing}/...` topic or filter.
pub fn thing_of(topic: &str) -> Option<&str> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, _) = rest.split_once('/')?;
    (!thing.is_empty()).then_some(thing)
}

/// Whether `topic` belongs to `thing`: `$aws/things/{thing}/...` and nothing else.
pub fn is_own_thing_topic(thing: &str, topic: &str) -> bool {
    thing_of(topic) == Some(thing)
}

/// Stream block topics (`$aws/things/T/streams/S/data/{fmt}`): the messages
/// that pacing spaces out.
pub fn is_stream_data(topic: &str) -> bool {
    let mut levels = topic.split('/').skip(3);
    levels.next() == Some("streams") && levels.nth(1) == Some("data")
}

/// Topics the cloud publishes (responses and pushes), as opposed to the
/// requests devices publish. Client mode sees its own replies come back through
/// its wildcard subscriptions and must not feed them to the services again.
pub fn is_cloud_reply(topic: &str) -> bool {
    let Some(thing) = thing_of(topic) else {
        return false;
    };
    let rest = &topic["$aws/things/".len() + thing.len() + 1..];
    let levels: Vec<&str> = rest.split('/').collect();
    match levels.first().copied() {
        Some("jobs") => {
            matches!(levels.last().copied(), Some("accepted" | "rejected"))
                || (levels.len() == 2 && matches!(levels[1], "notify" | "notify-next"))
        }
        // streams/{id}/{data|description|rejected}/{fmt}
        Some("streams") => matches!(
            levels.get(2).copied(),
            Some("data" | "description" | "rejected")
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thing_is_taken_from_aws_topics_only() {
        assert_eq!(thing_of("$aws/things/Thing1/jobs/get"), Some("Thing1"));
        assert_eq!(thing_of("$aws/things//jobs/get"), None);
        assert_eq!(thing_of("$aws/things/Thing1"), None);
        assert_eq!(thing_of("other/things/Thing1/x"), None);
        assert!(is_own_thing_topic("T", "$aws/things/T/streams/s/get/cbor"));
        assert!(!is_own_thing_topic(
            "T",
            "$aws/things/T2/streams/s/get/cbor"
        ));
    }

    #[test]
    fn stream_data_and_cloud_replies_are_told_from_requests() {
        assert!(is_stream_data("$aws/things/T/streams/s1/data/cbor"));
        assert!(!is_stream_data("$aws/things/T/streams/s1/get/cbor"));
        assert!(is_cloud_reply("$aws/things/T/jobs/$next/get/accepted"));
        assert!(is_cloud_reply("$aws/things/T/jobs/j1/update/rejected"));
        assert!(is_cloud_reply("$aws/things/T/jobs/notify-next"));
        assert!(is_cloud_reply("$aws/things/T/jobs/notify"));
        assert!(is_cloud_reply("$aws/things/T/streams/s/data/cbor"));
        assert!(is_cloud_reply("$aws/things/T/streams/s/rejected/json"));
        assert!(!is_cloud_reply("$aws/things/T/jobs/$next/get"));
        assert!(!is_cloud_reply("$aws/things/T/jobs/j1/update"));
        assert!(!is_cloud_reply("$aws/things/T/streams/s/get/cbor"));
        assert!(!is_cloud_reply("$aws/things/T/streams/s/describe/json"));
    }
}
