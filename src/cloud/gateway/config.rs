//! What a gateway is started with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::limits::Limits;
pub use crate::config::rig_raw::Policy;
use crate::config::Rig;

pub use crate::model::mqtt::DEFAULT_MAX_MESSAGE_SIZE;

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Where to listen; port 0 picks a free one (see `GatewayHandle::local_addr`).
    pub bind: SocketAddr,
    /// Mutual TLS with the bench PKI; `None` = plain TCP (only where a rig says so).
    pub tls: Option<TlsSettings>,
    pub policy: Policy,
    /// Largest MQTT packet accepted from a device (remaining length, bytes).
    /// A bigger one disconnects the device, as AWS IoT does.
    pub max_message_size: usize,
    /// Gap between stream `data` messages to one connection (for 1.0.x agents,
    /// which queue only two incoming messages). `None` = send at once.
    pub pace: Option<Duration>,
    /// Unacknowledged QoS 1 messages to a device are re-sent (DUP) after this.
    pub retry_interval: Duration,
    /// A connection must send CONNECT (and finish TLS) within this.
    pub connect_timeout: Duration,
    /// Board names by thing name, so transcript events name the board.
    pub boards: HashMap<String, String>,
    /// Transcript payloads longer than this are cut to a prefix (`len` keeps the size).
    pub transcript_limit: usize,
    /// Messages other tasks may hand one connection before further ones are
    /// dropped (a reader too slow for the bench). Small: the connection moves
    /// them into its own bounded queue at once; this only covers a blocked write.
    pub queue_depth: usize,
    /// AWS IoT Core's limits, and the bench's bounds on what a device may cost.
    pub limits: Limits,
}

/// Where the bench PKI lives (CA, endpoint certificate and key).
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub pki_dir: PathBuf,
}

impl GatewayConfig {
    /// The endpoint a rig describes: bind, TLS with the rig's PKI, policy,
    /// limits, pacing, and the board name of each thing for the transcript.
    pub fn from_rig(rig: &Rig) -> GatewayConfig {
        let ep = &rig.cloud.endpoint;
        GatewayConfig {
            bind: ep.bind,
            tls: ep.tls.then(|| TlsSettings {
                pki_dir: rig.cloud.pki.clone(),
            }),
            policy: ep.policy,
            max_message_size: ep.max_message_size,
            pace: (!ep.pace.is_zero()).then_some(ep.pace),
            boards: rig
                .boards
                .iter()
                .map(|b| (b.thing_name.clone(), b.name.clone()))
                .collect(),
            ..GatewayConfig::default()
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            policy: Policy::ThingScoped,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            pace: None,
            retry_interval: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            boards: HashMap::new(),
            transcript_limit: 2048,
            queue_depth: 256,
            limits: Limits::default(),
        }
    }
}
