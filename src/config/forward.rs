//! `[forward.syslog]`: a second, optional destination beside `[output]`:
//! every record written is also sent as an RFC 5424 syslog message, over a
//! local datagram socket or TCP (RFC 6587 octet counting), optionally
//! TLS, or RELP (rsyslog's acknowledged protocol). Absent: nothing is forwarded. What a syntax check can tell is
//! checked here; the certificate files are read when the agent starts
//! (`pipeline::forward`), and a missing or unparseable one stops it with
//! an error naming the key.

use serde::{Deserialize, Serialize};

/// `[forward]`: one table per kind of destination (syslog only, for now).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Forward {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog: Option<Syslog>,
}

/// How messages reach the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A local Unix datagram socket (`/dev/log`, or rsyslog's imuxsock
    /// `Socket=`): one message per datagram.
    #[default]
    Unix,
    /// TCP, RFC 6587 octet-counting framing.
    Tcp,
    /// TCP with TLS (rustls), the same framing inside.
    Tls,
    /// RELP over TCP (rsyslog's `imrelp`): the collector's process
    /// acknowledges every message, so what a collector restart loses is
    /// sent again rather than gone. Not with TLS here (see
    /// docs/shipping.md).
    Relp,
}

impl Transport {
    /// Its name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Relp => "relp",
        }
    }
}

/// Syslog facilities by their usual names (RFC 5424 section 6.2.1 codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Ntp,
    Security,
    Console,
    #[serde(rename = "solaris-cron")]
    SolarisCron,
    #[default]
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// The numeric code: the enum lists them in code order.
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Syslog {
    pub transport: Transport,
    /// `unix`: the socket's path; `tcp`/`tls`/`relp`: `host:port` (a name is
    /// resolved at each connection attempt).
    pub address: String,
    pub facility: Facility,
    /// Records queued between the writer and the forwarder thread; past
    /// this, new ones are dropped from forwarding (the local output still
    /// has them) and counted (`forward_drops_total{reason="queue_full"}`).
    pub queue_records: u32,
    /// Largest message (syslog header and JSON) sent; a larger one is
    /// dropped and counted (`too_large`) rather than cut by the collector
    /// into JSON nobody can parse. rsyslog's own limit is its
    /// `global(maxMessageSize=...)`, 8 KiB unless raised.
    pub max_message_bytes: u32,
    /// `tls`: PEM file of the CA(s) the collector's certificate must chain
    /// to; empty: the collector is not authenticated, refused (set it).
    pub tls_ca: String,
    /// `tls`: PEM client certificate chain and its key, for a collector
    /// that asks for one; both or neither.
    pub tls_cert: String,
    pub tls_key: String,
    /// `tls`: the name the collector's certificate must carry; empty: the
    /// host part of `address`.
    pub tls_server_name: String,
}

impl Default for Syslog {
    fn default() -> Self {
        Syslog {
            transport: Transport::Unix,
            address: String::new(),
            facility: Facility::Local0,
            queue_records: 65536,
            max_message_bytes: 65536,
            tls_ca: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_server_name: String::new(),
        }
    }
}

/// The local socket used when `address` is left empty with `unix`.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

impl Syslog {
    /// The address in force: `address`, or `/dev/log` for `unix`.
    pub fn address(&self) -> &str {
        match (self.transport, self.address.as_str()) {
            (Transport::Unix, "") => DEFAULT_SYSLOG_SOCKET,
            (_, a) => a,
        }
    }

    /// `address` split into host and port (`tcp`/`tls`/`relp`); `[v6]:port` too.
    pub fn host_port(&self) -> Option<(&str, u16)> {
        let (host, port) = self.address.rsplit_once(':')?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.parse().ok().filter(|p| *p != 0)?;
        (!host.is_empty() && !host.contains(char::is_whitespace)).then_some((host, port))
    }
}

impl Forward {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        let Some(s) = &self.syslog else {
            return Ok(());
        };
        match s.transport {
            Transport::Unix => {
                let a = s.address();
                if !a.starts_with('/') || a.bytes().any(|b| b == 0) {
                    return Err((
                        "forward.syslog.address",
                        format!(
                            "with transport \"unix\" it is a socket's absolute path, got {a:?}"
                        ),
                    ));
                }
            }
            Transport::Tcp | Transport::Tls | Transport::Relp => {
                if s.host_port().is_none() {
                    return Err((
                        "forward.syslog.address",
                        format!(
                            "with transport \"{}\" it is host:port, such as \"logs.example.net:6514\" \
                             or \"[::1]:514\", got {:?}",
                            s.transport.name(),
                            s.address
                        ),
                    ));
                }
            }
        }
        if !(16..=1 << 20).contains(&s.queue_records) {
            return Err((
                "forward.syslog.queue_records",
                format!("must be from 16 to 1048576, got {}", s.queue_records),
            ));
        }
        if !(1024..=1 << 20).contains(&s.max_message_bytes) {
            return Err((
                "forward.syslog.max_message_bytes",
                format!("must be from 1024 to 1048576, got {}", s.max_message_bytes),
            ));
        }
        let tls_keys = [
            ("forward.syslog.tls_ca", &s.tls_ca),
            ("forward.syslog.tls_cert", &s.tls_cert),
            ("forward.syslog.tls_key", &s.tls_key),
            ("forward.syslog.tls_server_name", &s.tls_server_name),
        ];
        if s.transport != Transport::Tls {
            if let Some((key, _)) = tls_keys.iter().find(|(_, v)| !v.is_empty()) {
                let why = if s.transport == Transport::Relp {
                    "only applies with transport = \"tls\"; RELP over TLS is not supported \
                     (docs/shipping.md: stunnel or transport = \"tls\")"
                } else {
                    "only applies with transport = \"tls\""
                };
                return Err((key, why.into()));
            }
            return Ok(());
        }
        if s.tls_ca.is_empty() {
            return Err((
                "forward.syslog.tls_ca",
                "transport \"tls\" needs the CA file that signed the collector's certificate"
                    .into(),
            ));
        }
        for (key, path) in &tls_keys[..3] {
            if !path.is_empty() && !path.starts_with('/') {
                return Err((key, format!("must be an absolute path, got {path:?}")));
            }
        }
        if s.tls_cert.is_empty() != s.tls_key.is_empty() {
            let missing = if s.tls_cert.is_empty() {
                "forward.syslog.tls_cert"
            } else {
                "forward.syslog.tls_key"
            };
            return Err((
                missing,
                "a client certificate needs both tls_cert and tls_key".into(),
            ));
        }
        Ok(())
    }
}
