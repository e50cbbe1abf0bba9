//! The guest's report, read from the second serial port: sections of
//! `RGSECTION <name> <status> <length>\n<bytes>\n`, then `RGEND\n`
//! (written by guest.sh).

use std::collections::BTreeMap;

#[derive(Debug, PartialEq)]
pub struct Section {
    /// The exit status of what the guest ran.
    pub status: i32,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub sections: BTreeMap<String, Section>,
    /// The guest got to its end (RGEND).
    pub complete: bool,
}

impl Report {
    pub fn get(&self, name: &str) -> Result<&Section, String> {
        self.sections
            .get(name)
            .ok_or_else(|| format!("the guest sent no section {name}"))
    }
}

pub fn parse(mut b: &[u8]) -> Result<Report, String> {
    let mut report = Report::default();
    let mut offset = 0usize;
    while !b.is_empty() {
        let nl = b
            .iter()
            .position(|&c| c == b'\n')
            .ok_or_else(|| format!("byte {offset}: a header without its newline"))?;
        let header = String::from_utf8_lossy(&b[..nl]).into_owned();
        let rest = &b[nl + 1..];
        if header == "RGEND" {
            report.complete = true;
            break;
        }
        let bad = |why: &str| format!("byte {offset}: {why}: {header:?}");
        let words: Vec<&str> = header.split(' ').collect();
        let ["RGSECTION", name, status, len] = words.as_slice() else {
            return Err(bad("not a section header"));
        };
        let status: i32 = status.parse().map_err(|_| bad("bad status"))?;
        let len: usize = len.parse().map_err(|_| bad("bad length"))?;
        if rest.len() < len + 1 || rest[len] != b'\n' {
            return Err(bad(
                "section cut short (the guest stopped while sending it?)",
            ));
        }
        let text = String::from_utf8_lossy(&rest[..len]).into_owned();
        if report
            .sections
            .insert(name.to_string(), Section { status, text })
            .is_some()
        {
            return Err(bad("section sent twice"));
        }
        offset += nl + 1 + len + 1;
        b = &rest[len + 1..];
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_end() {
        let r = parse(b"RGSECTION a.b 0 6\nx\ny\nz\n\nRGSECTION c 3 0\n\nRGEND\n").unwrap();
        assert!(r.complete);
        assert_eq!(
            r.get("a.b").unwrap(),
            &Section {
                status: 0,
                text: "x\ny\nz\n".into()
            }
        );
        assert_eq!(r.get("c").unwrap().status, 3);
        assert_eq!(r.get("c").unwrap().text, "");
        assert!(r.get("d").unwrap_err().contains("no section d"));
    }

    #[test]
    fn a_report_without_end_is_incomplete() {
        let r = parse(b"RGSECTION a 0 1\nx\n").unwrap();
        assert!(!r.complete);
        assert_eq!(r.sections.len(), 1);
    }

    #[test]
    fn damage_is_named() {
        for (bytes, why) in [
            (&b"RGSECTION a 0 5\nxy\n"[..], "cut short"),
            (b"RGSECTION a 0 1\nxy\n", "cut short"),
            (b"garbage\n", "not a section header"),
            (b"RGSECTION a x 1\nx\n", "bad status"),
            (b"RGSECTION a 0 1\nx\nRGSECTION a 0 1\nx\n", "sent twice"),
            (b"RGSECTION a 0 1", "without its newline"),
        ] {
            let e = parse(bytes).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
