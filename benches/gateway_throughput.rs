//! Stream download throughput through the gateway for 1, 10 and 100
//! concurrent devices, and the same devices against a bare Mosquitto that
//! relays equal-sized block messages from one responder client. Plain TCP on
//! loopback for both, so the ratio compares brokers, not TLS.
//!
//! `cargo bench --bench gateway_throughput` (Mosquitto half skipped with a
//! note when it is not installed).

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otarig::cloud::gateway::{Gateway, GatewayConfig};
use otarig::cloud::CloudServices;
use otarig::timeline::NullSink;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use support::gateway::{get_stream_cbor, start_mosquitto, DevEvent, Device};

const BLOCK: usize = 4096;
const PER_REQUEST: u32 = 32;
const STREAM: &str = "bench-s";

fn blocks_per_device(devices: usize) -> usize {
    (2048 / devices).max(128)
}

/// One device: request `PER_REQUEST` blocks at a time until `blocks` arrived.
async fn run_device(addr: SocketAddr, thing: String, blocks: usize) -> usize {
    let mut dev = Device::connect(addr, None, &thing, true).await;
    let base = format!("$aws/things/{thing}/streams/{STREAM}");
    dev.subscribe(&format!("{base}/data/cbor"), QoS::AtMostOnce)
        .await;
    let mut got = 0usize;
    let mut offset = 0u32;
    while got < blocks {
        let n = PER_REQUEST.min((blocks - got) as u32);
        let bitmap = vec![0xffu8; n.div_ceil(8) as usize];
        let req = get_stream_cbor("b", 0, BLOCK as u32, offset, &bitmap, n);
        dev.publish(&format!("{base}/get/cbor"), QoS::AtMostOnce, req)
            .await;
        let mut left = n;
        while left > 0 {
            match tokio::time::timeout(Duration::from_secs(30), dev.rx.recv()).await {
                Ok(Some(DevEvent::Publish(p))) if p.topic.ends_with("/data/cbor") => {
                    left -= 1;
                    got += 1;
                }
                Ok(Some(DevEvent::Down(why))) => panic!("{thing}: {why}"),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("{thing}: no data within 30 s"),
            }
        }
        offset += n;
    }
    got
}

struct Measured {
    blocks: usize,
    elapsed: Duration,
}

impl Measured {
    fn blocks_per_sec(&self) -> f64 {
        self.blocks as f64 / self.elapsed.as_secs_f64()
    }
    fn mib_per_sec(&self) -> f64 {
        self.blocks_per_sec() * BLOCK as f64 / (1024.0 * 1024.0)
    }
}

async fn run_devices(addr: SocketAddr, devices: usize) -> Measured {
    let blocks = blocks_per_device(devices);
    let start = Instant::now();
    let tasks: Vec<_> = (0..devices)
        .map(|i| tokio::spawn(run_device(addr, format!("Dev{i}"), blocks)))
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("device task");
    }
    Measured {
        blocks: total,
        elapsed: start.elapsed(),
    }
}

async fn gateway_run(devices: usize) -> Measured {
    let services = Arc::new(CloudServices::new(Arc::new(NullSink)));
    let file: Vec<u8> = (0..blocks_per_device(devices) * BLOCK)
        .map(|i| i as u8)
        .collect();
    services
        .add_stream(STREAM, vec![(0, Arc::from(file))])
        .unwrap();
    let gw = Gateway::start(GatewayConfig::default(), services, Arc::new(NullSink))
        .await
        .unwrap();
    let m = run_devices(gw.local_addr(), devices).await;
    gw.shutdown().await;
    m
}

/// A block message of the same shape and size as the stream service's.
fn block_message(index: u32) -> Vec<u8> {
    use ciborium::Value;
    let map = Value::Map(vec![
        (Value::Text("f".into()), Value::Integer(0.into())),
        (
            Value::Text("l".into()),
            Value::Integer((BLOCK as u32).into()),
        ),
        (Value::Text("i".into()), Value::Integer(index.into())),
        (
            Value::Text("p".into()),
            Value::Bytes(vec![index as u8; BLOCK]),
        ),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).unwrap();
    out
}

/// The Mosquitto side: one client answers every GetStream with `n` blocks.
async fn responder(port: u16) -> tokio::task::JoinHandle<()> {
    let mut opts = MqttOptions::new("bench-responder", "127.0.0.1", port);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(opts, 10_000);
    eventloop.network_options.set_tcp_nodelay(true);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<rumqttc::Publish>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let sub = client.clone();
    let poll = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    sub.subscribe("$aws/things/+/streams/+/get/cbor", QoS::AtMostOnce)
                        .await
                        .unwrap();
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(p);
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            let req = support::gateway::cbor_map(&p.payload);
            let int = |k: &str| {
                req.get(k)
                    .and_then(|v| v.as_integer())
                    .map(|i| i128::from(i) as u32)
                    .unwrap_or(0)
            };
            let (o, n) = (int("o"), int("n"));
            let topic = p.topic.replace("/get/cbor", "/data/cbor");
            for i in o..o + n {
                client
                    .publish(topic.clone(), QoS::AtMostOnce, false, block_message(i))
                    .await
                    .unwrap();
            }
        }
    });
    let _ = ready_rx.await;
    poll
}

async fn mosquitto_run(port: u16, devices: usize) -> Measured {
    let poll = responder(port).await;
    let m = run_devices(([127, 0, 0, 1], port).into(), devices).await;
    poll.abort();
    m
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = start_mosquitto().await;
        println!("stream download, {BLOCK}-byte blocks, {PER_REQUEST} blocks per request, plain TCP on loopback");
        println!("{:>7}  {:>10}  {:>9}  {:>13}  {:>9}  {:>9}", "devices", "blocks", "gw blk/s", "gw MiB/s", "mq MiB/s", "gw/mq");
        for devices in [1usize, 10, 100] {
            let gw = gateway_run(devices).await;
            let mq = match &broker {
                Some(b) => Some(mosquitto_run(b.port, devices).await),
                None => None,
            };
            let (mq_mib, ratio) = match &mq {
                Some(m) => (format!("{:.1}", m.mib_per_sec()), format!("{:.2}", gw.mib_per_sec() / m.mib_per_sec())),
                None => ("skipped".into(), "-".into()),
            };
            println!(
                "{devices:>7}  {:>10}  {:>9.0}  {:>13.1}  {:>9}  {:>9}",
                gw.blocks,
                gw.blocks_per_sec(),
                gw.mib_per_sec(),
                mq_mib,
                ratio
            );
            if let Some(m) = &mq {
                println!("{:>7}  mosquitto relay: {:.0} blocks/s", "", m.blocks_per_sec());
            }
        }
        if broker.is_none() {
            println!("note: mosquitto not installed; only the gateway was measured");
        }
    });
}
