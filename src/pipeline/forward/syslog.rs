//! RFC 5424 messages around the records' JSON, on the forwarder thread:
//! `<PRI>1 TIMESTAMP HOSTNAME rand-guard PROCID MSGID - JSON`, framed for
//! a stream by RFC 6587 octet counting (`LEN SP MESSAGE`).
//!
//! PRI is facility × 8 + severity: alerts by their rule severity
//! (critical → 2 crit, high → 3 err, medium → 4 warning, low → 5
//! notice), events 6 (informational), health 5 (notice). MSGID is the
//! record type, so a collector can route without parsing the JSON. No
//! structured data (`-`) and no BOM: the MSG is the JSON line as written
//! locally, so `mmjsonparse` and friends read it as is.

use crate::model::alert::Severity;
use crate::model::clock::Rfc3339;

/// What kind of record a message carries: its severity and MSGID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Event,
    Alert(Severity),
    Health,
}

impl Tag {
    /// The RFC 5424 severity (0 emergency … 7 debug).
    pub fn severity(self) -> u8 {
        match self {
            Tag::Alert(Severity::Critical) => 2,
            Tag::Alert(Severity::High) => 3,
            Tag::Alert(Severity::Medium) => 4,
            Tag::Alert(Severity::Low) | Tag::Health => 5,
            Tag::Event => 6,
        }
    }

    /// MSGID: the record type.
    pub fn msgid(self) -> &'static str {
        match self {
            Tag::Event => "event",
            Tag::Alert(_) => "alert",
            Tag::Health => "health",
        }
    }
}

/// The parts of the header that do not change: HOSTNAME, APP-NAME and
/// PROCID, already joined, and the facility.
#[derive(Debug, Clone)]
pub struct Header {
    facility: u8,
    /// ` HOSTNAME rand-guard PROCID `
    middle: Vec<u8>,
}

/// APP-NAME.
pub const APP_NAME: &str = "rand-guard";

impl Header {
    pub fn new(facility: u8, hostname: &str, pid: u32) -> Header {
        // HOSTNAME is PRINTUSASCII, at most 255, `-` when unknown.
        let host: String = hostname
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect();
        let host = if host.is_empty() { "-".into() } else { host };
        Header {
            facility,
            middle: format!(" {host} {APP_NAME} {pid} ").into_bytes(),
        }
    }

    /// Append one message (no framing) to `out`: the header, then `json`.
    /// `time` is TIMESTAMP, already formatted ([`timestamp`]).
    pub fn message(&self, tag: Tag, time: &[u8], json: &[u8], out: &mut Vec<u8>) {
        let pri = u16::from(self.facility) * 8 + u16::from(tag.severity());
        out.push(b'<');
        out.extend_from_slice(itoa::Buffer::new().format(pri).as_bytes());
        out.extend_from_slice(b">1 ");
        out.extend_from_slice(time);
        out.extend_from_slice(&self.middle);
        out.extend_from_slice(tag.msgid().as_bytes());
        out.extend_from_slice(b" - ");
        out.extend_from_slice(json);
    }

    /// Append one octet-counted frame (RFC 6587 3.4.1) to `out`; the
    /// message's length (without the count).
    pub fn frame(&self, tag: Tag, time: &[u8], json: &[u8], out: &mut Vec<u8>) -> usize {
        let len = self.message_len(tag, json.len());
        out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
        out.push(b' ');
        let start = out.len();
        self.message(tag, time, json, out);
        debug_assert_eq!(out.len() - start, len);
        len
    }

    /// The length of a message around `json_len` bytes of JSON, without
    /// writing it: what the size limit is checked against.
    pub fn message_len(&self, tag: Tag, json_len: usize) -> usize {
        let pri = u16::from(self.facility) * 8 + u16::from(tag.severity());
        // `<` PRI `>1 ` TIMESTAMP middle MSGID ` - ` JSON
        1 + itoa::Buffer::new().format(pri).len()
            + 3
            + TIMESTAMP_LEN
            + self.middle.len()
            + tag.msgid().len()
            + 3
            + json_len
    }
}

/// `2026-12-07T14:10:15.123456Z`: RFC 5424 allows six digits of fraction.
pub const TIMESTAMP_LEN: usize = 27;

/// TIMESTAMP for `unix_ns` nanoseconds since the epoch, UTC.
pub fn timestamp(unix_ns: u64) -> [u8; TIMESTAMP_LEN] {
    let full = Rfc3339(unix_ns).bytes();
    let mut t = [0u8; TIMESTAMP_LEN];
    t[..TIMESTAMP_LEN - 1].copy_from_slice(&full[..TIMESTAMP_LEN - 1]);
    t[TIMESTAMP_LEN - 1] = b'Z';
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_and_frame_bytes() {
        // local0 (16): an event is 16*8+6 = 134, a critical alert 130.
        let h = Header::new(16, "web 1", 4242);
        let t = timestamp(1_765_116_615_123_456_789);
        assert_eq!(&t, b"2025-12-07T14:10:15.123456Z");
        let mut out = Vec::new();
        h.message(Tag::Event, &t, br#"{"a":1}"#, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"<134>1 2025-12-07T14:10:15.123456Z web1 rand-guard 4242 event - {"a":1}"#
        );
        let mut out = b"x".to_vec();
        let len = h.frame(Tag::Alert(Severity::Critical), &t, b"{}", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "x66 <130>1 2025-12-07T14:10:15.123456Z web1 rand-guard 4242 alert - {}"
        );
        assert_eq!(len, 66);
        assert_eq!(len, text.len() - "x66 ".len());
    }

    #[test]
    fn severities_and_msgids() {
        let cases = [
            (Tag::Alert(Severity::Critical), 2, "alert"),
            (Tag::Alert(Severity::High), 3, "alert"),
            (Tag::Alert(Severity::Medium), 4, "alert"),
            (Tag::Alert(Severity::Low), 5, "alert"),
            (Tag::Health, 5, "health"),
            (Tag::Event, 6, "event"),
        ];
        for (tag, sev, msgid) in cases {
            assert_eq!((tag.severity(), tag.msgid()), (sev, msgid), "{tag:?}");
        }
        // kern (0) with notice: <5>; local7 (23) with info: <190>.
        let mut out = Vec::new();
        Header::new(0, "h", 1).message(Tag::Health, &timestamp(0), b"{}", &mut out);
        assert!(
            out.starts_with(b"<5>1 1970-01-01T00:00:00.000000Z h "),
            "{out:?}"
        );
        out.clear();
        Header::new(23, "", 1).message(Tag::Event, &timestamp(0), b"{}", &mut out);
        assert!(out.starts_with(b"<190>1 "), "{out:?}");
        assert!(out.ends_with(b" - rand-guard 1 event - {}"), "{out:?}");
    }
}
