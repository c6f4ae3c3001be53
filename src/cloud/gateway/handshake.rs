//! From an accepted socket to an admitted client: the first packet must be a
//! well-formed CONNECT within the connect timeout, and the CONNECT must pass
//! AWS IoT's checks (protocol level, client id, policy, Last Will) before the
//! connection joins the broker.

use std::net::SocketAddr;

use rumqttc::mqttbytes::v4::{ConnAck, Connect, ConnectReturnCode, Packet};
use rumqttc::mqttbytes::{Error as CodecError, Protocol};
use tokio::io::{AsyncRead, AsyncWrite};

use super::io::{FrameError, Io, ReadError};
use super::limits::Limits;
use super::policy;
use super::session::Shared;
use super::transcript::{packet_name, Who};
use super::untrusted::escaped;
use super::Policy;
use crate::cloud::topics;
use crate::timeline::Direction;

/// Why a CONNECT was refused, and the CONNACK code it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: ConnectReturnCode,
    pub why: String,
}

fn refusal(code: ConnectReturnCode, why: impl Into<String>) -> Refusal {
    Refusal {
        code,
        why: why.into(),
    }
}

/// AWS IoT's checks on a decoded CONNECT; `cn` is the client certificate's.
pub(crate) fn admit(
    connect: &Connect,
    cn: Option<&str>,
    policy: Policy,
    limits: &Limits,
) -> Result<(), Refusal> {
    use ConnectReturnCode::*;
    if connect.protocol != Protocol::V4 {
        return Err(refusal(
            RefusedProtocolVersion,
            "MQTT 5 is not supported; use 3.1.1",
        ));
    }
    let id = &connect.client_id;
    if id.is_empty() && !connect.clean_session {
        return Err(refusal(
            BadClientId,
            "empty client id with a persistent session",
        ));
    }
    if id.len() > limits.max_client_id {
        return Err(refusal(
            BadClientId,
            format!(
                "client id of {} bytes (AWS IoT allows {})",
                id.len(),
                limits.max_client_id
            ),
        ));
    }
    policy::check_connect(policy, id, cn).map_err(|e| refusal(NotAuthorized, e.to_string()))?;
    if let Some(will) = &connect.last_will {
        // AWS IoT authorises the will's topic at CONNECT, as a publish by this
        // thing: a will may not reach where the thing could not publish.
        let thing = cn.unwrap_or(id);
        let why = if !topics::valid_topic_name(&will.topic) {
            Some("is not a valid topic name".to_string())
        } else if let Err(e) = limits.check_topic(&will.topic) {
            Some(format!("is {e}"))
        } else if let Err(e) = policy::check_publish(policy, thing, &will.topic) {
            Some(format!("is not allowed: {e}"))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(refusal(
                NotAuthorized,
                format!("Last Will topic `{}` {why}", will.topic),
            ));
        }
    }
    Ok(())
}

/// Reads and checks the CONNECT. `None` when the connection was refused (the
/// refusal is logged, recorded and, where MQTT allows, answered).
pub(crate) async fn handshake<S>(
    io: &mut Io<S>,
    peer: SocketAddr,
    who: &mut Who,
    shared: &Shared,
) -> Option<Connect>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let first = tokio::time::timeout(shared.cfg.connect_timeout, io.read_packet()).await;
    let connect = match first {
        Ok(Ok(Packet::Connect(c))) => c,
        Ok(Ok(other)) => {
            let why = format!(
                "first packet from {peer} was {} instead of CONNECT",
                packet_name(&other)
            );
            return refuse(shared, who, why);
        }
        Ok(Err(ReadError::Frame(FrameError::Codec(
            CodecError::InvalidProtocol | CodecError::InvalidProtocolLevel(_),
        )))) => {
            let ack = Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::RefusedProtocolVersion,
                false,
            ));
            let _ = io.write(&ack).await;
            let why = format!("{peer} asked for an MQTT version other than 3.1.1");
            return refuse(shared, who, why);
        }
        Ok(Err(e)) => return refuse(shared, who, format!("bad CONNECT from {peer}: {e}")),
        Err(_) => {
            let why = format!(
                "no CONNECT from {peer} within {:?}",
                shared.cfg.connect_timeout
            );
            return refuse(shared, who, why);
        }
    };
    who.client_id = connect.client_id.clone();
    shared
        .transcript
        .packet(who, Direction::In, &Packet::Connect(connect.clone()));
    let cn = who.thing.clone();
    if let Err(r) = admit(
        &connect,
        cn.as_deref(),
        shared.cfg.policy,
        &shared.cfg.limits,
    ) {
        let ack = Packet::ConnAck(ConnAck::new(r.code, false));
        shared.transcript.packet(who, Direction::Out, &ack);
        let _ = io.write(&ack).await;
        return refuse(shared, who, r.why);
    }
    Some(connect)
}

fn refuse<T>(shared: &Shared, who: &Who, why: String) -> Option<T> {
    tracing::warn!(conn = who.conn, client = %escaped(&who.client_id), "connection refused: {}", escaped(&why));
    shared.transcript.connection(who, false, Some(why));
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::v4::LastWill;
    use rumqttc::mqttbytes::QoS;

    fn with_will(id: &str, topic: &str) -> Connect {
        let mut c = Connect::new(id);
        c.last_will = Some(LastWill::new(topic, "gone", QoS::AtLeastOnce, false));
        c
    }

    #[test]
    fn a_will_on_another_things_topic_is_not_authorised() {
        let limits = Limits::default();
        let forged = with_will("Thing1", "$aws/things/Thing2/jobs/notify-next");
        let r = admit(&forged, Some("Thing1"), Policy::ThingScoped, &limits).unwrap_err();
        assert_eq!(r.code, ConnectReturnCode::NotAuthorized);
        assert!(r.why.contains("Thing2"), "{}", r.why);
        let own = with_will("Thing1", "$aws/things/Thing1/status");
        assert!(admit(&own, Some("Thing1"), Policy::ThingScoped, &limits).is_ok());
        // Permissive allows it, as AWS does with a policy that allows the publish.
        assert!(admit(&forged, Some("Thing1"), Policy::Permissive, &limits).is_ok());
        let wild = with_will("Thing1", "$aws/things/Thing1/#");
        assert!(admit(&wild, Some("Thing1"), Policy::Permissive, &limits).is_err());
    }

    #[test]
    fn client_ids_longer_than_128_bytes_are_rejected() {
        let limits = Limits::default();
        let long = "x".repeat(129);
        let r = admit(&Connect::new(long), None, Policy::Permissive, &limits).unwrap_err();
        assert_eq!(r.code, ConnectReturnCode::BadClientId);
        assert!(admit(
            &Connect::new("x".repeat(128)),
            None,
            Policy::Permissive,
            &limits
        )
        .is_ok());
    }

    #[test]
    fn client_id_must_be_the_certificate_cn_under_thing_scoped() {
        let r = admit(
            &Connect::new("Thing2"),
            Some("Thing1"),
            Policy::ThingScoped,
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(r.code, ConnectReturnCode::NotAuthorized);
    }
}
