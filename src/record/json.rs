//! A small JSON writer for the hot path: events and alerts are written
//! straight from the event into the output buffer, without serde's
//! machinery (`fmt` adapters for every string and number were most of the
//! writer thread's CPU).
//!
//! The bytes are serde_json's compact form exactly (the serde documents in
//! `reference.rs` are the tests' oracle): no spaces, strings escaped as
//! serde_json escapes them, integers in decimal.

/// Appends JSON to a buffer. One comma flag serves every nesting level:
/// opening an object or array clears it (no comma before the first
/// member); a written member sets it; closing a container leaves it set,
/// since the container is itself a member of its parent.
pub(super) struct Json<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Json<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Json { out, first: true }
    }

    pub fn begin_object(&mut self) {
        self.out.push(b'{');
        self.first = true;
    }

    pub fn end_object(&mut self) {
        self.out.push(b'}');
        self.first = false;
    }

    pub fn begin_array(&mut self) {
        self.out.push(b'[');
        self.first = true;
    }

    pub fn end_array(&mut self) {
        self.out.push(b']');
        self.first = false;
    }

    /// The separator before a member: nothing for the first.
    fn sep(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    /// `"k":`, with the comma before it when needed. Keys are the literal
    /// field names of the schema: plain ASCII, written without escaping.
    pub fn key(&mut self, k: &str) {
        debug_assert!(k.bytes().all(|b| ESCAPE[usize::from(b)] == 0));
        self.sep();
        self.out.reserve(k.len() + 3);
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// Before an array element.
    pub fn elem(&mut self) {
        self.sep();
    }

    /// A string value, quoted and escaped.
    pub fn str(&mut self, s: &str) {
        self.out.push(b'"');
        escape_into(self.out, s.as_bytes());
        self.out.push(b'"');
    }

    /// The strings joined by `sep`, as one string value (no joined copy).
    pub fn str_joined(&mut self, parts: &[String], sep: &str) {
        self.out.push(b'"');
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                escape_into(self.out, sep.as_bytes());
            }
            escape_into(self.out, p.as_bytes());
        }
        self.out.push(b'"');
    }

    /// An integer as a JSON number.
    pub fn int<I: itoa::Integer>(&mut self, v: I) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    /// An integer as a JSON string (ECS ids are keywords).
    pub fn int_str<I: itoa::Integer>(&mut self, v: I) {
        self.out.push(b'"');
        self.int(v);
        self.out.push(b'"');
    }

    pub fn bool(&mut self, v: bool) {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// Text already known to need no escaping, as a string value.
    pub fn clean_str(&mut self, s: &[u8]) {
        debug_assert!(s.iter().all(|b| ESCAPE[usize::from(*b)] == 0));
        self.out.push(b'"');
        self.out.extend_from_slice(s);
        self.out.push(b'"');
    }

    /// The buffer, to append text formatted elsewhere (a value's bytes).
    pub fn raw(&mut self) -> &mut Vec<u8> {
        self.out
    }
}

// What serde_json writes for each byte: 0 copies it, anything else is the
// character after the backslash (`u`: `\u00XX`). Control characters,
// the quote and the backslash; nothing else (not DEL, not non-ASCII).
const UU: u8 = b'u';
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = UU;
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Whether any of the 8 bytes of `w` needs escaping: one below 0x20, a
/// quote or a backslash. Exact as a yes/no (the classic "has a zero byte"
/// test, on `w` and on `w` xor the quote and the backslash).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b;
    (below_space | quote | backslash) & HIGH != 0
}

/// Appends `s` escaped as in a JSON string (without the quotes). Runs that
/// need no escaping, nearly all text, are found 8 bytes at a time and
/// copied whole.
pub(super) fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    let mut i = 0;
    loop {
        while let Some(w) = s.get(i..i + 8) {
            if word_needs_escape(u64::from_le_bytes(w.try_into().unwrap())) {
                break;
            }
            i += 8;
        }
        // The byte to escape is among the next 8, or this is the tail.
        let Some(&b) = s.get(i) else { break };
        let esc = ESCAPE[usize::from(b)];
        i += 1;
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&s[start..i - 1]);
        start = i;
        if esc == UU {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
    }
    out.extend_from_slice(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        Json::new(&mut out).str(s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é€😀\u{7f}\u{80}\u{2028}");
        let mut cases = vec![
            String::new(),
            all.clone(),
            all.repeat(3),
            "\"".into(),
            "\\".into(),
            "/usr/bin/\"quoted\" \\back\\slash\ttab\nnewline".into(),
        ];
        // Every byte that needs escaping at every offset of a 17-byte
        // string: the word scan must catch it wherever it falls.
        for b in (0u8..0x20).chain([b'"', b'\\']) {
            for at in 0..17 {
                let mut s = vec![b'a'; 17];
                s[at] = b;
                cases.push(String::from_utf8(s).unwrap());
            }
        }
        // Bytes just above and below the ones escaped, in words.
        cases.push("!#[]^_`\u{20}\u{21}\u{5b}\u{5d}~~~~~~~~".into());
        for s in &cases {
            assert_eq!(escaped(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn word_test_matches_the_table() {
        // Every byte value in every position of a word of clean bytes.
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                assert_eq!(
                    word_needs_escape(u64::from_le_bytes(w)),
                    ESCAPE[usize::from(b)] != 0,
                    "{b:#x} at {pos}"
                );
            }
        }
        // Pairs: a borrow from one byte must not hide or fake another.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let w = [a, b, a, b, b'a', b, a, b'a'];
                let want = w.iter().any(|x| ESCAPE[usize::from(*x)] != 0);
                assert_eq!(word_needs_escape(u64::from_le_bytes(w)), want);
            }
        }
    }

    #[test]
    fn nesting_and_commas() {
        let mut out = Vec::new();
        let mut w = Json::new(&mut out);
        w.begin_object();
        w.key("a");
        w.begin_object();
        w.end_object();
        w.key("b");
        w.begin_array();
        w.elem();
        w.int(1u8);
        w.elem();
        w.begin_array();
        w.end_array();
        w.elem();
        w.int_str(-2i64);
        w.end_array();
        w.key("c");
        w.bool(false);
        w.key("d");
        w.str_joined(&["x".into(), "\"y".into()], " ");
        w.end_object();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{},"b":[1,[],"-2"],"c":false,"d":"x \"y"}"#
        );
    }
}
