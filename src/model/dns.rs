//! DNS query parsing: the question of a query datagram the kernel copied
//! (at most `abi::DNS_MAX` bytes). Never panics on any input: the bytes
//! are whatever a process sent to port 53.

/// The first question of a DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// Name in dotted form, without the trailing dot ("" for the root).
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// QDCOUNT: questions in the message (almost always 1).
    pub questions: u16,
    /// The QR bit was set: a response, not a query.
    pub response: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("shorter than a DNS header")]
    Short,
    #[error("no question")]
    NoQuestion,
    #[error("question name runs past the datagram")]
    NameTruncated,
    #[error("question name uses a compression pointer")]
    Compressed,
    #[error("question name label longer than 63 bytes")]
    BadLabel,
    #[error("question type and class run past the datagram")]
    TypeTruncated,
}

/// Parse the header and first question of `msg`.
pub fn parse_query(msg: &[u8]) -> Result<Query, DnsError> {
    if msg.len() < 12 {
        return Err(DnsError::Short);
    }
    let be16 = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let id = be16(0);
    let response = msg[2] & 0x80 != 0;
    let questions = be16(4);
    if questions == 0 {
        return Err(DnsError::NoQuestion);
    }
    let mut name = String::new();
    let mut at = 12;
    loop {
        let len = *msg.get(at).ok_or(DnsError::NameTruncated)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 == 0xc0 {
            return Err(DnsError::Compressed);
        }
        if len > 63 {
            return Err(DnsError::BadLabel);
        }
        let label = msg.get(at..at + len).ok_or(DnsError::NameTruncated)?;
        if !name.is_empty() {
            name.push('.');
        }
        // Labels are bytes; show anything unusual escaped, as dig does.
        for &b in label {
            match b {
                b'.' | b'\\' => {
                    name.push('\\');
                    name.push(b as char);
                }
                0x21..=0x7e => name.push(b as char),
                _ => name.push_str(&format!("\\{b:03}")),
            }
        }
        at += len;
    }
    let qtype = msg.get(at..at + 2).ok_or(DnsError::TypeTruncated)?;
    let qclass = msg.get(at + 2..at + 4).ok_or(DnsError::TypeTruncated)?;
    Ok(Query {
        id,
        name,
        qtype: u16::from_be_bytes([qtype[0], qtype[1]]),
        qclass: u16::from_be_bytes([qclass[0], qclass[1]]),
        questions,
        response,
    })
}

impl DnsError {
    /// Every variant, to map a written message back to its error.
    pub const ALL: [DnsError; 6] = [
        DnsError::Short,
        DnsError::NoQuestion,
        DnsError::NameTruncated,
        DnsError::Compressed,
        DnsError::BadLabel,
        DnsError::TypeTruncated,
    ];
}

/// Query types with a mnemonic; the rest are written `TYPE<n>`.
const TYPES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (15, "MX"),
    (16, "TXT"),
    (28, "AAAA"),
    (33, "SRV"),
    (35, "NAPTR"),
    (43, "DS"),
    (48, "DNSKEY"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (255, "ANY"),
];

/// Query classes with a mnemonic; the rest are written `CLASS<n>`.
const CLASSES: &[(u16, &str)] = &[(1, "IN"), (3, "CH"), (4, "HS"), (255, "ANY")];

fn mnemonic(table: &[(u16, &str)], prefix: &str, n: u16) -> String {
    match table.iter().find(|(k, _)| *k == n) {
        Some((_, name)) => name.to_string(),
        None => format!("{prefix}{n}"),
    }
}

/// The inverse of [`mnemonic`]: only the exact spelling it writes.
fn from_mnemonic(table: &[(u16, &str)], prefix: &str, s: &str) -> Option<u16> {
    if let Some((n, _)) = table.iter().find(|(_, name)| *name == s) {
        return Some(*n);
    }
    let digits = s.strip_prefix(prefix)?;
    let n: u16 = digits.parse().ok()?;
    // "TYPE1" is written "A", and "TYPE01" never: refuse both.
    (mnemonic(table, prefix, n) == s).then_some(n)
}

/// The mnemonic of a query type (ECS `dns.question.type`), or `TYPE<n>`.
pub fn type_name(qtype: u16) -> String {
    mnemonic(TYPES, "TYPE", qtype)
}

/// The mnemonic of a query class (ECS `dns.question.class`).
pub fn class_name(qclass: u16) -> String {
    mnemonic(CLASSES, "CLASS", qclass)
}

/// The query type [`type_name`] wrote `name` for.
pub fn type_from_name(name: &str) -> Option<u16> {
    from_mnemonic(TYPES, "TYPE", name)
}

/// The query class [`class_name`] wrote `name` for.
pub fn class_from_name(name: &str) -> Option<u16> {
    from_mnemonic(CLASSES, "CLASS", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as a stub resolver sends it.
    pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m
    }

    #[test]
    fn parses_a_query() {
        let q = parse_query(&query(0xbeef, "www.example.com", 28)).unwrap();
        assert_eq!(
            q,
            Query {
                id: 0xbeef,
                name: "www.example.com".into(),
                qtype: 28,
                qclass: 1,
                questions: 1,
                response: false,
            }
        );
        assert_eq!((type_name(28), class_name(1)), ("AAAA".into(), "IN".into()));
        assert_eq!(type_name(999), "TYPE999");
        assert_eq!(parse_query(&query(1, "", 2)).unwrap().name, "");
    }

    #[test]
    fn names_map_back_to_numbers() {
        for n in 0..=u16::MAX {
            assert_eq!(type_from_name(&type_name(n)), Some(n));
            assert_eq!(class_from_name(&class_name(n)), Some(n));
        }
        for bad in [
            "",
            "a",
            "TYPE",
            "TYPE1",
            "TYPE01",
            "TYPE65536",
            "TYPE+2",
            "CLASS1",
        ] {
            assert_eq!(type_from_name(bad), None, "{bad}");
            assert_eq!(class_from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn odd_bytes_are_escaped() {
        let mut m = query(1, "a", 1);
        m[13] = b'.'; // the label "a" becomes "."
        assert_eq!(parse_query(&m).unwrap().name, "\\.");
        m[13] = 0x07;
        assert_eq!(parse_query(&m).unwrap().name, "\\007");
    }

    #[test]
    fn malformed_datagrams_are_errors() {
        let good = query(7, "host.example", 1);
        assert_eq!(parse_query(&good[..11]), Err(DnsError::Short));
        for cut in 12..good.len() {
            assert!(parse_query(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut none = good.clone();
        none[5] = 0;
        assert_eq!(parse_query(&none), Err(DnsError::NoQuestion));
        let mut ptr = good.clone();
        ptr[12] = 0xc0;
        assert_eq!(parse_query(&ptr), Err(DnsError::Compressed));
        let mut long = good.clone();
        long[12] = 64;
        assert_eq!(parse_query(&long), Err(DnsError::BadLabel));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut s: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let len = (s % 80) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (s >> (i % 56)) as u8).collect();
            let _ = parse_query(&bytes);
        }
    }
}
