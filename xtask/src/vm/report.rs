//! What the guest hands back on its second serial port (see
//! guest-init.sh): sections framed as
//! `\n==RG-BEGIN <name> <bytes>==\n<bytes>\n==RG-END <name>==\n`, then
//! `==RG-DONE==`. The byte count catches a section cut short (a guest that
//! died while writing, a port not in raw mode).
//!
//! The workload runs once per hook path ([`PASSES`]); each pass has its
//! own facts, stderr and records (`facts-<pass>`, ...), the kernel log is
//! the boot's.

use std::collections::BTreeMap;

use serde_json::Value;

/// The guest's facts (what it ran: pids, ports, exit statuses), the
/// agent's stderr and records, and the kernel log's tail.
#[derive(Debug, Default)]
pub struct Report {
    /// The hook path of this pass (`[kernel] hooks`): one of [`PASSES`].
    pub pass: &'static str,
    pub facts: BTreeMap<String, String>,
    pub stderr: String,
    pub records: Vec<Value>,
    pub dmesg: String,
}

impl Report {
    pub fn fact(&self, key: &str) -> Option<&str> {
        self.facts.get(key).map(String::as_str)
    }
}

/// The sections of the data port's bytes, by name.
pub fn sections(data: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    const BEGIN: &[u8] = b"\n==RG-BEGIN ";
    let mut out = BTreeMap::new();
    let mut rest = data;
    while let Some(at) = find(rest, BEGIN) {
        let header_start = at + BEGIN.len();
        let header_end = find(&rest[header_start..], b"==\n")
            .ok_or("a section header is cut short")?
            + header_start;
        let header = String::from_utf8_lossy(&rest[header_start..header_end]).into_owned();
        let (name, len) = header
            .split_once(' ')
            .and_then(|(n, l)| Some((n.to_string(), l.trim().parse::<usize>().ok()?)))
            .ok_or_else(|| format!("bad section header `{header}`"))?;
        let body_start = header_end + 3;
        let end = format!("\n==RG-END {name}==\n");
        let body = rest
            .get(body_start..body_start + len)
            .ok_or_else(|| format!("section {name}: fewer than its {len} bytes arrived"))?;
        if !rest[body_start + len..].starts_with(end.as_bytes()) {
            return Err(format!(
                "section {name}: not {len} bytes then its end marker (bytes lost or added on the port)"
            ));
        }
        out.insert(name, body.to_vec());
        rest = &rest[body_start + len + end.len() - 1..];
    }
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The guest's passes, in the order it runs them (guest-init.sh): the
/// shipped default ("auto": the fast path where the kernel allows it),
/// then the syscall tracepoints forced.
pub const PASSES: [&str; 2] = ["auto", "tracepoint"];

/// Parses the data port's bytes into one report per pass; every section
/// must be there and every record line must be JSON.
pub fn parse(data: &[u8]) -> Result<Vec<Report>, String> {
    if find(data, b"==RG-DONE==").is_none() {
        return Err("the guest did not finish writing its report (no ==RG-DONE==)".into());
    }
    let mut s = sections(data)?;
    let mut take = |name: &str| {
        s.remove(name)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or_else(|| format!("no `{name}` section"))
    };
    let dmesg = take("dmesg")?;
    PASSES
        .iter()
        .map(|pass| {
            let mut r = parse_pass(&mut |n: &str| take(&format!("{n}-{pass}")))?;
            r.pass = pass;
            r.dmesg = dmesg.clone();
            Ok(r)
        })
        .collect()
}

/// One pass's sections, `take` giving each by its base name.
fn parse_pass(take: &mut dyn FnMut(&str) -> Result<String, String>) -> Result<Report, String> {
    let facts = take("facts")?
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let stderr = take("stderr")?;
    let records = take("records")?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("record line {}: {e}: {l}", i + 1))
        })
        .collect::<Result<_, _>>()?;
    Ok(Report {
        facts,
        stderr,
        records,
        ..Report::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(name: &str, body: &str) -> String {
        format!(
            "\n==RG-BEGIN {name} {}==\n{body}\n==RG-END {name}==\n",
            body.len()
        )
    }

    #[test]
    fn sections_parse_with_their_byte_counts() {
        let data = [
            "\r\nnoise before\n".to_string(),
            section("facts-auto", "ready=yes\ntrue_pid=42\n"),
            section("stderr-auto", "rand-guard: ready\n"),
            section("records-auto", "{\"a\":1}\n\n{\"b\":2}\n"),
            section("facts-tracepoint", "ready=no\n"),
            section("stderr-tracepoint", ""),
            section("records-tracepoint", ""),
            section("dmesg", "oops"),
            "\n==RG-DONE==\n".to_string(),
        ]
        .concat();
        let passes = parse(data.as_bytes()).unwrap();
        let [r, t] = passes.as_slice() else {
            panic!("{passes:?}")
        };
        assert_eq!((r.pass, t.pass), ("auto", "tracepoint"));
        assert_eq!(r.fact("true_pid"), Some("42"));
        assert_eq!(r.fact("ready"), Some("yes"));
        assert_eq!(r.stderr, "rand-guard: ready\n");
        assert_eq!(r.records, vec![json(r#"{"a":1}"#), json(r#"{"b":2}"#)]);
        assert_eq!((t.fact("ready"), t.records.len()), (Some("no"), 0));
        assert_eq!((r.dmesg.as_str(), t.dmesg.as_str()), ("oops", "oops"));
    }

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn a_short_section_or_no_done_marker_is_an_error() {
        let cut = "\n==RG-BEGIN facts-auto 20==\nready=yes\n==RG-END facts-auto==\n\n==RG-DONE==\n";
        let e = parse(cut.as_bytes()).unwrap_err();
        assert!(e.contains("section facts-auto"), "{e}");
        let unfinished = section("facts", "ready=yes\n");
        let e = parse(unfinished.as_bytes()).unwrap_err();
        assert!(e.contains("RG-DONE"), "{e}");
        let bad = [
            section("facts-auto", ""),
            section("stderr-auto", ""),
            section("records-auto", "{not json\n"),
            section("dmesg", ""),
            "==RG-DONE==\n".into(),
        ]
        .concat();
        let e = parse(bad.as_bytes()).unwrap_err();
        assert!(e.starts_with("record line 1:"), "{e}");
    }
}
