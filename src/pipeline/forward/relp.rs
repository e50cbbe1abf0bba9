//! RELP, the client side of one session (rsyslog's `imrelp` is the
//! server; the protocol as librelp documents it, written here).
//!
//! Every frame, either way, is `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.
//! The client opens with `open` (txnr 1) offering `relp_version=0` and
//! `commands=syslog`; each message then is a `syslog` command with the
//! next txnr; the server answers every command with `rsp` under the same
//! txnr, its data starting with a status: `200` taken, `500` refused. A
//! `serverclose` (txnr 0) says the server is going away. txnr runs from
//! 1 to 999,999,999, then starts at 1 again.
//!
//! imrelp answers a session's commands in the order they came, so an
//! answer is matched to the oldest unanswered message; one that does not
//! match breaks the session (what it carried is sent again on the next).
//! A message counts as acknowledged when its `rsp` arrives: the
//! collector's process has it, not just its kernel.

use std::io;

/// The largest txnr; the one after it is 1.
const MAX_TXNR: u64 = 999_999_999;
/// Longest command name and DATALEN/TXNR digit counts read.
const MAX_COMMAND: usize = 32;
const MAX_DIGITS: usize = 9;
/// The largest `rsp` accepted (an open's answer lists the server's
/// offers; a few hundred bytes in practice).
const MAX_RSP: usize = 64 << 10;

/// The open command's offers.
const OFFERS: &str = concat!(
    "relp_version=0\nrelp_software=rand-guard,",
    env!("CARGO_PKG_VERSION"),
    "\ncommands=syslog"
);

/// The txnr of the command numbered `seq` on a session (open is 0).
fn txnr(seq: u64) -> u64 {
    seq % MAX_TXNR + 1
}

#[derive(Debug, Default)]
pub struct Session {
    /// `syslog` commands framed on this session.
    framed: u64,
    /// How many of them were answered (in order)...
    answered: u64,
    /// ...and how many answers said refused, not yet taken.
    refused: u64,
    opened: bool,
    /// The server said `serverclose`, or closed.
    pub closed: bool,
    /// Bytes received not yet making a whole frame.
    inbuf: Vec<u8>,
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("RELP: {what}"))
}

impl Session {
    /// The `open` command, to write first.
    pub fn open(&self, out: &mut Vec<u8>) {
        frame(out, txnr(0), "open", OFFERS.as_bytes());
    }

    /// Append the `syslog` command for `octet_frame` (an RFC 6587
    /// octet-counted frame, `LEN SP MSG`, which is RELP's `DATALEN SP
    /// DATA`); the number of messages framed on this session so far, the
    /// value [`Session::answered`] reaches once this one is answered.
    pub fn syslog(&mut self, octet_frame: &[u8], out: &mut Vec<u8>) -> u64 {
        self.framed += 1;
        out.extend_from_slice(itoa::Buffer::new().format(txnr(self.framed)).as_bytes());
        out.extend_from_slice(b" syslog ");
        out.extend_from_slice(octet_frame);
        out.push(b'\n');
        self.framed
    }

    /// The `close` command, to end the session politely.
    pub fn close(&self, out: &mut Vec<u8>) {
        frame(out, txnr(self.framed + 1), "close", b"");
    }

    pub fn opened(&self) -> bool {
        self.opened
    }

    /// Messages answered so far on this session, in order.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// Answers that said refused since the last call.
    pub fn take_refused(&mut self) -> u64 {
        std::mem::take(&mut self.refused)
    }

    /// Take bytes the server sent: every whole frame in them is read.
    pub fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Taken out while its frames are read, so that reading needs no
        // copy of them; put back with what is left.
        let mut buf = std::mem::take(&mut self.inbuf);
        buf.extend_from_slice(bytes);
        let mut at = 0;
        let result = loop {
            match parse(&buf[at..]) {
                Ok(Some((len, nr, command, data))) => {
                    at += len;
                    if let Err(e) = self.answer(nr, command, data) {
                        break Err(e);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        buf.drain(..at);
        self.inbuf = buf;
        result
    }

    fn answer(&mut self, nr: u64, command: &[u8], data: &[u8]) -> io::Result<()> {
        match command {
            b"serverclose" => {
                self.closed = true;
                Ok(())
            }
            b"rsp" => {
                let status = data.get(..3).unwrap_or(b"");
                if !self.opened {
                    if nr != txnr(0) {
                        return Err(bad(format!("answer {nr} before the open's")));
                    }
                    if status != b"200" {
                        return Err(bad(format!(
                            "the collector refused the session: {}",
                            String::from_utf8_lossy(data)
                        )));
                    }
                    // The answer lists the commands the server takes.
                    let offers = String::from_utf8_lossy(data);
                    let syslog = offers.lines().any(|l| {
                        l.strip_prefix("commands=")
                            .is_some_and(|c| c.split(',').any(|c| c == "syslog"))
                    });
                    if !syslog {
                        return Err(bad(format!(
                            "the collector does not take syslog commands: {offers:?}"
                        )));
                    }
                    self.opened = true;
                    return Ok(());
                }
                if self.answered >= self.framed {
                    return Err(bad(format!("answer for txnr {nr}, none was due")));
                }
                let want = txnr(self.answered + 1);
                if nr != want {
                    return Err(bad(format!("answer for txnr {nr}, expected {want}")));
                }
                self.answered += 1;
                if status != b"200" {
                    self.refused += 1;
                }
                Ok(())
            }
            other => Err(bad(format!(
                "unexpected command {:?} from the collector",
                String::from_utf8_lossy(other)
            ))),
        }
    }
}

/// Append one frame.
fn frame(out: &mut Vec<u8>, nr: u64, command: &str, data: &[u8]) {
    out.extend_from_slice(itoa::Buffer::new().format(nr).as_bytes());
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// One whole frame at the start of `buf`: its length, txnr, command and
/// data; None: not all of it is here yet.
type Frame<'a> = (usize, u64, &'a [u8], &'a [u8]);

fn parse(buf: &[u8]) -> io::Result<Option<Frame<'_>>> {
    let mut at = 0;
    let Some(nr) = number(buf, &mut at)? else {
        return Ok(None);
    };
    let start = at;
    while at < buf.len() && buf[at] != b' ' {
        if !buf[at].is_ascii_lowercase() || at - start >= MAX_COMMAND {
            return Err(bad(format!("bad command in {:?}", shown(buf))));
        }
        at += 1;
    }
    if at == buf.len() {
        return Ok(None);
    }
    let command = &buf[start..at];
    at += 1;
    let Some(len) = number(buf, &mut at)? else {
        return Ok(None);
    };
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_RSP {
        return Err(bad(format!("a frame of {len} bytes from the collector")));
    }
    // DATALEN ends at its SP, or at the trailer when there is no data.
    let data_start = at - 1;
    let (data, end) = if buf[data_start] == b'\n' && len == 0 {
        (&buf[..0], data_start)
    } else {
        if buf.len() < at + len + 1 {
            return Ok(None);
        }
        (&buf[at..at + len], at + len)
    };
    if buf[end] != b'\n' {
        return Err(bad(format!("no LF after a frame: {:?}", shown(buf))));
    }
    Ok(Some((end + 1, nr, command, data)))
}

/// Read the digits at `at` and the byte after them (SP, or LF after
/// DATALEN); None: the buffer ends first.
fn number(buf: &[u8], at: &mut usize) -> io::Result<Option<u64>> {
    let start = *at;
    while *at < buf.len() && buf[*at].is_ascii_digit() {
        if *at - start >= MAX_DIGITS {
            return Err(bad(format!("a number too long in {:?}", shown(buf))));
        }
        *at += 1;
    }
    if *at == buf.len() {
        return Ok(None);
    }
    if *at == start || !matches!(buf[*at], b' ' | b'\n') {
        return Err(bad(format!(
            "a frame does not start right: {:?}",
            shown(buf)
        )));
    }
    let n = std::str::from_utf8(&buf[start..*at])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    *at += 1;
    Ok(Some(n))
}

fn shown(buf: &[u8]) -> String {
    String::from_utf8_lossy(&buf[..buf.len().min(64)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened() -> Session {
        let mut s = Session::default();
        let answer = "200 OK\nrelp_version=0\nrelp_software=x\ncommands=syslog";
        s.take(format!("1 rsp {} {answer}\n", answer.len()).as_bytes())
            .unwrap();
        assert!(s.opened());
        s
    }

    #[test]
    fn frames_written() {
        let mut s = Session::default();
        let mut out = Vec::new();
        s.open(&mut out);
        let text = String::from_utf8(out).unwrap();
        let offers = format!(
            "relp_version=0\nrelp_software=rand-guard,{}\ncommands=syslog",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(text, format!("1 open {} {offers}\n", offers.len()));
        let mut out = Vec::new();
        assert_eq!(s.syslog(b"5 <13>1", &mut out), 1);
        assert_eq!(s.syslog(b"2 ab", &mut out), 2);
        s.close(&mut out);
        assert_eq!(out, b"2 syslog 5 <13>1\n3 syslog 2 ab\n4 close 0\n");
    }

    #[test]
    fn answers_in_pieces_refusals_and_serverclose() {
        let mut s = opened();
        let mut out = Vec::new();
        for _ in 0..3 {
            s.syslog(b"1 x", &mut out);
        }
        // An answer split across reads is read once whole.
        s.take(b"2 rsp 6 200").unwrap();
        assert_eq!(s.answered(), 0);
        s.take(b" OK\n3 rsp 9 500 error\n").unwrap();
        assert_eq!((s.answered(), s.take_refused()), (2, 1));
        assert_eq!(s.take_refused(), 0);
        assert!(!s.closed);
        s.take(b"4 rsp 6 200 OK\n0 serverclose 0\n").unwrap();
        assert_eq!(s.answered(), 3);
        assert!(s.closed);
    }

    #[test]
    fn txnr_wraps_to_one() {
        assert_eq!((txnr(0), txnr(1)), (1, 2));
        assert_eq!((txnr(MAX_TXNR - 1), txnr(MAX_TXNR)), (MAX_TXNR, 1));
        let mut s = opened();
        s.framed = MAX_TXNR - 1;
        s.answered = MAX_TXNR - 1;
        let mut out = Vec::new();
        s.syslog(b"1 x", &mut out);
        assert_eq!(out, b"1 syslog 1 x\n");
        s.take(b"1 rsp 6 200 OK\n").unwrap();
        assert_eq!(s.answered(), MAX_TXNR);
    }

    #[test]
    fn bad_answers_break_the_session() {
        let cases: [(&[u8], &str); 6] = [
            (b"2 rsp 6 200 OK\n", "answer 2 before the open's"),
            (b"1 rsp 9 500 error\n", "refused the session"),
            (b"1 rsp 6 200 OK\n", "does not take syslog commands"),
            (b"x rsp 0\n", "does not start right"),
            (b"1 RSP 0\n", "bad command"),
            (b"1 rsp 2 okX", "no LF after a frame"),
        ];
        for (bytes, want) in cases {
            let err = Session::default().take(bytes).unwrap_err().to_string();
            assert!(err.contains(want), "{bytes:?}: {err}");
        }
        let mut s = opened();
        let err = s.take(b"2 rsp 6 200 OK\n").unwrap_err().to_string();
        assert!(err.contains("answer for txnr 2, none was due"), "{err}");
        let mut out = Vec::new();
        s.syslog(b"1 x", &mut out);
        let err = s.take(b"3 rsp 6 200 OK\n").unwrap_err().to_string();
        assert!(err.contains("answer for txnr 3, expected 2"), "{err}");
        let err = opened().take(b"0 hello 0\n").unwrap_err().to_string();
        assert!(err.contains("unexpected command \"hello\""), "{err}");
    }
}
