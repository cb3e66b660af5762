// SPDX-License-Identifier: MIT OR Apache-2.0
//! An IP camera that drops, as a station meets it: inspect-rtsp.sh against a real RTSP server on loopback
//! (nfbmr-rtsp-serve, gst-rtsp-server, H.264), unreachable at start-up and then stopped and restarted ten
//! times while the inspection runs. The pipeline never exits, reports every outage, scores again within a
//! bounded time after each restart, and re-serves its annotated stream over RTSP.

mod common;
#[path = "../../serve/tests/common/mod.rs"]
mod server;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::models;

const RESTARTS: usize = 10;
/// Longest a restart may take to bring scored frames back.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

/// A child process killed, with its process group, when the test ends, even by a failed assertion: a
/// failing test must not leave a camera or an inspection running.
struct Reaped(Child);

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let group = format!("-{}", self.0.id());
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &group])
                .status();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The camera, serving on `port` once this returns.
fn start_camera(port: u16) -> Reaped {
    let binary = common::profile_dir().join("nfbmr-rtsp-serve");
    assert!(
        binary.is_file(),
        "{} is built by `cargo test --workspace`",
        binary.display()
    );
    Reaped(server::serve(&binary, port, &server::camera_launch("ball", 96, 64)).0)
}

/// The complete lines of the results file so far.
fn lines(results: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(results).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn outages(results: &Path, kind: &str) -> usize {
    lines(results)
        .iter()
        .filter(|line| line["outage"] == kind)
        .count()
}

/// Wall clock of the first frame scored after the `count`th outage ended and after `since` (UNIX seconds).
/// A frame the camera sent just before it dropped may still be scored after the outage started: it is not
/// the frame of a recovery.
fn first_frame_after_outage(results: &Path, count: usize, since: f64) -> Option<f64> {
    let ended = lines(results)
        .iter()
        .filter(|line| line["outage"] == "end")
        .nth(count - 1)?["timestamp"]
        .as_f64()?;
    first_frame_after(results, since.max(ended))
}

/// Wall clock of the first frame scored after `since` (UNIX seconds).
fn first_frame_after(results: &Path, since: f64) -> Option<f64> {
    lines(results)
        .iter()
        .filter(|line| line.get("frame").is_some())
        .map(|line| line["timestamp"].as_f64().unwrap())
        .find(|&timestamp| timestamp >= since)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Polls `condition` every 50 ms until it holds, while the inspection keeps running; a failure shows the
/// inspection's output (`log`).
fn wait_for<T>(
    inspection: &mut Child,
    log: &Path,
    what: &str,
    mut condition: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    let output = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Some(status) = inspection.try_wait().unwrap() {
            panic!(
                "the inspection exited ({status}) while waiting for {what}:\n{}",
                output()
            );
        }
        if let Some(value) = condition() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ctrl-C, as a terminal sends it to the whole process group; returns once the inspection has stopped.
fn interrupt(inspection: &mut Child) {
    Command::new("kill")
        .args(["-s", "INT", "--", &format!("-{}", inspection.id())])
        .status()
        .unwrap();
    let stopped = Instant::now();
    while inspection.try_wait().unwrap().is_none() {
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "Ctrl-C stops it"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_camera_restarted_ten_times_is_inspected_again_after_each_restart() {
    let scratch = tempfile::tempdir().unwrap();
    let results = scratch.path().join("results.jsonl");
    let (camera_port, serve_port) = (common::free_port(), common::free_port());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/inspect-rtsp.sh");
    let log_path = scratch.path().join("inspect.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut inspection = Reaped(
        common::with_built_plugin(script, scratch.path())
            .args([
                format!("rtsp://127.0.0.1:{camera_port}/nfbmr").as_ref(),
                models().first.as_os_str(),
            ])
            .env("DEVICE", "cpu")
            .env("SINK", "fakesink")
            .env("RESULTS", &results)
            .env("SERVE_PORT", serve_port.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group, which Ctrl-C signals as a whole.
            .process_group(0)
            .spawn()
            .unwrap(),
    );

    // Unreachable at start-up: an outage, said as a warning, and the pipeline waits for the camera.
    wait_for(&mut inspection, &log_path, "the start-up outage", || {
        (outages(&results, "start") == 1).then_some(())
    });
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("Camera unavailable"), "{log}");

    let mut recoveries = Vec::new();
    for restart in 0..=RESTARTS {
        let started = now();
        let mut camera = start_camera(camera_port);
        let scored = wait_for(&mut inspection, &log_path, "frames after a restart", || {
            first_frame_after_outage(&results, restart + 1, started)
        });
        assert_eq!(outages(&results, "end"), restart + 1);
        if restart > 0 {
            recoveries.push(scored - started);
        }
        if restart == RESTARTS {
            // The camera is up: the operator's view carries the verdict border; the camera's border is black.
            common::init();
            let served = format!("rtsp://127.0.0.1:{serve_port}/nfbmr");
            let (info, rgb) = server::client_frames(&served, 1).remove(0);
            let corner = &rgb[..3];
            let (red, green) = (corner[0], corner[1]);
            assert!(
                (red > 150 && green < 80) || (green > 150 && red < 80),
                "border {corner:?} of a {}x{} frame",
                info.width(),
                info.height()
            );
            interrupt(&mut inspection);
            camera.kill().unwrap();
            camera.wait().unwrap();
            break;
        }
        camera.kill().unwrap();
        camera.wait().unwrap();
        wait_for(&mut inspection, &log_path, "the outage", || {
            (outages(&results, "start") == restart + 2).then_some(())
        });
    }

    assert_eq!(outages(&results, "start"), RESTARTS + 1);
    assert_eq!(outages(&results, "end"), RESTARTS + 1);

    recoveries.sort_by(f64::total_cmp);
    let (median, worst) = (recoveries[RESTARTS / 2], recoveries[RESTARTS - 1]);
    eprintln!(
        "recovery after an RTSP restart: median {median:.2} s, worst {worst:.2} s of {RESTARTS}"
    );
    assert!(worst < RECOVERY_BOUND.as_secs_f64(), "{recoveries:?}");
}
