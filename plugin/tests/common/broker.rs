// SPDX-License-Identifier: MIT OR Apache-2.0
//! A real MQTT broker (Mosquitto) on a free loopback port, with a configuration file the test writes, and
//! subscribers (`mosquitto_sub`) that collect what it delivers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where Debian installs the broker: /usr/sbin, which a user's PATH may lack.
const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A Mosquitto broker; stopped (with SIGTERM, so that it saves its persistent sessions) when dropped.
pub struct Broker {
    pub port: u16,
    config: PathBuf,
    process: Option<Child>,
}

impl Broker {
    /// A broker on a free port with `extra` configuration lines, its files in `dir`; sessions persist
    /// across restarts.
    pub fn start(dir: &Path, extra: &str) -> Broker {
        let port = super::free_port();
        let config = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(
            &config,
            format!(
                // user root: run as root, Mosquitto would otherwise become `mosquitto` and lose access to
                // the test's private folder (it has no effect for other users).
                "listener {port} 127.0.0.1\nuser root\npersistence true\npersistence_location {}/\n{extra}\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut broker = Broker {
            port,
            config,
            process: None,
        };
        broker.resume();
        broker
    }

    /// Starts the broker again on the same port.
    pub fn resume(&mut self) {
        let process = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (scripts/setup.sh installs it)");
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &process.id().to_string()])
                .status();
            let _ = process.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `mosquitto_sub` on `topic` with QoS 1 and a persistent session, collecting `(topic, payload)` lines.
pub struct Subscriber {
    process: Child,
    pub received: Arc<Mutex<Vec<(String, String)>>>,
}

impl Subscriber {
    pub fn start(port: u16, topic: &str, extra: &[&str]) -> Subscriber {
        let mut process = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-c"])
            .args(["-i", &format!("subscriber-{port}"), "-v", "-t", topic])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (scripts/setup.sh installs mosquitto-clients)");
        let received = Arc::new(Mutex::new(Vec::new()));
        let collected = Arc::clone(&received);
        let stdout = process.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((topic, payload)) = line.split_once(' ') {
                    collected
                        .lock()
                        .unwrap()
                        .push((topic.into(), payload.into()));
                }
            }
        });
        // Subscribed once the broker has seen it: a retained status published for the purpose comes back.
        std::thread::sleep(Duration::from_millis(300));
        Subscriber { process, received }
    }

    /// The payloads received on topics ending with `leaf`, as JSON.
    pub fn payloads(&self, leaf: &str) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(topic, _)| topic.ends_with(leaf))
            .map(|(_, payload)| serde_json::from_str(payload).unwrap())
            .collect()
    }

    /// Waits until `done` holds for what arrived, up to 20 s.
    pub fn wait_for(&self, mut done: impl FnMut(&Subscriber) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
