//! A small JSON writer for the hot path: events and alerts are written
//! straight from the event into the output buffer, without serde's
//! machinery (`fmt` adapters for every string and number were most of the
//! writer thread's CPU).
//!
//! The bytes are serde_json's compact form exactly (the serde documents in
//! `reference.rs` are the tests' oracle): no spaces, strings escaped as
//! serde_json escapes them, integers in decimal.

/// `key!(w, "name")`: the member name `name` (see [`Json::key`]).
macro_rules! key {
    ($w:expr, $k:literal) => {
        $w.key(concat!(",\"", $k, "\":"))
    };
}
pub(super) use key;

/// Appends JSON to a buffer. One comma flag serves every nesting level:
/// opening an object or array clears it (no comma before the first
/// member); a written member sets it; closing a container leaves it set,
/// since the container is itself a member of its parent.
pub(super) struct Json<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Json<'a> {
    #[inline]
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Json { out, first: true }
    }

    #[inline]
    pub fn begin_object(&mut self) {
        self.out.push(b'{');
        self.first = true;
    }

    #[inline]
    pub fn end_object(&mut self) {
        self.out.push(b'}');
        self.first = false;
    }

    #[inline]
    pub fn begin_array(&mut self) {
        self.out.push(b'[');
        self.first = true;
    }

    #[inline]
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

    /// `"k":`, with the comma before it when needed; `comma_key` is
    /// `,"k":` (the [`key!`] macro builds it from the name at compile
    /// time, so a key is one copy of a constant). Keys are the literal
    /// field names of the schema: plain ASCII, written without escaping.
    #[inline(always)]
    pub fn key(&mut self, comma_key: &'static str) {
        debug_assert!(
            comma_key[1..]
                .bytes()
                .all(|b| b == b'"' || ESCAPE[usize::from(b)] == 0)
        );
        let k = comma_key.as_bytes();
        if self.first {
            self.out.extend_from_slice(&k[1..]);
        } else {
            self.out.extend_from_slice(k);
        }
        self.first = false;
    }

    /// `"k":` for a name from the program's own tables (a record kind,
    /// a stage: no escaping needed), with the comma before it when needed:
    /// the members of a map such as `rand_guard.loss.kernel_ringbuf_drops`.
    #[inline]
    pub fn name(&mut self, k: &'static str) {
        self.sep();
        self.lit(k);
        self.out.push(b':');
    }

    /// Before an array element.
    #[inline]
    pub fn elem(&mut self) {
        self.sep();
    }

    /// A string value, quoted and escaped.
    #[inline]
    pub fn str(&mut self, s: &str) {
        self.out.push(b'"');
        escape_into(self.out, s.as_bytes());
        self.out.push(b'"');
    }

    /// A name the program itself chose (a `&'static str`: the schema's
    /// constants, enum and syscall names from the code's tables), written
    /// without the escaping scan: none of them needs escaping (a test
    /// checks the tables).
    #[inline]
    pub fn lit(&mut self, s: &'static str) {
        debug_assert!(s.bytes().all(|b| ESCAPE[usize::from(b)] == 0), "{s:?}");
        self.out.push(b'"');
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(b'"');
    }

    /// The strings joined by `sep`, as one string value (no joined copy).
    #[inline]
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
    #[inline]
    pub fn int<I: itoa::Integer>(&mut self, v: I) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    /// An integer as a JSON string (ECS ids are keywords).
    #[inline]
    pub fn int_str<I: itoa::Integer>(&mut self, v: I) {
        self.out.push(b'"');
        self.int(v);
        self.out.push(b'"');
    }

    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// Text already known to need no escaping, as a string value.
    #[inline]
    pub fn clean_str(&mut self, s: &[u8]) {
        debug_assert!(s.iter().all(|b| ESCAPE[usize::from(*b)] == 0));
        self.out.push(b'"');
        self.out.extend_from_slice(s);
        self.out.push(b'"');
    }

    /// A whole value serialized earlier (by a `Json` of its own: a value
    /// does not depend on what precedes it, only its key's comma does).
    #[inline]
    pub fn value_bytes(&mut self, v: &[u8]) {
        self.out.extend_from_slice(v);
        self.first = false;
    }

    /// Members of the enclosing object serialized earlier, by a `Json`
    /// of their own (so without the comma before the first).
    #[inline]
    pub fn member_bytes(&mut self, m: &[u8]) {
        self.sep();
        self.out.extend_from_slice(m);
    }

    /// The buffer, to append text formatted elsewhere (a value's bytes).
    #[inline]
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

/// Appends `s` escaped as in a JSON string (without the quotes). Nearly
/// all text needs no escaping: it is checked and copied 8 bytes at a time
/// (constant-size copies, no memmove call for each short string).
#[inline]
pub(super) fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len());
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let w: [u8; 8] = w.try_into().unwrap();
        if word_needs_escape(u64::from_le_bytes(w)) {
            w.iter().for_each(|b| escape_byte(out, *b));
        } else {
            out.extend_from_slice(&w);
        }
    }
    // The tail, fewer than 8 bytes: checked as one word padded with clean
    // bytes, and copied as 8 bytes then cut back (again no memmove call).
    let tail = words.remainder();
    if tail.is_empty() {
        return;
    }
    let mut w = u64::from_le_bytes([b'a'; 8]);
    for (i, b) in tail.iter().enumerate() {
        let shift = 8 * i;
        w = (w & !(0xff << shift)) | (u64::from(*b) << shift);
    }
    if word_needs_escape(w) {
        tail.iter().for_each(|b| escape_byte(out, *b));
    } else {
        let len = out.len() + tail.len();
        out.extend_from_slice(&w.to_le_bytes());
        out.truncate(len);
    }
}

#[inline(always)]
fn escape_byte(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ESCAPE[usize::from(b)] {
        0 => out.push(b),
        UU => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
        esc => out.extend_from_slice(&[b'\\', esc]),
    }
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
        key!(w, "a");
        w.begin_object();
        w.end_object();
        key!(w, "b");
        w.begin_array();
        w.elem();
        w.int(1u8);
        w.elem();
        w.begin_array();
        w.end_array();
        w.elem();
        w.int_str(-2i64);
        w.end_array();
        key!(w, "c");
        w.bool(false);
        key!(w, "d");
        w.str_joined(&["x".into(), "\"y".into()], " ");
        w.end_object();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{},"b":[1,[],"-2"],"c":false,"d":"x \"y"}"#
        );
    }
}
