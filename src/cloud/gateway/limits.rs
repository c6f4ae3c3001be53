//! AWS IoT Core's message-broker limits, and the bench's own bounds where AWS
//! documents none. Each AWS value cites its quota ("AWS IoT Core endpoints and
//! quotas", message broker and protocol limits); docs/hostile-devices.md lists
//! them with the reaction to each.

use std::time::Duration;

/// The limits one gateway enforces. `Default` is AWS IoT Core's; tests shrink
/// the time limits to keep a run short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// "Client ID size: 128 bytes." A longer one is refused (CONNACK 0x02).
    pub max_client_id: usize,
    /// "Maximum number of subscriptions per subscribe request: 8." More in one
    /// SUBSCRIBE closes the connection.
    pub max_filters_per_subscribe: usize,
    /// "Subscriptions per connection: 50." Filters past it get SUBACK 0x80.
    pub max_subscriptions: usize,
    /// "Maximum outbound unacknowledged messages: 100." Further QoS 1
    /// messages wait until the device acknowledges one.
    pub max_inflight: usize,
    /// "Topic size: 256 bytes" (UTF-8), for topic names and filters.
    pub max_topic_bytes: usize,
    /// "Maximum number of slashes in topic and topic filter: 7", not counting
    /// the `$aws/rules/<rule>/` prefix of Basic Ingest.
    pub max_topic_slashes: usize,
    /// "Keep-alive: 30–1,200 seconds". A shorter request is raised to this.
    pub keep_alive_min: Duration,
    /// A longer request, and a request of 0, get this.
    pub keep_alive_max: Duration,
    /// "Persistent session expiry period: 1 hour." An offline persistent
    /// session is forgotten after it.
    pub session_expiry: Duration,
    /// Bench bound: messages waiting for one connection beyond its in-flight
    /// window. Past it the device is a slow consumer and is disconnected.
    pub max_queued: usize,
    /// Bench bound: bytes of payload waiting for one connection (same reaction).
    pub max_queued_bytes: usize,
    /// Bench bound: a write a device does not take within this closes it.
    pub write_timeout: Duration,
    /// Bench bound: payload bytes kept for all offline persistent sessions
    /// together; further messages for offline sessions are dropped.
    pub offline_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_client_id: 128,
            max_filters_per_subscribe: 8,
            max_subscriptions: 50,
            max_inflight: 100,
            max_topic_bytes: 256,
            max_topic_slashes: 7,
            keep_alive_min: Duration::from_secs(30),
            keep_alive_max: Duration::from_secs(1200),
            session_expiry: Duration::from_secs(3600),
            max_queued: 1000,
            max_queued_bytes: 1 << 20,
            write_timeout: Duration::from_secs(10),
            offline_bytes: 8 << 20,
        }
    }
}

/// Why a topic or filter is beyond the limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicLimit {
    #[error("{len} bytes long (AWS IoT allows {max})")]
    TooLong { len: usize, max: usize },
    #[error("{slashes} slashes deep (AWS IoT allows {max})")]
    TooDeep { slashes: usize, max: usize },
}

impl Limits {
    /// The keep-alive AWS IoT applies to a CONNECT's request, in seconds.
    pub fn keep_alive(&self, requested: u16) -> Duration {
        let asked = Duration::from_secs(u64::from(requested));
        if requested == 0 || asked > self.keep_alive_max {
            self.keep_alive_max
        } else {
            asked.max(self.keep_alive_min)
        }
    }

    /// How long the gateway waits for a packet before closing: 1.5 × keep-alive,
    /// as AWS IoT and MQTT 3.1.1 §3.1.2.10 say.
    pub fn idle_timeout(&self, requested: u16) -> Duration {
        self.keep_alive(requested) * 3 / 2
    }

    /// Length and depth of a topic name or filter.
    pub fn check_topic(&self, topic: &str) -> Result<(), TopicLimit> {
        if topic.len() > self.max_topic_bytes {
            return Err(TopicLimit::TooLong {
                len: topic.len(),
                max: self.max_topic_bytes,
            });
        }
        let counted = basic_ingest_rest(topic).unwrap_or(topic);
        let slashes = counted.matches('/').count();
        if slashes > self.max_topic_slashes {
            return Err(TopicLimit::TooDeep {
                slashes,
                max: self.max_topic_slashes,
            });
        }
        Ok(())
    }
}

/// The part of a Basic Ingest topic (`$aws/rules/<rule>/rest`) after its prefix,
/// whose slashes are the only ones that count.
fn basic_ingest_rest(topic: &str) -> Option<&str> {
    let rest = topic.strip_prefix("$aws/rules/")?;
    rest.split_once('/').map(|(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_follows_aws_iot() {
        let l = Limits::default();
        assert_eq!(l.keep_alive(0), Duration::from_secs(1200));
        assert_eq!(l.keep_alive(1), Duration::from_secs(30));
        assert_eq!(l.keep_alive(29), Duration::from_secs(30));
        assert_eq!(l.keep_alive(60), Duration::from_secs(60));
        assert_eq!(l.keep_alive(1200), Duration::from_secs(1200));
        assert_eq!(l.keep_alive(1201), Duration::from_secs(1200));
        assert_eq!(l.idle_timeout(60), Duration::from_secs(90));
    }

    #[test]
    fn topics_are_bounded_in_length_and_depth() {
        let l = Limits::default();
        assert!(l
            .check_topic("$aws/things/T/streams/AFR_OTA-x/data/cbor")
            .is_ok());
        assert!(l.check_topic("a/b/c/d/e/f/g/h").is_ok()); // 7 slashes
        assert_eq!(
            l.check_topic("a/b/c/d/e/f/g/h/i"),
            Err(TopicLimit::TooDeep { slashes: 8, max: 7 })
        );
        // Basic Ingest's prefix does not count.
        assert!(l.check_topic("$aws/rules/r/a/b/c/d/e/f/g/h").is_ok());
        let long = "x".repeat(257);
        assert_eq!(
            l.check_topic(&long),
            Err(TopicLimit::TooLong { len: 257, max: 256 })
        );
        assert!(l.check_topic(&long[..256]).is_ok());
    }
}
