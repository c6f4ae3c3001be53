//! Sessions by client id and routing among them. The registry is only written
//! when a client connects or its session ends; a publish takes read locks only,
//! and replies to a requester do not touch the registry at all. A publish looks only
//! at the sessions whose filters can match its topic ([`Subscribers`]), not at every
//! session: with 1,000 boards, scanning them all was a tenth of the runner's time.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use rumqttc::mqttbytes::v4::Publish;
use rumqttc::mqttbytes::QoS;
use tokio::sync::{mpsc, watch};

use super::faults::{Fault, LinkFaults};
use super::limits::Limits;
use super::untrusted::Untrusted;
use crate::cloud::topics;

/// Why a connection is being closed from outside its own task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// Another connection with the same client id (or the rig's `kick`).
    TakenOver(String),
    /// A `cut` fault.
    Cut,
}

/// Messages other tasks hand to a connection (bounded: a slow reader loses
/// routed messages instead of growing without limit).
#[derive(Debug)]
pub(crate) enum Cmd {
    /// A routed message, QoS already reduced to the subscription's.
    Deliver(Publish),
    /// A message whose delay fault has elapsed: sent without further faults.
    DeliverLate(Publish),
    /// A device publish whose delay fault has elapsed.
    InboundLate(Publish),
}

/// Control of a connection; a separate channel so it is heard even while the
/// message queue is full or a stall holds the traffic.
#[derive(Debug)]
pub(crate) enum Ctl {
    Close(CloseReason),
    /// A stall fault was set: re-check the fault state now.
    Wake,
}

/// The live connection of a session.
pub(crate) struct ConnLink {
    pub conn: u64,
    pub thing: Option<String>,
    pub tx: mpsc::Sender<Cmd>,
    pub ctl: mpsc::UnboundedSender<Ctl>,
    /// Becomes true once the connection task has finished its cleanup.
    pub closed: watch::Receiver<bool>,
}

/// One session (client id): subscriptions survive reconnects when the client
/// asked for a persistent session (clean_session = false).
pub(crate) struct ClientState {
    pub id: String,
    pub subs: RwLock<Vec<(String, QoS)>>,
    pub link: Mutex<Option<ConnLink>>,
    pub persistent: AtomicBool,
    /// QoS 1 messages not yet acknowledged, or routed while offline, to be
    /// (re)sent on the next connection; paid for from the broker's offline budget.
    pub pending: Mutex<VecDeque<Publish>>,
    /// Since when a persistent session has had no connection.
    offline_since: Mutex<Option<Instant>>,
}

impl ClientState {
    fn new(id: &str) -> ClientState {
        ClientState {
            id: id.to_string(),
            subs: RwLock::new(Vec::new()),
            link: Mutex::new(None),
            persistent: AtomicBool::new(false),
            pending: Mutex::new(VecDeque::new()),
            offline_since: Mutex::new(None),
        }
    }
}

/// Which sessions subscribed to which filter: the sessions a publish must look at.
/// A superset of the truth (each session's `subs` decides), kept by [`Broker::subscribe`],
/// [`Broker::unsubscribe`] and the session's removal.
#[derive(Default)]
struct Subscribers {
    /// Filters without wildcards: the topic itself.
    exact: HashMap<String, Vec<Weak<ClientState>>>,
    /// Filters with `+` or `#` (few: the services' and a curious device's).
    wildcard: HashMap<String, Vec<Weak<ClientState>>>,
}

impl Subscribers {
    fn map_for(&mut self, filter: &str) -> &mut HashMap<String, Vec<Weak<ClientState>>> {
        if filter.contains(['+', '#']) {
            &mut self.wildcard
        } else {
            &mut self.exact
        }
    }

    fn add(&mut self, client: &Arc<ClientState>, filter: &str) {
        let list = self.map_for(filter).entry(filter.to_string()).or_default();
        if !list
            .iter()
            .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(client)))
        {
            list.push(Arc::downgrade(client));
        }
    }

    /// Takes `client` (and any session gone meanwhile) off `filter`.
    fn remove(&mut self, client: &ClientState, filter: &str) {
        let map = self.map_for(filter);
        if let Some(list) = map.get_mut(filter) {
            list.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), client));
            if list.is_empty() {
                map.remove(filter);
            }
        }
    }

    /// The sessions that may want a publish to `topic`, each once.
    fn candidates(&self, topic: &str) -> Vec<Arc<ClientState>> {
        let mut out: Vec<Arc<ClientState>> = Vec::new();
        let wild = self
            .wildcard
            .iter()
            .filter(|(f, _)| topics::matches(f, topic))
            .flat_map(|(_, l)| l);
        for weak in self.exact.get(topic).into_iter().flatten().chain(wild) {
            if let Some(c) = weak.upgrade() {
                if !out.iter().any(|o| Arc::ptr_eq(o, &c)) {
                    out.push(c);
                }
            }
        }
        out
    }
}

pub(crate) struct Broker {
    clients: RwLock<HashMap<String, Arc<ClientState>>>,
    subscribers: RwLock<Subscribers>,
    faults: RwLock<HashMap<String, Arc<Mutex<LinkFaults>>>>,
    next_conn: AtomicU64,
    /// Messages kept for one offline session, at most.
    offline_queue: usize,
    /// Payload bytes all offline sessions may keep together, and those kept.
    offline_budget: usize,
    offline_used: AtomicUsize,
    session_expiry: Duration,
}

/// The result of attaching a connection to a session.
pub(crate) struct Attached {
    pub client: Arc<ClientState>,
    pub session_present: bool,
    /// The connection this one takes over, if any (already told to close).
    pub replaced: Option<ConnLink>,
}

impl Broker {
    pub fn new(limits: &Limits) -> Broker {
        Broker {
            clients: RwLock::default(),
            subscribers: RwLock::default(),
            faults: RwLock::default(),
            next_conn: AtomicU64::new(0),
            offline_queue: limits.max_queued,
            offline_budget: limits.offline_bytes,
            offline_used: AtomicUsize::new(0),
            session_expiry: limits.session_expiry,
        }
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers `link` as the live connection of `client_id`, taking over any
    /// previous connection; keeps the session unless `clean`.
    pub fn attach(&self, client_id: &str, clean: bool, link: ConnLink) -> Attached {
        let new_conn = link.conn;
        let mut clients = self.clients.write().expect("client registry lock");
        let existing = clients.get(client_id).cloned();
        let replaced = existing
            .as_ref()
            .and_then(|c| c.link.lock().expect("link lock").take());
        let (client, session_present) = match existing {
            Some(c) if !clean && c.persistent.load(Ordering::Relaxed) => (c, true),
            old => {
                if let Some(old) = old {
                    self.release(&mut old.pending.lock().expect("pending lock"));
                    self.forget_subscriptions(&old);
                }
                let c = Arc::new(ClientState::new(client_id));
                clients.insert(client_id.to_string(), c.clone());
                (c, false)
            }
        };
        client.persistent.store(!clean, Ordering::Relaxed);
        *client.offline_since.lock().expect("offline lock") = None;
        *client.link.lock().expect("link lock") = Some(link);
        drop(clients);
        if let Some(old) = &replaced {
            let reason = format!("client id taken over by connection {new_conn}");
            let _ = old.ctl.send(Ctl::Close(CloseReason::TakenOver(reason)));
        }
        Attached {
            client,
            session_present,
            replaced,
        }
    }

    /// Called by a connection task as it ends. A clean session is forgotten;
    /// a persistent one keeps `unacked` for the next connection.
    pub fn detach(&self, client: &Arc<ClientState>, conn: u64, unacked: Vec<Publish>) {
        let mut link = client.link.lock().expect("link lock");
        let still_ours = link.as_ref().is_some_and(|l| l.conn == conn);
        if still_ours {
            *link = None;
        }
        drop(link);
        let registered = self
            .clients
            .read()
            .expect("client registry lock")
            .get(&client.id)
            .is_some_and(|c| Arc::ptr_eq(c, client));
        if !registered {
            return; // replaced by a clean session, or forgotten by a restart
        }
        if client.persistent.load(Ordering::Relaxed) {
            if still_ours {
                *client.offline_since.lock().expect("offline lock") = Some(Instant::now());
            }
            let mut pending = client.pending.lock().expect("pending lock");
            for p in unacked.into_iter().rev() {
                if self.room_offline(&pending, &p) {
                    pending.push_front(p);
                }
            }
        } else if still_ours {
            let mut clients = self.clients.write().expect("client registry lock");
            if clients
                .get(&client.id)
                .is_some_and(|c| Arc::ptr_eq(c, client))
            {
                clients.remove(&client.id);
                self.forget_subscriptions(client);
            }
        }
    }

    /// Adds (or regrants) `filter` to the session's subscriptions.
    pub fn subscribe(&self, client: &Arc<ClientState>, filter: &str, qos: QoS) {
        let mut subs = client.subs.write().expect("subscription lock");
        match subs.iter_mut().find(|(existing, _)| existing == filter) {
            Some(entry) => entry.1 = qos,
            None => subs.push((filter.to_string(), qos)),
        }
        drop(subs);
        self.subscribers
            .write()
            .expect("subscriber index lock")
            .add(client, filter);
    }

    pub fn unsubscribe(&self, client: &Arc<ClientState>, filters: &[String]) {
        client
            .subs
            .write()
            .expect("subscription lock")
            .retain(|(f, _)| !filters.contains(f));
        let mut index = self.subscribers.write().expect("subscriber index lock");
        for f in filters {
            index.remove(client, f);
        }
    }

    /// A session leaves the registry: its filters leave the index.
    fn forget_subscriptions(&self, client: &ClientState) {
        let subs = client.subs.read().expect("subscription lock");
        let mut index = self.subscribers.write().expect("subscriber index lock");
        for (f, _) in subs.iter() {
            index.remove(client, f);
        }
    }

    /// Sends `publish` to every session with a matching subscription, once per
    /// session at the highest granted QoS (capped by the publish's QoS).
    pub fn route(&self, publish: &Publish) -> usize {
        let candidates = self
            .subscribers
            .read()
            .expect("subscriber index lock")
            .candidates(&publish.topic);
        let clients = self.clients.read().expect("client registry lock");
        let mut delivered = 0;
        for client in candidates {
            // A session replaced or forgotten a moment ago gets nothing more.
            if !clients
                .get(&client.id)
                .is_some_and(|c| Arc::ptr_eq(c, &client))
            {
                continue;
            }
            let granted = client
                .subs
                .read()
                .expect("subscription lock")
                .iter()
                .filter(|(f, _)| topics::matches(f, &publish.topic))
                .map(|(_, q)| *q)
                .fold(None, |acc: Option<QoS>, q| {
                    Some(acc.map_or(q, |a| max_qos(a, q)))
                });
            let Some(granted) = granted else { continue };
            let mut out = publish.clone();
            out.qos = min_qos(publish.qos, granted);
            out.dup = false;
            out.retain = false;
            out.pkid = 0;
            if self.deliver(&client, out) {
                delivered += 1;
            }
        }
        delivered
    }

    /// Hands a message to a session's connection, or keeps it (QoS 1) for a
    /// persistent session that is offline, within the offline budget. A
    /// connection whose queue is full is a reader too slow for the bench; the
    /// message is dropped and logged.
    fn deliver(&self, client: &ClientState, publish: Publish) -> bool {
        let link = client.link.lock().expect("link lock");
        match link.as_ref() {
            Some(l) => match l.tx.try_send(Cmd::Deliver(publish)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(Cmd::Deliver(p))) => {
                    tracing::warn!(client = %Untrusted(&client.id), topic = %Untrusted(&p.topic), "connection queue full: message dropped (device not reading?)");
                    false
                }
                Err(_) => false,
            },
            None if publish.qos == QoS::AtLeastOnce
                && client.persistent.load(Ordering::Relaxed) =>
            {
                let mut pending = client.pending.lock().expect("pending lock");
                let kept = self.room_offline(&pending, &publish);
                if kept {
                    pending.push_back(publish);
                }
                kept
            }
            None => false,
        }
    }

    /// What a resumed session has waiting; its bytes return to the budget.
    pub fn take_pending(&self, client: &ClientState) -> Vec<Publish> {
        self.release(&mut client.pending.lock().expect("pending lock"))
    }

    /// Forgets persistent sessions offline for longer than the expiry period.
    /// Returns how many were forgotten.
    pub fn expire_sessions(&self, now: Instant) -> usize {
        let expired = |c: &ClientState| {
            c.offline_since
                .lock()
                .expect("offline lock")
                .is_some_and(|t| now.duration_since(t) >= self.session_expiry)
                && c.link.lock().expect("link lock").is_none()
        };
        let mut clients = self.clients.write().expect("client registry lock");
        let before = clients.len();
        clients.retain(|_, c| {
            let keep = !expired(c);
            if !keep {
                self.release(&mut c.pending.lock().expect("pending lock"));
                self.forget_subscriptions(c);
            }
            keep
        });
        before - clients.len()
    }

    /// Whether an offline session may keep `p`: its queue has room and the
    /// offline budget pays for it (taken from the budget when it does).
    fn room_offline(&self, pending: &VecDeque<Publish>, p: &Publish) -> bool {
        pending.len() < self.offline_queue && self.reserve(p.payload.len())
    }

    /// Takes `bytes` from the offline budget, if there is room.
    fn reserve(&self, bytes: usize) -> bool {
        self.offline_used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes)
                    .filter(|total| *total <= self.offline_budget)
            })
            .is_ok()
    }

    /// Empties `pending`, returning its bytes to the budget: each message is given back
    /// once, however many of a session's owners (its old connection, a takeover, the
    /// expiry) reach for it.
    fn release(&self, pending: &mut VecDeque<Publish>) -> Vec<Publish> {
        let taken: Vec<Publish> = pending.drain(..).collect();
        let bytes: usize = taken.iter().map(|p| p.payload.len()).sum();
        self.offline_used.fetch_sub(bytes, Ordering::Relaxed);
        taken
    }

    /// The live connections of a thing.
    pub fn links_of_thing(&self, thing: &str) -> Vec<(u64, mpsc::UnboundedSender<Ctl>)> {
        let clients = self.clients.read().expect("client registry lock");
        clients
            .values()
            .filter_map(|c| {
                let link = c.link.lock().expect("link lock");
                link.as_ref()
                    .filter(|l| l.thing.as_deref() == Some(thing) || c.id == thing)
                    .map(|l| (l.conn, l.ctl.clone()))
            })
            .collect()
    }

    /// Things with a live connection.
    pub fn connected_things(&self) -> Vec<String> {
        let clients = self.clients.read().expect("client registry lock");
        let mut things: Vec<String> = clients
            .values()
            .filter_map(|c| {
                c.link
                    .lock()
                    .expect("link lock")
                    .as_ref()
                    .and_then(|l| l.thing.clone())
            })
            .collect();
        things.sort();
        things.dedup();
        things
    }

    /// Forget every session (a broker restart without persistence).
    pub fn clear_sessions(&self) {
        self.clients.write().expect("client registry lock").clear();
        self.offline_used.store(0, Ordering::Relaxed);
    }

    /// The fault state of a thing, created empty on first use so a connection
    /// and later `set_faults` share it.
    pub fn faults_of(&self, thing: &str) -> Arc<Mutex<LinkFaults>> {
        if let Some(f) = self.faults.read().expect("fault lock").get(thing) {
            return f.clone();
        }
        self.faults
            .write()
            .expect("fault lock")
            .entry(thing.to_string())
            .or_default()
            .clone()
    }

    pub fn set_faults(&self, thing: &str, faults: &[Fault]) {
        let state = self.faults_of(thing);
        *state.lock().expect("fault lock") = LinkFaults::new(faults, Instant::now());
    }
}

pub(crate) fn min_qos(a: QoS, b: QoS) -> QoS {
    if (a as u8) <= (b as u8) {
        a
    } else {
        b
    }
}

fn max_qos(a: QoS, b: QoS) -> QoS {
    if (a as u8) >= (b as u8) {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ends {
        rx: mpsc::Receiver<Cmd>,
        ctl: mpsc::UnboundedReceiver<Ctl>,
        _done: watch::Sender<bool>,
    }

    fn link(conn: u64, thing: &str) -> (ConnLink, Ends) {
        let (tx, rx) = mpsc::channel(16);
        let (ctl_tx, ctl) = mpsc::unbounded_channel();
        let (done, closed) = watch::channel(false);
        let link = ConnLink {
            conn,
            thing: Some(thing.to_string()),
            tx,
            ctl: ctl_tx,
            closed,
        };
        (
            link,
            Ends {
                rx,
                ctl,
                _done: done,
            },
        )
    }

    #[test]
    fn a_second_connection_with_the_same_id_closes_the_first() {
        let broker = Broker::new(&Limits::default());
        let (l1, mut e1) = link(1, "T");
        let (l2, _e2) = link(2, "T");
        broker.attach("T", true, l1);
        let attached = broker.attach("T", true, l2);
        assert_eq!(attached.replaced.map(|l| l.conn), Some(1));
        assert!(matches!(
            e1.ctl.try_recv(),
            Ok(Ctl::Close(CloseReason::TakenOver(_)))
        ));
    }

    #[test]
    fn publish_reaches_matching_subscribers_once_at_the_lower_qos() {
        let broker = Broker::new(&Limits::default());
        let (l1, mut e1) = link(1, "A");
        let (l2, mut e2) = link(2, "B");
        let a = broker.attach("A", true, l1).client;
        let b = broker.attach("B", true, l2).client;
        broker.subscribe(&a, "lab/#", QoS::AtMostOnce);
        broker.subscribe(&a, "lab/+", QoS::AtLeastOnce);
        broker.subscribe(&b, "other", QoS::AtLeastOnce);
        let n = broker.route(&Publish::new("lab/x", QoS::AtLeastOnce, b"hi".to_vec()));
        assert_eq!(n, 1);
        match e1.rx.try_recv() {
            Ok(Cmd::Deliver(p)) => assert_eq!(p.qos, QoS::AtLeastOnce),
            other => panic!("expected a delivery, got {other:?}"),
        }
        assert!(e1.rx.try_recv().is_err(), "delivered twice");
        assert!(e2.rx.try_recv().is_err());
    }

    #[test]
    fn persistent_session_keeps_subscriptions_and_queues_qos1_while_offline() {
        let broker = Broker::new(&Limits::default());
        let (l1, _e1) = link(1, "T");
        let client = broker.attach("T", false, l1).client;
        broker.subscribe(&client, "a", QoS::AtLeastOnce);
        broker.detach(&client, 1, vec![]);
        broker.route(&Publish::new("a", QoS::AtLeastOnce, b"1".to_vec()));
        let (l2, _e2) = link(2, "T");
        let again = broker.attach("T", false, l2);
        assert!(again.session_present);
        assert_eq!(again.client.pending.lock().unwrap().len(), 1);
        assert_eq!(again.client.subs.read().unwrap().len(), 1);
    }

    #[test]
    fn a_queued_message_returns_its_bytes_to_the_budget_once() {
        // A resumed session takes its queue while a clean connection with the same client
        // id replaces it: both reach for the same messages (found by the gateway fuzz, as
        // an overflow of the budget's counter).
        let broker = Broker::new(&Limits::default());
        let (l1, _e1) = link(1, "T");
        let client = broker.attach("T", false, l1).client;
        broker.subscribe(&client, "a", QoS::AtLeastOnce);
        broker.detach(&client, 1, vec![]);
        broker.route(&Publish::new("a", QoS::AtLeastOnce, b"12345".to_vec()));
        let (l2, _e2) = link(2, "T");
        let resumed = broker.attach("T", false, l2).client;
        assert_eq!(broker.offline_used.load(Ordering::Relaxed), 5);
        let (l3, _e3) = link(3, "T");
        broker.attach("T", true, l3);
        assert_eq!(
            broker.take_pending(&resumed).len(),
            0,
            "given back by the takeover"
        );
        assert_eq!(broker.offline_used.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn clean_session_is_forgotten_when_it_ends() {
        let broker = Broker::new(&Limits::default());
        let (l1, _e1) = link(1, "T");
        let client = broker.attach("T", true, l1).client;
        broker.subscribe(&client, "a", QoS::AtLeastOnce);
        broker.detach(&client, 1, vec![]);
        assert_eq!(
            broker.route(&Publish::new("a", QoS::AtMostOnce, b"1".to_vec())),
            0
        );
        let (l2, _e2) = link(2, "T");
        assert!(!broker.attach("T", false, l2).session_present);
    }

    #[test]
    fn unsubscribed_and_replaced_sessions_get_nothing_more() {
        let broker = Broker::new(&Limits::default());
        let (l1, mut e1) = link(1, "A");
        let a = broker.attach("A", false, l1).client;
        broker.subscribe(&a, "lab/x", QoS::AtMostOnce);
        broker.subscribe(&a, "lab/+", QoS::AtMostOnce);
        broker.unsubscribe(&a, &["lab/x".to_string()]);
        let to_x = Publish::new("lab/x", QoS::AtMostOnce, b"1".to_vec());
        assert_eq!(broker.route(&to_x), 1, "still subscribed through lab/+");
        broker.unsubscribe(&a, &["lab/+".to_string()]);
        assert_eq!(broker.route(&to_x), 0);
        assert!(matches!(e1.rx.try_recv(), Ok(Cmd::Deliver(_))));
        assert!(e1.rx.try_recv().is_err());

        broker.subscribe(&a, "lab/y", QoS::AtMostOnce);
        // A clean session under the same id starts without the old one's filters.
        let (l2, mut e2) = link(2, "A");
        let fresh = broker.attach("A", true, l2).client;
        let to_y = Publish::new("lab/y", QoS::AtMostOnce, b"2".to_vec());
        assert_eq!(broker.route(&to_y), 0);
        broker.subscribe(&fresh, "lab/y", QoS::AtMostOnce);
        assert_eq!(broker.route(&to_y), 1);
        assert!(matches!(e2.rx.try_recv(), Ok(Cmd::Deliver(_))));
    }
}
