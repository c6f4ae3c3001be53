//! MQTT 3.1.1 as the bench speaks it: topic names and filters (§4.7),
//! validation and matching, and the message size AWS IoT Core allows.
//!
//! Matching follows the standard exactly: `#` matches the parent level and
//! everything below, `+` one level, and a filter starting with a wildcard never
//! matches a topic starting with `$` (so `#` does not see `$aws/...`).

/// AWS IoT Core's limit on a message payload (128 KiB), plus room for the topic
/// and header, so a largest-allowed stream block (128 KiB cap) still fits.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 128 * 1024 + 1024;

/// The longest topic or filter MQTT can encode (a u16-prefixed string).
const MAX_LEN: usize = 65_535;

/// A topic name a client may publish to: non-empty, no wildcards, no NUL.
pub fn valid_topic_name(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_LEN && !topic.contains(['+', '#', '\0'])
}

/// A topic filter a client may subscribe to: `#` only as a whole last level,
/// `+` only as a whole level.
pub fn valid_filter(filter: &str) -> bool {
    check_filter(filter).is_ok()
}

/// [`valid_filter`], saying what is wrong.
pub fn check_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("an empty topic filter matches nothing; use `#` for every topic".into());
    }
    if filter.len() > MAX_LEN || filter.contains('\0') {
        return Err(format!(
            "topic filter `{}` is longer than MQTT allows or contains U+0000",
            filter.escape_debug()
        ));
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        if level.contains('#') && (level != "#" || !last) {
            return Err(format!(
                "topic filter `{filter}`: `#` must be a whole level and the last one"
            ));
        }
        if level.contains('+') && level != "+" {
            return Err(format!(
                "topic filter `{filter}`: `+` must be a whole level"
            ));
        }
    }
    Ok(())
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
}
