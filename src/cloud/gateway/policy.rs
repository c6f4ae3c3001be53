//! The endpoint policy: what a connection may do. `thing-scoped` follows the
//! usual AWS IoT policy pinned to `${iot:Connection.Thing.ThingName}`: the
//! client id must be the certificate's CN, and only the thing's own
//! `$aws/things/{thing}/...` topics may be used. A violation disconnects.

use super::config::Policy;
use crate::cloud::topics;

/// Why a connection was refused or closed by the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("client id `{client_id}` does not match certificate CN `{cn}` (policy thing-scoped: connect with the thing name as client id)")]
    ClientIdNotCn { client_id: String, cn: String },
    #[error("thing `{thing}` may not publish to `{topic}` (policy thing-scoped allows only $aws/things/{thing}/...)")]
    Publish { thing: String, topic: String },
    #[error("thing `{thing}` may not subscribe to `{topic}` (policy thing-scoped allows only $aws/things/{thing}/...)")]
    Subscribe { thing: String, topic: String },
}

/// The identity checked at CONNECT: the certificate CN when TLS gives one.
pub fn check_connect(policy: Policy, client_id: &str, cn: Option<&str>) -> Result<(), PolicyError> {
    match (policy, cn) {
        (Policy::ThingScoped, Some(cn)) if cn != client_id => Err(PolicyError::ClientIdNotCn {
            client_id: client_id.to_string(),
            cn: cn.to_string(),
        }),
        _ => Ok(()),
    }
}

pub fn check_publish(policy: Policy, thing: &str, topic: &str) -> Result<(), PolicyError> {
    match policy {
        Policy::ThingScoped if !topics::is_own_thing_topic(thing, topic) => {
            Err(PolicyError::Publish {
                thing: thing.to_string(),
                topic: topic.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// A filter is allowed only when its thing level is literally the thing's
/// name: `$aws/things/+/...` would read other things' traffic.
pub fn check_subscribe(policy: Policy, thing: &str, filter: &str) -> Result<(), PolicyError> {
    match policy {
        Policy::ThingScoped if !topics::is_own_thing_topic(thing, filter) => {
            Err(PolicyError::Subscribe {
                thing: thing.to_string(),
                topic: filter.to_string(),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thing_scoped_allows_only_own_topics() {
        let p = Policy::ThingScoped;
        assert!(check_publish(p, "T1", "$aws/things/T1/jobs/$next/get").is_ok());
        assert!(check_publish(p, "T1", "$aws/things/T2/jobs/$next/get").is_err());
        assert!(check_publish(p, "T1", "lab/anything").is_err());
        assert!(check_subscribe(p, "T1", "$aws/things/T1/jobs/notify-next").is_ok());
        assert!(check_subscribe(p, "T1", "$aws/things/+/jobs/notify-next").is_err());
        assert!(check_subscribe(p, "T1", "#").is_err());
    }

    #[test]
    fn permissive_allows_everything() {
        let p = Policy::Permissive;
        assert!(check_publish(p, "T1", "$aws/things/T2/jobs/$next/get").is_ok());
        assert!(check_subscribe(p, "T1", "#").is_ok());
        assert!(check_connect(p, "x", Some("T1")).is_ok());
    }

    #[test]
    fn thing_scoped_client_id_must_be_the_certificate_cn() {
        let p = Policy::ThingScoped;
        assert!(check_connect(p, "T1", Some("T1")).is_ok());
        assert!(matches!(
            check_connect(p, "T2", Some("T1")),
            Err(PolicyError::ClientIdNotCn { .. })
        ));
    }
}
