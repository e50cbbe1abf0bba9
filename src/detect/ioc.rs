//! `rg-ioc-match`: indicators of compromise from `[ioc]` files, matched
//! against executed files' hashes, connect destinations and DNS queries.
//!
//! File format, one entry per line: `#` starts a comment (a whole line or
//! the rest of one), blank lines are skipped, surrounding blanks ignored.
//! - sha256 files: 64 hex digits, any case.
//! - ip files: an IPv4 or IPv6 address, or a CIDR block (`10.0.0.0/8`,
//!   `2001:db8::/32`; host bits must be zero, so a typo cannot widen or
//!   narrow a block unnoticed). An IPv4-mapped IPv6 destination
//!   (`::ffff:a.b.c.d`) matches as its IPv4 address.
//! - domain files: a domain name (letters, digits, `-`, `_`, dots; a
//!   trailing dot is dropped; matched case-insensitively). An entry
//!   matches the name itself and every name below it: `evil.example`
//!   matches `a.b.evil.example`, not `notevil.example`.
//!
//! A bad line is an error naming the file and line; at start it stops the
//! agent, on a SIGHUP reload the lists in force stay (see agent).
//!
//! Hashes are a sorted vector (32 bytes and a list index per entry,
//! binary search); addresses a hash map; CIDR blocks a vector scanned in
//! order (lists of blocks are short); domains a hash map looked up once
//! per label of the queried name.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config;
use crate::model::alert::{RuleMeta, Severity, Technique};
use crate::model::event::{Body, Event, Image, NetOp};
use crate::model::proctable::{Origin, Process};

/// A bad file or line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct IocError {
    pub file: PathBuf,
    /// 1-based; None when the file itself could not be read.
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for IocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ioc list {}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, " line {l}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What kind of indicator matched (ECS `threat.indicator.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Ipv4,
    Ipv6,
    Domain,
}

impl Kind {
    pub fn ecs_type(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Ipv4 => "ipv4-addr",
            Kind::Ipv6 => "ipv6-addr",
            Kind::Domain => "domain-name",
        }
    }
}

/// A match: the list (its file) and the entry as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub list: Arc<str>,
    pub entry: String,
    pub kind: Kind,
}

/// A CIDR block: the address as a 128-bit number (IPv4 in the low 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    net: u128,
    prefix: u8,
    v6: bool,
    list: u32,
}

/// Every list, loaded.
#[derive(Debug, Default)]
pub struct Feeds {
    lists: Vec<Arc<str>>,
    /// Sorted by digest; the list it came from (the first, if several).
    hashes: Vec<([u8; 32], u32)>,
    addrs: HashMap<IpAddr, u32>,
    blocks: Vec<Block>,
    domains: HashMap<Box<str>, u32>,
}

impl Feeds {
    /// Read every file `cfg` names.
    pub fn load(cfg: &config::Ioc) -> Result<Feeds, IocError> {
        let mut f = Feeds::default();
        for (files, parse) in [
            (&cfg.sha256_files, Feeds::add_sha256 as Parse),
            (&cfg.ip_files, Feeds::add_ip),
            (&cfg.domain_files, Feeds::add_domain),
        ] {
            for path in files {
                let text = std::fs::read_to_string(path).map_err(|e| IocError {
                    file: path.clone(),
                    line: None,
                    reason: format!("cannot read: {e}"),
                })?;
                f.add(path, &text, parse)?;
            }
        }
        // Stable: of a digest on several lists, the first list is named.
        f.hashes.sort_by_key(|e| e.0);
        f.hashes.dedup_by(|a, b| a.0 == b.0);
        Ok(f)
    }

    /// Entries loaded: hashes, addresses and blocks, domains.
    pub fn len(&self) -> usize {
        self.hashes.len() + self.addrs.len() + self.blocks.len() + self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has_hashes(&self) -> bool {
        !self.hashes.is_empty()
    }

    /// The lines of `text` (the file `path`) parsed by `parse`.
    pub fn add(&mut self, path: &Path, text: &str, parse: Parse) -> Result<(), IocError> {
        let list = self.lists.len() as u32;
        self.lists.push(path.to_string_lossy().into());
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            parse(self, entry, list).map_err(|reason| IocError {
                file: path.to_path_buf(),
                line: Some(i + 1),
                reason: format!("{entry:?}: {reason}"),
            })?;
        }
        Ok(())
    }

    pub fn add_sha256(&mut self, entry: &str, list: u32) -> Result<(), String> {
        let d = parse_sha256(entry).ok_or("not a SHA-256 digest (64 hex digits)")?;
        self.hashes.push((d, list));
        Ok(())
    }

    pub fn add_ip(&mut self, entry: &str, list: u32) -> Result<(), String> {
        let Some((addr, prefix)) = entry.split_once('/') else {
            let ip: IpAddr = entry
                .parse()
                .map_err(|_| "not an IP address or CIDR block")?;
            self.addrs.entry(canonical(ip)).or_insert(list);
            return Ok(());
        };
        let ip: IpAddr = addr.parse().map_err(|_| "not an IP address before `/`")?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or(format!("prefix length must be from 0 to {max}"))?;
        let net = bits(ip);
        if net & !mask(prefix, ip.is_ipv6()) != 0 {
            return Err(format!(
                "host bits set (the block is {})",
                block_text(ip, prefix)
            ));
        }
        self.blocks.push(Block {
            net,
            prefix,
            v6: ip.is_ipv6(),
            list,
        });
        Ok(())
    }

    pub fn add_domain(&mut self, entry: &str, list: u32) -> Result<(), String> {
        let name = entry
            .strip_suffix('.')
            .unwrap_or(entry)
            .to_ascii_lowercase();
        let ok_label = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.len() > 253 || !name.split('.').all(ok_label) {
            return Err("not a domain name (labels of 1 to 63 letters, digits, `-`, `_`)".into());
        }
        self.domains.entry(name.into()).or_insert(list);
        Ok(())
    }

    /// `hex` (a `process.hash.sha256`) on a list.
    pub fn hash(&self, hex: &str) -> Option<Match> {
        let d = parse_sha256(hex)?;
        let i = self.hashes.binary_search_by(|(h, _)| h.cmp(&d)).ok()?;
        Some(self.found(self.hashes[i].1, hex.to_string(), Kind::File))
    }

    /// `ip` on a list: as an address, else in a block.
    pub fn ip(&self, ip: IpAddr) -> Option<Match> {
        let ip = canonical(ip);
        let kind = if ip.is_ipv4() { Kind::Ipv4 } else { Kind::Ipv6 };
        if let Some(list) = self.addrs.get(&ip) {
            return Some(self.found(*list, ip.to_string(), kind));
        }
        let (v6, n) = (ip.is_ipv6(), bits(ip));
        let b = self
            .blocks
            .iter()
            .find(|b| b.v6 == v6 && n & mask(b.prefix, v6) == b.net)?;
        let net = match ip {
            IpAddr::V4(_) => IpAddr::from((b.net as u32).to_be_bytes()),
            IpAddr::V6(_) => IpAddr::from(b.net.to_be_bytes()),
        };
        Some(self.found(b.list, block_text(net, b.prefix), kind))
    }

    /// A queried `name`, or a domain above it, on a list.
    pub fn domain(&self, name: &str) -> Option<Match> {
        if self.domains.is_empty() {
            return None;
        }
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let mut rest = name.as_str();
        loop {
            if let Some(list) = self.domains.get(rest) {
                return Some(self.found(*list, rest.to_string(), Kind::Domain));
            }
            rest = rest.split_once('.')?.1;
        }
    }

    fn found(&self, list: u32, entry: String, kind: Kind) -> Match {
        Match {
            list: self.lists[list as usize].clone(),
            entry,
            kind,
        }
    }
}

type Parse = fn(&mut Feeds, &str, u32) -> Result<(), String>;

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nib = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    let mut d = [0u8; 32];
    for (i, out) in d.iter_mut().enumerate() {
        *out = nib(b[2 * i])? << 4 | nib(b[2 * i + 1])?;
    }
    Some(d)
}

/// An IPv4-mapped IPv6 address as IPv4; others as they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn mask(prefix: u8, v6: bool) -> u128 {
    let width = if v6 { 128 } else { 32 };
    let all = if v6 { u128::MAX } else { u32::MAX.into() };
    if prefix == 0 {
        0
    } else {
        all & (all << (width - u32::from(prefix)))
    }
}

fn block_text(ip: IpAddr, prefix: u8) -> String {
    let v6 = ip.is_ipv6();
    let net = bits(ip) & mask(prefix, v6);
    let net = if v6 {
        IpAddr::from(net.to_be_bytes())
    } else {
        IpAddr::from((net as u32).to_be_bytes())
    };
    format!("{net}/{prefix}")
}

/// The processes already alerted for their hash: one alert per process
/// (its exec, or its first event once the hash is known), however many
/// events it makes. Removed at exit; bounded: when full it is emptied
/// (a live process could then alert a second time, never miss one).
#[derive(Default)]
pub(super) struct Alerted {
    seen: HashSet<(u32, u64)>,
}

const ALERTED_MAX: usize = 65_536;

impl Alerted {
    /// True the first time for `id`.
    pub(super) fn first(&mut self, id: (u32, u64)) -> bool {
        if self.seen.len() >= ALERTED_MAX {
            self.seen.clear();
        }
        self.seen.insert(id)
    }

    pub(super) fn exited(&mut self, id: (u32, u64)) {
        self.seen.remove(&id);
    }
}

pub const ID: &str = "rg-ioc-match";

/// What `rg-ioc-match` found on an event.
pub(super) struct Hit {
    pub meta: Arc<RuleMeta>,
    pub found: Match,
    /// What matched, for the message: "sha256 of /tmp/x", "connect to
    /// 203.0.113.7:443", "DNS query for a.evil.example".
    pub what: String,
}

/// The detection: the lists and who was alerted for a hash.
pub(super) struct IocRule {
    feeds: Arc<Feeds>,
    file_meta: Arc<RuleMeta>,
    net_meta: Arc<RuleMeta>,
    alerted: Alerted,
    /// Images whose hash was looked up and is not listed, by address; a
    /// slot holds the image, so its address cannot be reused meanwhile.
    clean: Vec<Option<Arc<Image>>>,
}

const CLEAN_SLOTS: usize = 1024;

fn ioc_meta(tactic: &str, technique: (&str, &str)) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: ID.into(),
        name: "Indicator of compromise matched".into(),
        description: "An executed file's SHA-256, a connect's destination or a DNS query \
                      is on an [ioc] list: the alert names the list and the entry."
            .into(),
        severity: Severity::High,
        tactics: vec![tactic.into()],
        techniques: vec![Technique {
            id: technique.0.into(),
            name: Some(technique.1.into()),
        }],
        source: "builtin".into(),
        references: Vec::new(),
        authors: Vec::new(),
    })
}

impl IocRule {
    pub(super) fn new(feeds: Arc<Feeds>) -> IocRule {
        IocRule {
            feeds,
            file_meta: ioc_meta("Execution", ("T1204.002", "User Execution: Malicious File")),
            net_meta: ioc_meta(
                "Command and Control",
                ("T1071", "Application Layer Protocol"),
            ),
            alerted: Alerted::default(),
            clean: vec![None; CLEAN_SLOTS],
        }
    }

    /// Take over the state of the rule this one replaces (SIGHUP): who
    /// was alerted stays alerted; with `keep`, its lists (and what was
    /// found clean in them) too.
    pub(super) fn take_state(&mut self, old: &mut IocRule, keep: bool) {
        self.alerted = std::mem::take(&mut old.alerted);
        if keep {
            self.feeds = old.feeds.clone();
            std::mem::swap(&mut self.clean, &mut old.clean);
        }
    }

    /// Match `feeds` from now on; what was found clean is looked up again.
    pub(super) fn set_feeds(&mut self, feeds: Arc<Feeds>) {
        self.feeds = feeds;
        self.clean.fill(None);
    }

    /// The first indicator `ev` matches. A process's hash is checked on
    /// each of its events until it matched once (the hash usually comes
    /// after the exec record: then its next event, at the latest its
    /// exit, is the one alerted); a forked child shares its parent's
    /// image and is not alerted again.
    pub(super) fn hit(&mut self, ev: &Event) -> Option<Hit> {
        let p = ev.process.as_deref();
        if let Body::Exit(_) = ev.body
            && let Some(p) = p
        {
            let id = (p.pid, p.start_ns);
            let h = self.hash_hit(p);
            self.alerted.exited(id);
            return h;
        }
        if let Some(h) = p.and_then(|p| self.hash_hit(p)) {
            return Some(h);
        }
        let Body::Net(n) = &ev.body else {
            return None;
        };
        if n.op == NetOp::Connect
            && let Some(remote) = n.remote
            && let Some(found) = self.feeds.ip(remote.ip())
        {
            return Some(Hit {
                meta: self.net_meta.clone(),
                found,
                what: format!("connect to {remote}"),
            });
        }
        if let Some(Ok(q)) = &n.dns
            && !q.response
        {
            let found = self.feeds.domain(&q.name)?;
            return Some(Hit {
                meta: self.net_meta.clone(),
                found,
                what: format!("DNS query for {}", q.name),
            });
        }
        None
    }

    fn hash_hit(&mut self, p: &Process) -> Option<Hit> {
        if !self.feeds.has_hashes() || p.origin == Origin::Fork {
            return None;
        }
        let hex = p.image.hash.get()?.sha256()?;
        // An image found not listed is not looked up again for each of its
        // events (a lookup in a million digests is about a microsecond).
        let slot = (Arc::as_ptr(&p.image) as usize >> 4) % CLEAN_SLOTS;
        if self.clean[slot]
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, &p.image))
        {
            return None;
        }
        let Some(found) = self.feeds.hash(hex) else {
            self.clean[slot] = Some(p.image.clone());
            return None;
        };
        if !self.alerted.first((p.pid, p.start_ns)) {
            return None;
        }
        Some(Hit {
            meta: self.file_meta.clone(),
            found,
            what: format!("sha256 of {}", p.image.exe),
        })
    }
}

#[cfg(test)]
#[path = "ioc_tests.rs"]
mod tests;
