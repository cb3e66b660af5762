// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmrpublish` against a real broker (Mosquitto) on loopback: every scored frame arrives in order with
//! the JSON lines' fields, a broker that goes away loses nothing within the queue's bound and never slows
//! the pipeline, an overflowing queue counts exactly what it drops, the status is retained with a last
//! will, TLS works with a certificate the test makes, and bad configuration is an error at start.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde_json::Value;

use common::broker::{Broker, Subscriber};
use common::models;

fn launch(description: &str) -> gst::Pipeline {
    common::init();
    gst::parse::launch(description).unwrap().downcast().unwrap()
}

/// A pipeline of `source` frames through `nfbmr` (results in `results`) and `nfbmrpublish publish`.
fn station(source: &str, results: &Path, publish: &str) -> gst::Pipeline {
    launch(&format!(
        "{source} ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 ! nfbmr model={} \
         results-location={} ! nfbmrpublish name=publish station-id=cam1 {publish} ! fakesink name=sink",
        models().first.display(),
        results.display()
    ))
}

/// Runs `pipeline` to its end; the error's text if it failed.
fn run(pipeline: &gst::Pipeline) -> Option<String> {
    let _ = pipeline.set_state(gst::State::Playing);
    let message = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("an end or an error");
    pipeline.set_state(gst::State::Null).unwrap();
    match message.view() {
        gst::MessageView::Error(err) => Some(format!("{} {:?}", err.error(), err.debug())),
        _ => None,
    }
}

/// The results file's lines of scored frames (those with `frame`), without their wall-clock time.
fn scored_lines(results: &Path) -> Vec<Value> {
    std::fs::read_to_string(results)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line.get("frame").is_some())
        .map(without_timestamp)
        .collect()
}

fn without_timestamp(mut line: Value) -> Value {
    line.as_object_mut().unwrap().remove("timestamp");
    line
}

/// The frame numbers received, first arrivals only, and how many arrived more than once.
fn arrivals(subscriber: &Subscriber) -> (Vec<u64>, usize) {
    let mut first = Vec::new();
    let mut repeats = 0;
    for frame in subscriber.payloads("/frames") {
        let number = frame["frame"].as_u64().unwrap();
        if first.contains(&number) {
            repeats += 1;
        } else {
            first.push(number);
        }
    }
    (first, repeats)
}

/// The last `dropped` that `nfbmrpublish-dropped` messages report, kept as they are posted (the last one
/// comes while the pipeline stops, when the bus is flushing).
fn dropped_on_the_bus(pipeline: &gst::Pipeline) -> Arc<Mutex<Option<u64>>> {
    let dropped = Arc::new(Mutex::new(None));
    let reported = Arc::clone(&dropped);
    pipeline.bus().unwrap().set_sync_handler(move |_, message| {
        if let Some(s) = message
            .structure()
            .filter(|s| s.name() == "nfbmrpublish-dropped")
        {
            *reported.lock().unwrap() = Some(s.get::<u64>("dropped").unwrap());
        }
        gst::BusSyncReply::Pass
    });
    dropped
}

#[test]
fn every_scored_frame_arrives_in_order_with_the_json_lines_fields_and_a_retained_status() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path(), "allow_anonymous true");
    let subscriber = Subscriber::start(broker.port, "nfbmr/cam1/#", &[]);
    let results = dir.path().join("results.jsonl");
    let pipeline = station(
        "videotestsrc num-buffers=100 pattern=ball",
        &results,
        &format!("broker={} qos=0", broker.url()),
    );
    assert_eq!(run(&pipeline), None);

    let expected = scored_lines(&results);
    assert_eq!(expected.len(), 100);
    subscriber.wait_for(|s| s.payloads("/frames").len() >= 100);
    let received: Vec<Value> = subscriber
        .payloads("/frames")
        .into_iter()
        .map(without_timestamp)
        .collect();
    assert_eq!(received, expected, "the same objects, in order");
    let events: Vec<Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line.get("event").is_some())
        .collect();
    assert!(!events.is_empty());
    assert_eq!(subscriber.payloads("/events"), events);

    // Online with the model while running; offline, retained, once stopped.
    let statuses = subscriber.payloads("/status");
    let online = statuses
        .iter()
        .find(|s| s.get("model-id").is_some())
        .unwrap();
    assert_eq!(online["status"], "online");
    assert_eq!(online["model-id"], common::Models::id(&models().first));
    let late = Subscriber::start(broker.port, "nfbmr/cam1/status", &["-C", "1"]);
    late.wait_for(|s| !s.payloads("/status").is_empty());
    assert_eq!(late.payloads("/status")[0]["status"], "offline");
}

struct Outage {
    _broker: Broker,
    subscriber: Subscriber,
    dropped: Arc<Mutex<Option<u64>>>,
    /// Frames per second at the sink before and while the broker was away.
    before: f64,
    during: f64,
}

/// A live camera at 30 frames per second for 10 s, with the broker away from 2.5 s for 5 s.
fn outage_run(dir: &Path, publish: &str) -> Outage {
    let mut broker = Broker::start(dir, "allow_anonymous true");
    let subscriber = Subscriber::start(broker.port, "nfbmr/cam1/frames", &[]);
    let results = dir.join("results.jsonl");
    let pipeline = station(
        "videotestsrc is-live=true num-buffers=300 pattern=ball",
        &results,
        &format!("broker={} {publish}", broker.url()),
    );
    let seen = common::observe::watch(&pipeline);
    let dropped = dropped_on_the_bus(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let before = seen.frames() as f64 / 2.5;
    broker.stop();
    let (at, started) = (seen.frames(), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let during = (seen.frames() - at) as f64 / started.elapsed().as_secs_f64();
    broker.resume();
    let end = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos]);
    assert!(end.is_some(), "the run ends");
    pipeline.set_state(gst::State::Null).unwrap();
    Outage {
        _broker: broker,
        subscriber,
        dropped,
        before,
        during,
    }
}

/// The frames of the results file.
fn expected_frames(dir: &Path) -> Vec<u64> {
    scored_lines(&dir.join("results.jsonl"))
        .iter()
        .map(|line| line["frame"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_broker_away_for_5_seconds_loses_nothing_with_qos_1_and_never_slows_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let outage = outage_run(dir.path(), "qos=1");
    let (before, during) = (outage.before, outage.during);
    assert!(
        during > 0.9 * before,
        "{during:.1} frames/s while away, {before:.1} before"
    );
    let expected = expected_frames(dir.path());
    outage
        .subscriber
        .wait_for(|s| arrivals(s).0.len() >= expected.len());
    let (first, repeats) = arrivals(&outage.subscriber);
    eprintln!(
        "broker away 5 s, QoS 1: {} frames scored, {} arrived, {repeats} twice; {before:.1} frames/s before, \
         {during:.1} while away",
        expected.len(),
        first.len()
    );
    assert_eq!(
        first, expected,
        "every frame, in order (at least once: {repeats} repeats)"
    );
    assert_eq!(*outage.dropped.lock().unwrap(), None, "nothing dropped");
}

#[test]
fn an_overflowing_queue_counts_on_the_bus_exactly_what_the_subscriber_misses() {
    let dir = tempfile::tempdir().unwrap();
    let outage = outage_run(dir.path(), "qos=1 queue-limit=20");
    let expected = expected_frames(dir.path()).len() as u64;
    let dropped = outage.dropped.lock().unwrap().expect("drops reported");
    assert!(
        dropped > 100,
        "about 150 frames met a queue of 20: {dropped}"
    );
    let subscriber = &outage.subscriber;
    subscriber.wait_for(|s| arrivals(s).0.len() as u64 + dropped >= expected);
    std::thread::sleep(Duration::from_millis(500));
    let (first, repeats) = arrivals(subscriber);
    eprintln!(
        "broker away 5 s, queue of 20: {expected} frames scored, {} arrived ({repeats} twice), {dropped} \
         dropped as reported on the bus",
        first.len()
    );
    assert_eq!(first.len() as u64 + dropped, expected);
    assert!(first.windows(2).all(|w| w[0] < w[1]), "in order");
}

#[test]
fn bad_configuration_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.jsonl");
    let error = |publish: &str| {
        run(&station("videotestsrc num-buffers=1", &results, publish)).expect("an error")
    };
    let unknown = error("broker=mqtt://no-such-host.invalid:1883");
    assert!(
        unknown.contains("cannot resolve the broker host 'no-such-host.invalid'"),
        "{unknown}"
    );
    let not_pem = dir.path().join("ca.txt");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let bad_ca = error(&format!(
        "broker=mqtts://127.0.0.1:1 ca-file={}",
        not_pem.display()
    ));
    assert!(bad_ca.contains("ca.txt is not a PEM file"), "{bad_ca}");

    let passwords = dir.path().join("passwords");
    let made = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwords)
        .args(["inspector", "right"])
        .status()
        .unwrap();
    assert!(made.success());
    let broker = Broker::start(
        dir.path(),
        &format!(
            "allow_anonymous false\npassword_file {}",
            passwords.display()
        ),
    );
    let login = |password: &str| {
        format!(
            "broker={} username=inspector password={password}",
            broker.url()
        )
    };
    let refused = error(&login("wrong"));
    assert!(refused.contains("refused the login"), "{refused}");
    assert_eq!(
        run(&station(
            "videotestsrc num-buffers=3",
            &results,
            &login("right")
        )),
        None
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
fn certificates(dir: &Path) {
    let openssl = |args: &str| {
        let status = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args}");
    };
    openssl(
        "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=nfbmr-test-ca -keyout ca.key -out ca.pem",
    );
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for name in ["server", "client"] {
        openssl(&format!(
            "req -newkey rsa:2048 -nodes -subj /CN={name} -keyout {name}.key -out {name}.csr"
        ));
        openssl(&format!(
            "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile {name}.ext \
             -out {name}.pem"
        ));
    }
}

#[test]
fn tls_with_certificates_the_test_makes_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let d = dir.path().display();
    let broker = Broker::start(
        dir.path(),
        &format!(
            "allow_anonymous true\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n\
             require_certificate true"
        ),
    );
    let client = |flag: &str, file: &str| [flag.to_owned(), format!("{d}/{file}")];
    let subscriber_tls: Vec<String> = [
        client("--cafile", "ca.pem"),
        client("--cert", "client.pem"),
        client("--key", "client.key"),
    ]
    .concat();
    let subscriber_tls: Vec<&str> = subscriber_tls.iter().map(String::as_str).collect();
    let subscriber = Subscriber::start(broker.port, "nfbmr/cam1/frames", &subscriber_tls);
    let results = dir.path().join("results.jsonl");
    let publish = format!(
        "broker=mqtts://127.0.0.1:{} ca-file={d}/ca.pem cert-file={d}/client.pem key-file={d}/client.key",
        broker.port
    );
    assert_eq!(
        run(&station("videotestsrc num-buffers=5", &results, &publish)),
        None
    );
    subscriber.wait_for(|s| s.payloads("/frames").len() >= 5);
    assert_eq!(subscriber.payloads("/frames").len(), 5);
}

#[test]
fn the_last_will_says_offline_when_the_station_vanishes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path(), "allow_anonymous true");
    let launch = format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,format=RGB,width=64,height=48 ! nfbmr model={} \
         ! nfbmrpublish broker={} station-id=cam1 ! fakesink",
        models().first.display(),
        broker.url()
    );
    let mut station = common::with_built_plugin("gst-launch-1.0", dir.path())
        .args(launch.split_whitespace())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = Subscriber::start(broker.port, "nfbmr/cam1/status", &[]);
    status.wait_for(|s| {
        s.payloads("/status")
            .iter()
            .any(|p| p.get("model-id").is_some())
    });
    assert_eq!(
        status.payloads("/status").last().unwrap()["status"],
        "online"
    );
    station.kill().unwrap();
    station.wait().unwrap();
    status.wait_for(|s| s.payloads("/status").last().unwrap()["status"] == "offline");
    assert_eq!(
        status.payloads("/status").last().unwrap()["status"],
        "offline"
    );
}
