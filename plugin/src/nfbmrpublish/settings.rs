// SPDX-License-Identifier: MIT OR Apache-2.0
//! The settings of `nfbmrpublish`, its properties, and the MQTT options they make.

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use rumqttc::{MqttOptions, QoS, TlsConfiguration, Transport};

use super::Publish;
use super::link::Bounds;

const DEFAULT_BROKER: &str = "mqtt://localhost:1883";
const DEFAULT_TOPIC_PREFIX: &str = "nfbmr";
const DEFAULT_STATION_ID: &str = "station";
const DEFAULT_QOS: u32 = 1;
const DEFAULT_QUEUE_LIMIT: u32 = 10_000;
const DEFAULT_QUEUE_BYTES: u64 = 64 << 20;
/// The certificates Debian trusts (package ca-certificates), for mqtts without a `ca-file`.
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Clone, Debug)]
pub struct Settings {
    pub broker: String,
    pub client_id: Option<String>,
    pub topic_prefix: String,
    pub station_id: String,
    pub qos: u32,
    pub publish: Publish,
    pub queue_limit: u32,
    pub queue_bytes: u64,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            broker: DEFAULT_BROKER.into(),
            client_id: None,
            topic_prefix: DEFAULT_TOPIC_PREFIX.into(),
            station_id: DEFAULT_STATION_ID.into(),
            qos: DEFAULT_QOS,
            publish: Publish::default(),
            queue_limit: DEFAULT_QUEUE_LIMIT,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            ca_file: None,
            cert_file: None,
            key_file: None,
            username: None,
            password: None,
        }
    }
}

impl Settings {
    pub fn topic(&self, leaf: &str) -> String {
        format!("{}/{}/{leaf}", self.topic_prefix, self.station_id)
    }

    pub fn qos(&self) -> QoS {
        if self.qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        }
    }

    pub fn bounds(&self) -> Bounds {
        Bounds {
            messages: self.queue_limit as usize,
            bytes: usize::try_from(self.queue_bytes).unwrap_or(usize::MAX),
        }
    }

    /// The client's options; a broker address that does not parse or resolve, or a TLS file that cannot be
    /// read as PEM, is an error naming it.
    pub fn mqtt_options(&self) -> Result<MqttOptions, String> {
        let (tls, rest) = match self.broker.split_once("://") {
            Some(("mqtt", rest)) => (false, rest),
            Some(("mqtts", rest)) => (true, rest),
            _ => {
                return Err(format!(
                    "broker '{}' is not mqtt://HOST:PORT or mqtts://HOST:PORT",
                    self.broker
                ));
            }
        };
        let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().ok()),
            None => (rest, Some(if tls { 8883 } else { 1883 })),
        };
        let port = port.ok_or_else(|| format!("broker '{}' has no valid port", self.broker))?;
        (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve the broker host '{host}': {e}"))?;
        let client_id = self
            .client_id
            .clone()
            .unwrap_or_else(|| format!("nfbmr-{}-{}", self.station_id, std::process::id()));
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(1 << 20, 1 << 20);
        if let Some(username) = &self.username {
            options.set_credentials(username, self.password.clone().unwrap_or_default());
        }
        if tls {
            options.set_transport(Transport::tls_with_config(self.tls()?));
        }
        Ok(options)
    }

    fn tls(&self) -> Result<TlsConfiguration, String> {
        // rustls needs a process-wide crypto provider; another part of the process may have set one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let read = |path: &PathBuf, what: &str| {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))?;
            let pem = rustls_pemfile::read_all(&mut bytes.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .filter(|items| !items.is_empty());
            match pem {
                Some(_) => Ok(bytes),
                None => Err(format!("the {what} {} is not a PEM file", path.display())),
            }
        };
        let ca_file = self
            .ca_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(SYSTEM_CA_FILE));
        let ca = read(&ca_file, "CA file")?;
        let client_auth = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                Some((read(cert, "certificate file")?, read(key, "key file")?))
            }
            (None, None) => None,
            _ => return Err("cert-file and key-file go together".into()),
        };
        Ok(TlsConfiguration::Simple {
            ca,
            alpn: None,
            client_auth,
        })
    }

    /// Sets the property `name`; GLib has checked the value's type and range.
    pub fn set(&mut self, name: &str, value: &glib::Value) {
        let text = || {
            value
                .get::<Option<String>>()
                .expect("type checked upstream")
        };
        let path = || text().map(PathBuf::from);
        match name {
            "broker" => self.broker = text().unwrap_or_else(|| DEFAULT_BROKER.into()),
            "client-id" => self.client_id = text(),
            "topic-prefix" => self.topic_prefix = text().unwrap_or_default(),
            "station-id" => self.station_id = text().unwrap_or_default(),
            "qos" => self.qos = value.get().expect("type checked upstream"),
            "publish" => self.publish = value.get().expect("type checked upstream"),
            "queue-limit" => self.queue_limit = value.get().expect("type checked upstream"),
            "queue-bytes" => self.queue_bytes = value.get().expect("type checked upstream"),
            "ca-file" => self.ca_file = path(),
            "cert-file" => self.cert_file = path(),
            "key-file" => self.key_file = path(),
            "username" => self.username = text(),
            "password" => self.password = text(),
            name => unreachable!("GLib only routes registered properties, not {name}"),
        }
    }

    pub fn get(&self, name: &str) -> glib::Value {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match name {
            "broker" => self.broker.to_value(),
            "client-id" => self.client_id.to_value(),
            "topic-prefix" => self.topic_prefix.to_value(),
            "station-id" => self.station_id.to_value(),
            "qos" => self.qos.to_value(),
            "publish" => self.publish.to_value(),
            "queue-limit" => self.queue_limit.to_value(),
            "queue-bytes" => self.queue_bytes.to_value(),
            "ca-file" => path(&self.ca_file).to_value(),
            "cert-file" => path(&self.cert_file).to_value(),
            "key-file" => path(&self.key_file).to_value(),
            "username" => self.username.to_value(),
            // Never read back.
            "password" => None::<String>.to_value(),
            name => unreachable!("GLib only routes registered properties, not {name}"),
        }
    }

    pub fn properties() -> Vec<glib::ParamSpec> {
        let text = |name: &str, nick: &str, blurb: &str, default: Option<&str>| {
            glib::ParamSpecString::builder(name)
                .nick(nick)
                .blurb(blurb)
                .default_value(default)
                .mutable_ready()
                .build()
        };
        vec![
            text("broker", "Broker", "mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS", Some(DEFAULT_BROKER)),
            text("client-id", "Client id", "MQTT client id (default: nfbmr-STATION-PID)", None),
            text("topic-prefix", "Topic prefix", "Topics are PREFIX/STATION/frames, …/events, …/status", Some(DEFAULT_TOPIC_PREFIX)),
            text("station-id", "Station id", "This station or camera, the second level of every topic", Some(DEFAULT_STATION_ID)),
            glib::ParamSpecUInt::builder("qos")
                .nick("QoS")
                .blurb("MQTT quality of service of frames and events: 0 (at most once) or 1 (at least once)")
                .maximum(1)
                .default_value(DEFAULT_QOS)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("publish", Publish::default())
                .nick("Publish")
                .blurb("Which frames are published (events always are): every scored frame, anomalies only, or none")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("queue-limit")
                .nick("Queue limit")
                .blurb("Messages kept while the broker is away; beyond it the oldest are dropped and counted")
                .minimum(1)
                .default_value(DEFAULT_QUEUE_LIMIT)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("queue-bytes")
                .nick("Queue bytes")
                .blurb("Bytes kept while the broker is away; beyond it the oldest are dropped and counted")
                .minimum(1)
                .default_value(DEFAULT_QUEUE_BYTES)
                .mutable_ready()
                .build(),
            text("ca-file", "CA file", "PEM certificates the broker's is checked against (mqtts; default: the system's)", None),
            text("cert-file", "Certificate file", "PEM client certificate, with key-file", None),
            text("key-file", "Key file", "PEM private key of cert-file", None),
            text("username", "Username", "Login at the broker", None),
            text("password", "Password", "Password of username (write-only)", None),
        ]
    }
}
