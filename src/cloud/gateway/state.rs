//! The MQTT state of one connection, without I/O (as rumqtt's `MqttState`
//! sits beside its event loop): the in-flight window and packet ids, the
//! queue behind it, stream pacing, QoS 1 redelivery and keep-alive. Time is an
//! input; the connection task writes what comes out.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rumqttc::mqttbytes::v4::{Publish, Subscribe, SubscribeReasonCode};
use rumqttc::mqttbytes::QoS;

use super::limits::{Limits, TopicLimit};
use super::router::min_qos;
use crate::cloud::topics;

/// Why the state machine ends a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Breach {
    #[error("keep-alive expired: no packet for {0:?} (1.5 × the keep-alive)")]
    KeepAlive(Duration),
    #[error("slow consumer: {queued} messages ({bytes} bytes) wait behind {inflight} unacknowledged ones (bench limit {max} messages, {max_bytes} bytes)")]
    SlowConsumer {
        queued: usize,
        bytes: usize,
        inflight: usize,
        max: usize,
        max_bytes: usize,
    },
    #[error("SUBSCRIBE with {count} filters (AWS IoT allows {max} per request)")]
    TooManyFilters { count: usize, max: usize },
    #[error("publish to `{topic}`: topic {why}")]
    Topic { topic: String, why: TopicLimit },
}

/// How one requested filter was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Granted(QoS),
    /// SUBACK 0x80, with the reason for the log.
    Refused(String),
}

impl Grant {
    pub fn code(&self) -> SubscribeReasonCode {
        match self {
            Grant::Granted(q) => SubscribeReasonCode::Success(*q),
            Grant::Refused(_) => SubscribeReasonCode::Failure,
        }
    }
}

struct InFlight {
    publish: Publish,
    sent: Instant,
}

pub struct SessionState {
    limits: Limits,
    pace: Option<Duration>,
    retry: Duration,
    idle_timeout: Duration,
    last_packet: Instant,
    next_pkid: u16,
    inflight: BTreeMap<u16, InFlight>,
    queued: VecDeque<Publish>,
    queued_bytes: usize,
    next_paced: Instant,
}

impl SessionState {
    /// `keep_alive` is the CONNECT's request; `pace` spaces stream data.
    pub fn new(
        limits: Limits,
        keep_alive: u16,
        pace: Option<Duration>,
        retry: Duration,
        now: Instant,
    ) -> SessionState {
        SessionState {
            idle_timeout: limits.idle_timeout(keep_alive),
            limits,
            pace,
            retry,
            last_packet: now,
            next_pkid: 0,
            inflight: BTreeMap::new(),
            queued: VecDeque::new(),
            queued_bytes: 0,
            next_paced: now,
        }
    }

    /// A whole packet arrived: the keep-alive timer restarts. (Bytes of an
    /// unfinished packet do not count, or one byte a minute would hold a
    /// connection open forever.)
    pub fn packet_received(&mut self, now: Instant) {
        self.last_packet = now;
    }

    /// A publish for the device. Returns what may be written now, in order;
    /// the rest waits for the window or the pace.
    pub fn publish(&mut self, p: Publish, now: Instant) -> Result<Vec<Publish>, Breach> {
        self.queued_bytes += p.payload.len();
        self.queued.push_back(p);
        let ready = self.ready(now);
        if self.queued.len() > self.limits.max_queued
            || self.queued_bytes > self.limits.max_queued_bytes
        {
            return Err(Breach::SlowConsumer {
                queued: self.queued.len(),
                bytes: self.queued_bytes,
                inflight: self.inflight.len(),
                max: self.limits.max_queued,
                max_bytes: self.limits.max_queued_bytes,
            });
        }
        Ok(ready)
    }

    /// A PUBACK from the device; returns whether it matched a message in
    /// flight. Call [`Self::poll`] after it: the window has room again.
    pub fn puback(&mut self, pkid: u16) -> bool {
        self.inflight.remove(&pkid).is_some()
    }

    /// What time makes due: keep-alive expiry, redeliveries (DUP), and queued
    /// messages the window and pace now allow.
    pub fn poll(&mut self, now: Instant) -> Result<Vec<Publish>, Breach> {
        if now >= self.last_packet + self.idle_timeout {
            return Err(Breach::KeepAlive(self.idle_timeout));
        }
        let mut out = Vec::new();
        for m in self.inflight.values_mut() {
            if m.sent + self.retry <= now {
                m.publish.dup = true;
                m.sent = now;
                out.push(m.publish.clone());
            }
        }
        out.extend(self.ready(now));
        Ok(out)
    }

    /// When [`Self::poll`] next has something to do.
    pub fn next_deadline(&self) -> Instant {
        let keep_alive = self.last_packet + self.idle_timeout;
        let retry = self.inflight.values().map(|m| m.sent + self.retry).min();
        let paced = self
            .queued
            .front()
            .filter(|p| self.is_paced(p) && self.has_room(p))
            .map(|_| self.next_paced);
        [Some(keep_alive), retry, paced]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(keep_alive)
    }

    /// The QoS 1 messages the device has not acknowledged, in order (DUP where
    /// already sent), for a persistent session to keep.
    pub fn take_unacked(&mut self) -> Vec<Publish> {
        let sent = std::mem::take(&mut self.inflight).into_values().map(|m| {
            let mut p = m.publish;
            p.dup = true;
            p
        });
        let waiting = self.queued.drain(..).filter(|p| p.qos == QoS::AtLeastOnce);
        self.queued_bytes = 0;
        sent.chain(waiting).collect()
    }

    #[cfg(test)]
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// The answer to each filter of a SUBSCRIBE, given the filters the session
    /// already has; too many filters in one request ends the connection.
    pub fn subscribe(
        &self,
        s: &Subscribe,
        existing: &[(String, QoS)],
    ) -> Result<Vec<Grant>, Breach> {
        let max = self.limits.max_filters_per_subscribe;
        if s.filters.len() > max {
            return Err(Breach::TooManyFilters {
                count: s.filters.len(),
                max,
            });
        }
        let mut count = existing.len();
        let mut grants = Vec::with_capacity(s.filters.len());
        for f in &s.filters {
            let grant = if !topics::valid_filter(&f.path) {
                Grant::Refused("not a valid topic filter".into())
            } else if let Err(why) = self.limits.check_topic(&f.path) {
                Grant::Refused(format!("topic filter {why}"))
            } else if existing.iter().any(|(e, _)| *e == f.path) {
                Grant::Granted(min_qos(f.qos, QoS::AtLeastOnce))
            } else if count >= self.limits.max_subscriptions {
                Grant::Refused(format!(
                    "the connection has {count} subscriptions (AWS IoT allows {})",
                    self.limits.max_subscriptions
                ))
            } else {
                count += 1;
                Grant::Granted(min_qos(f.qos, QoS::AtLeastOnce))
            };
            grants.push(grant);
        }
        Ok(grants)
    }

    /// A device's publish topic within AWS IoT's length and depth.
    pub fn check_publish_topic(&self, topic: &str) -> Result<(), Breach> {
        self.limits.check_topic(topic).map_err(|why| Breach::Topic {
            topic: topic.to_string(),
            why,
        })
    }

    /// Moves queued messages out while the window and the pace allow.
    fn ready(&mut self, now: Instant) -> Vec<Publish> {
        let mut out = Vec::new();
        while let Some(head) = self.queued.front() {
            if !self.has_room(head) {
                break;
            }
            let paced = self.is_paced(head);
            if paced && now < self.next_paced {
                break;
            }
            let mut p = self.queued.pop_front().expect("front exists");
            self.queued_bytes -= p.payload.len();
            if let (true, Some(gap)) = (paced, self.pace) {
                self.next_paced = now + gap;
            }
            if p.qos == QoS::AtLeastOnce {
                p.pkid = self.alloc_pkid();
                let publish = p.clone();
                self.inflight
                    .insert(p.pkid, InFlight { publish, sent: now });
            } else {
                p.pkid = 0;
            }
            out.push(p);
        }
        out
    }

    fn has_room(&self, p: &Publish) -> bool {
        p.qos != QoS::AtLeastOnce || self.inflight.len() < self.window()
    }

    fn is_paced(&self, p: &Publish) -> bool {
        self.pace.is_some() && topics::is_stream_data(&p.topic)
    }

    /// The in-flight window, never more than packet ids exist.
    fn window(&self) -> usize {
        self.limits.max_inflight.clamp(1, usize::from(u16::MAX) - 1)
    }

    /// A free packet id. Only called with room in the window, which is smaller
    /// than the id space, so at most `inflight + 1` candidates are tried.
    fn alloc_pkid(&mut self) -> u16 {
        for _ in 0..=self.inflight.len() {
            self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
            if !self.inflight.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
        unreachable!("the window is smaller than the packet id space")
    }
}

#[cfg(test)]
mod tests;
