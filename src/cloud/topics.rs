//! MQTT 3.1.1 topic names and filters (§4.7): validation and matching, plus the
//! few AWS IoT topic shapes the gateway and client mode need to recognise.
//!
//! Matching follows the standard exactly: `#` matches the parent level and
//! everything below, `+` one level, and a filter starting with a wildcard never
//! matches a topic starting with `$` (so `#` does not see `$aws/...`).

/// The longest topic or filter MQTT can encode (a u16-prefixed string).
const MAX_LEN: usize = 65_535;

/// A topic name a client may publish to: non-empty, no wildcards, no NUL.
pub fn valid_topic_name(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_LEN && !topic.contains(['+', '#', '\0'])
}

/// A topic filter a client may subscribe to: `#` only as a whole last level,
/// `+` only as a whole level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > MAX_LEN || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        if level.contains('#') && (level != "#" || !last) {
            return false;
        }
        if level.contains('+') && level != "+" {
            return false;
        }
    }
    true
}

/// Whether `topic` (a valid topic name) matches `filter` (a valid filter).
pub fn matches(filter: &str, topic: &str) -> bool {
    // §4.7.2: wildcards at the first level do not match `$` topics.
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

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
    fn hash_matches_parent_and_all_children() {
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("#", "a/b"));
        assert!(!matches("a/#", "b/a"));
    }

    #[test]
    fn plus_matches_exactly_one_level_including_empty_ones() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/+/c", "a//c"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("+/+", "/x"));
        assert!(matches("a/+", "a/"));
        assert!(!matches("a/+", "a"));
    }

    #[test]
    fn leading_wildcards_do_not_match_dollar_topics() {
        assert!(!matches("#", "$aws/things/T/jobs/notify-next"));
        assert!(!matches(
            "+/things/T/jobs/notify-next",
            "$aws/things/T/jobs/notify-next"
        ));
        assert!(matches(
            "$aws/things/+/jobs/#",
            "$aws/things/T/jobs/notify-next"
        ));
        assert!(matches("$aws/#", "$aws/things/T/jobs/x"));
    }

    #[test]
    fn literal_filters_match_only_the_same_topic() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(!matches("a/b", "a/B"));
    }

    #[test]
    fn invalid_filters_are_recognised() {
        for bad in ["", "a/#/b", "a#", "a/b+", "+a", "#/", "a\0b"] {
            assert!(!valid_filter(bad), "{bad:?} should be invalid");
        }
        for good in ["#", "+", "a/+/b/#", "/", "$aws/things/+/jobs/#", "+/+"] {
            assert!(valid_filter(good), "{good:?} should be valid");
        }
    }

    #[test]
    fn topic_names_reject_wildcards_and_empty() {
        assert!(!valid_topic_name(""));
        assert!(!valid_topic_name("a/+"));
        assert!(!valid_topic_name("a/#"));
        assert!(valid_topic_name("$aws/things/T/jobs/$next/get"));
    }

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
