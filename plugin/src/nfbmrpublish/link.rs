// SPDX-License-Identifier: MIT OR Apache-2.0
//! The element's link to the broker: a bounded queue the streaming thread only appends to, a thread that
//! drives rumqttc's connection (reconnecting with backoff), and a thread that hands queued messages to the
//! client while the broker is there, oldest first. The streaming thread never waits on the network.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, ConnectReturnCode, Connection, ConnectionError, Event, Incoming, LastWill, MqttOptions,
    Outgoing, QoS,
};

/// One message for the broker.
#[derive(Clone)]
pub struct Message {
    pub topic: String,
    pub payload: String,
}

/// How many messages and bytes wait at most while the broker is away.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub messages: usize,
    pub bytes: usize,
}

/// What the link tells the element, from its own threads.
pub enum Report {
    /// Connected (again); `dropped` is the running total of messages dropped from the full queue.
    Connected { dropped: u64 },
    /// The broker went away or cannot be reached: it will be tried again.
    Lost(String),
}

/// Why the first connection failed in a way retrying will not mend.
#[derive(Debug)]
pub struct Refused(pub String);

#[derive(Default)]
struct Queue {
    messages: VecDeque<Message>,
    bytes: usize,
    dropped: u64,
    /// Drops since the last report, to report overflowing once per outage.
    overflowing: bool,
    /// QoS 1 messages handed to the client and not yet acknowledged, oldest first: sent again after a
    /// reconnection (rumqttc forgets its own on a new session), so that each arrives at least once.
    inflight: VecDeque<Message>,
    connected: bool,
    closing: bool,
    /// The retained status, published again on every connection (the last will may have replaced it).
    status: Option<String>,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
    closing: AtomicBool,
}

pub struct Link {
    shared: Arc<Shared>,
    client: Client,
    bounds: Bounds,
    status_topic: String,
    threads: Vec<JoinHandle<()>>,
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Queue> {
    crate::lock(&shared.queue)
}

impl Link {
    /// Connects to the broker described by `options`, waiting for the first answer up to `wait`. A refused
    /// login is an error; an unreachable broker is not (the station inspects, and the link keeps trying).
    pub fn open(
        mut options: MqttOptions,
        qos: QoS,
        bounds: Bounds,
        status_topic: String,
        offline: String,
        wait: Duration,
        report: impl Fn(Report) + Send + 'static,
    ) -> Result<Self, Refused> {
        options.set_last_will(LastWill::new(
            &status_topic,
            offline,
            QoS::AtLeastOnce,
            true,
        ));
        let (client, connection) = Client::new(options, 64);
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            changed: Condvar::new(),
            closing: AtomicBool::new(false),
        });
        let (first, answered) = mpsc::channel();
        let driver = {
            let (shared, client, topic) =
                (Arc::clone(&shared), client.clone(), status_topic.clone());
            std::thread::Builder::new()
                .name("nfbmrpublish-link".into())
                .spawn(move || drive(connection, &shared, &client, &topic, &first, &report))
                .expect("a thread for the MQTT link")
        };
        let sender = {
            let (shared, client) = (Arc::clone(&shared), client.clone());
            std::thread::Builder::new()
                .name("nfbmrpublish-send".into())
                .spawn(move || send_queued(&shared, &client, qos))
                .expect("a thread for the MQTT link")
        };
        let link = Link {
            shared,
            client,
            bounds,
            status_topic,
            threads: vec![driver, sender],
        };
        match answered.recv_timeout(wait) {
            Ok(Err(refused)) => Err(refused),
            _ => Ok(link),
        }
    }

    /// Queues a message, dropping the oldest when the bounds are passed. Never waits on the network.
    pub fn push(&self, message: Message) -> bool {
        let mut queue = lock(&self.shared);
        queue.bytes += message.payload.len() + message.topic.len();
        queue.messages.push_back(message);
        let mut first_drop = false;
        while queue.messages.len() > self.bounds.messages || queue.bytes > self.bounds.bytes {
            let Some(oldest) = queue.messages.pop_front() else {
                break;
            };
            queue.bytes -= oldest.payload.len() + oldest.topic.len();
            queue.dropped += 1;
            first_drop |= !std::mem::replace(&mut queue.overflowing, true);
        }
        drop(queue);
        self.shared.changed.notify_all();
        first_drop
    }

    /// Publishes the retained status now, and again on every connection.
    pub fn set_status(&self, payload: String) {
        lock(&self.shared).status = Some(payload.clone());
        let _ = self
            .client
            .try_publish(&self.status_topic, QoS::AtLeastOnce, true, payload);
    }

    /// Sends what is queued while the broker is there (up to `wait`), publishes `offline` and disconnects.
    /// Returns the messages dropped in all, those still queued (the broker away) among them.
    pub fn close(mut self, offline: String, wait: Duration) -> u64 {
        let deadline = Instant::now() + wait;
        let mut queue = lock(&self.shared);
        while queue.connected && (!queue.messages.is_empty() || !queue.inflight.is_empty()) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            queue = self.shared.changed.wait_timeout(queue, left).unwrap().0;
        }
        queue.closing = true;
        let abandoned = queue.messages.len() as u64;
        queue.dropped += abandoned;
        let dropped = queue.dropped;
        drop(queue);
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        let _ = self
            .client
            .try_publish(&self.status_topic, QoS::AtLeastOnce, true, offline);
        let _ = self.client.try_disconnect();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        dropped
    }
}

/// Drives the connection until it is closed: follows it, publishes the status on each connection, tells
/// the first answer to `first`, and reconnects with backoff.
fn drive(
    mut connection: Connection,
    shared: &Shared,
    client: &Client,
    status_topic: &str,
    first: &mpsc::Sender<Result<(), Refused>>,
    report: &impl Fn(Report),
) {
    let mut backoff = Duration::from_millis(100);
    for event in connection.iter() {
        if shared.closing.load(Ordering::Relaxed) && event.is_err() {
            break;
        }
        match event {
            Ok(event) => {
                if let Some(dropped) = on_event(shared, &event) {
                    backoff = Duration::from_millis(100);
                    let _ = first.send(Ok(()));
                    if let Some(status) = lock(shared).status.clone() {
                        let _ = client.try_publish(status_topic, QoS::AtLeastOnce, true, status);
                    }
                    report(Report::Connected { dropped });
                }
                if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
            Err(err) => {
                requeue_inflight(&mut lock(shared));
                if let ConnectionError::ConnectionRefused(code) = err {
                    let refused = refusal(code);
                    let _ = first.send(Err(Refused(refused.clone())));
                    report(Report::Lost(refused));
                } else {
                    let _ = first.send(Ok(()));
                    report(Report::Lost(err.to_string()));
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Follows the connection: whether it is up, and which messages the broker has taken. `Some(dropped)`
/// when it just came up.
fn on_event(shared: &Shared, event: &Event) -> Option<u64> {
    let mut queue = lock(shared);
    let connected = match event {
        Event::Incoming(Incoming::ConnAck(_)) => {
            queue.connected = true;
            queue.overflowing = false;
            Some(queue.dropped)
        }
        // A broker acknowledges QoS 1 messages in the order it received them (MQTT 3.1.1, 4.6).
        Event::Incoming(Incoming::PubAck(_)) => {
            queue.inflight.pop_front();
            None
        }
        _ => None,
    };
    drop(queue);
    shared.changed.notify_all();
    connected
}

/// The connection is lost: unacknowledged messages go back to the head of the queue, in order.
fn requeue_inflight(queue: &mut Queue) {
    queue.connected = false;
    while let Some(message) = queue.inflight.pop_back() {
        queue.bytes += message.payload.len() + message.topic.len();
        queue.messages.push_front(message);
    }
}

fn refusal(code: ConnectReturnCode) -> String {
    match code {
        ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => {
            "the broker refused the login (check username and password)".into()
        }
        other => format!("the broker refused the connection: {other:?}"),
    }
}

/// Hands queued messages to the client, oldest first, while connected.
fn send_queued(shared: &Shared, client: &Client, qos: QoS) {
    loop {
        let mut queue = lock(shared);
        let ready = |q: &Queue| q.closing || (q.connected && !q.messages.is_empty());
        while !ready(&queue) {
            queue = shared.changed.wait(queue).unwrap();
        }
        if queue.closing {
            return;
        }
        let message = queue.messages.pop_front().expect("waited for one");
        queue.bytes -= message.payload.len() + message.topic.len();
        if qos == QoS::AtLeastOnce {
            queue.inflight.push_back(message.clone());
        }
        drop(queue);
        // Blocks only while rumqttc's own small channel is full, never the streaming thread.
        if client
            .publish(message.topic, qos, false, message.payload)
            .is_err()
        {
            return;
        }
        shared.changed.notify_all();
    }
}
