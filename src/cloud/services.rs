//! The facade the gateway and client mode feed: Jobs + streams behind one
//! `handle` call, plus the admin API the runner and `otarig job` use.
//!
//! Contract (shared by cloud::gateway, cloud::client and scenario):
//! - `handle(thing, topic, payload, now)` answers a device publish on
//!   `$aws/things/{thing}/jobs/...` or `$aws/things/{thing}/streams/...`;
//!   replies with `Route::Requester` go only to the connection that asked.
//! - Unsolicited publishes (notify-next, notify) produced by admin actions or
//!   timeouts go out through `subscribe_notifications()` with `Route::Subscribers`.

/// Where a reply goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Only the connection that sent the request, subscribed or not (AWS IoT behaviour).
    Requester,
    /// Every connection subscribed to the topic (notify, notify-next).
    Subscribers,
}

/// One publish the cloud sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub topic: String,
    pub payload: Vec<u8>,
    pub route: Route,
}

/// Placeholder until cloud::jobs / cloud::streams land; see module docs for the contract.
pub struct CloudServices {}
