//! `[network]`: which socket operations and families are collected.

use serde::{Deserialize, Serialize};

/// Network collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// Load the network programs at all (off: none loaded, no cost).
    pub enabled: bool,
    /// Which socket operations to hook.
    pub hooks: Vec<NetHook>,
    /// Report DNS queries (UDP datagrams to port 53).
    pub collect_dns: bool,
    /// Capture payloads: not implemented, so `true` is refused.
    pub collect_payload: bool,
    /// Socket families to report.
    pub families: Vec<NetFamilyName>,
    /// Service ports not reported: the remote port of a connect, the local
    /// port of a bind, listen or accept. Filtered in the kernel.
    pub exclude_ports: Vec<u16>,
    /// Peer networks (CIDR) not reported: the remote address of a connect
    /// or accept, the bound address of a bind or listen. In the kernel.
    pub exclude_networks: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetHook {
    Connect,
    Bind,
    Listen,
    /// accept(2) and accept4(2).
    Accept,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetFamilyName {
    Inet,
    Inet6,
    Unix,
}

impl NetFamilyName {
    /// The AF_* number.
    pub fn af(self) -> u16 {
        match self {
            NetFamilyName::Unix => 1,
            NetFamilyName::Inet => 2,
            NetFamilyName::Inet6 => 10,
        }
    }
}

impl Default for Network {
    fn default() -> Self {
        Network {
            // On by default: a reverse shell, a relay's connection, a
            // download before a drop-and-run and an IOC address are all
            // seen through connects. Unix sockets are off by default: every
            // syslog(3), D-Bus and journald client connects one, which is
            // volume without a detection that needs it.
            enabled: true,
            hooks: vec![NetHook::Connect, NetHook::Bind, NetHook::Listen],
            collect_dns: false,
            collect_payload: false,
            families: vec![NetFamilyName::Inet, NetFamilyName::Inet6],
            exclude_ports: Vec::new(),
            exclude_networks: Vec::new(),
        }
    }
}

/// An IPv4 or IPv6 network, from "a.b.c.d/n" or "x::y/n" (a bare address
/// is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    /// As an IPv6 network (IPv4 mapped into ::ffff:0:0/96).
    pub fn as_v6(&self) -> ([u8; 16], u32) {
        match self.addr {
            std::net::IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), 96 + u32::from(self.prefix)),
            std::net::IpAddr::V6(a) => (a.octets(), u32::from(self.prefix)),
        }
    }
}

impl Network {
    /// Nothing asked for that is not implemented or would collect nothing;
    /// the excluded networks parse.
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.collect_payload {
            return Err((
                "network.collect_payload",
                "payload capture is not implemented in this version; set it to false".into(),
            ));
        }
        if self.collect_dns && !self.enabled {
            return Err((
                "network.collect_dns",
                "needs network.enabled = true (nothing collects DNS otherwise)".into(),
            ));
        }
        if self.enabled && self.hooks.is_empty() && !self.collect_dns {
            return Err((
                "network.hooks",
                "network.enabled = true with no hooks and no collect_dns collects nothing".into(),
            ));
        }
        if self.families.is_empty() {
            return Err((
                "network.families",
                "must name at least one of inet, inet6, unix".into(),
            ));
        }
        for c in &self.exclude_networks {
            Cidr::parse(c).map_err(|why| ("network.exclude_networks", why))?;
        }
        Ok(())
    }
}
