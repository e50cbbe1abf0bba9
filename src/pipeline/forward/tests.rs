use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{Facility, Transport};
use crate::model::alert::Severity;
use crate::model::stats::Snapshot;

fn cfg(transport: Transport, address: &str) -> Syslog {
    Syslog {
        transport,
        address: address.into(),
        facility: Facility::Auth,
        queue_records: 16,
        max_message_bytes: 1024,
        ..Syslog::default()
    }
}

fn start_with(c: &Syslog, stats: &Arc<Stats>) -> (Handoff, Arc<StopClock>) {
    let clock = Arc::new(StopClock::new(Duration::from_secs(2)));
    let h = start(c, "host-a", stats.clone(), clock.clone()).unwrap();
    (h, clock)
}

fn drops(stats: &Stats) -> Vec<(&'static str, u64)> {
    stats.snapshot().forward_drops_total
}

/// `<PRI>1 TIMESTAMP host-a rand-guard PID MSGID - MSG` with the
/// timestamp's shape checked and replaced by `T`.
fn shape(msg: &str) -> String {
    let mut parts = msg.splitn(3, ' ');
    let (head, time, rest) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert_eq!(time.len(), syslog::TIMESTAMP_LEN, "{msg}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{msg}");
    let pid = std::process::id().to_string();
    format!("{head} T {}", rest.replacen(&pid, "PID", 1))
}

#[test]
fn datagrams_carry_each_record_with_its_severity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let collector = UnixDatagram::bind(&path).unwrap();
    collector
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let stats = Arc::new(Stats::default());
    let (mut h, _clock) = start_with(&cfg(Transport::Unix, path.to_str().unwrap()), &stats);
    h.add(br#"{"e":1}"#, Tag::Event);
    h.add(br#"{"a":2}"#, Tag::Alert(Severity::High));
    h.add(br#"{"h":3}"#, Tag::Health);
    h.flush();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        let n = collector.recv(&mut buf).unwrap();
        got.push(shape(std::str::from_utf8(&buf[..n]).unwrap()));
    }
    // auth is facility 4: 4*8+6, 4*8+3, 4*8+5.
    assert_eq!(
        got,
        [
            r#"<38>1 T host-a rand-guard PID event - {"e":1}"#,
            r#"<35>1 T host-a rand-guard PID alert - {"a":2}"#,
            r#"<37>1 T host-a rand-guard PID health - {"h":3}"#,
        ]
    );
    h.finish();
    let s = stats.snapshot();
    assert_eq!((s.forward_messages_total, s.forward_queued_records), (3, 0));
    assert!(drops(&stats).iter().all(|(_, n)| *n == 0));
}

#[test]
fn collector_down_at_start_queues_then_counts_then_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.sock");
    let stats = Arc::new(Stats::default());
    let (mut h, _clock) = start_with(&cfg(Transport::Unix, path.to_str().unwrap()), &stats);
    // 10 fit the queue of 16; a batch of 7 more does not, and is counted.
    for i in 0..10 {
        h.add(format!("{{\"n\":{i}}}").as_bytes(), Tag::Event);
    }
    h.flush();
    for i in 10..17 {
        h.add(format!("{{\"n\":{i}}}").as_bytes(), Tag::Event);
    }
    h.flush();
    let s = stats.snapshot();
    assert_eq!(s.forward_queued_records, 10);
    assert_eq!(
        Snapshot::of(&s.forward_drops_total, "collector_down"),
        7,
        "{:?}",
        s.forward_drops_total
    );
    let collector = UnixDatagram::bind(&path).unwrap();
    collector
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 2048];
    for i in 0..10 {
        let n = collector.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(msg.ends_with(&format!(" event - {{\"n\":{i}}}")), "{msg}");
    }
    h.finish();
    assert_eq!(stats.snapshot().forward_messages_total, 10);
}

#[test]
fn tcp_frames_are_octet_counted_and_oversized_records_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stats = Arc::new(Stats::default());
    let (mut h, _clock) = start_with(&cfg(Transport::Tcp, &addr), &stats);
    let big = format!("{{\"x\":\"{}\"}}", "y".repeat(1100));
    h.add(br#"{"e":1}"#, Tag::Event);
    h.add(big.as_bytes(), Tag::Event);
    h.add(br#"{"a":"\u00e9"}"#, Tag::Alert(Severity::Critical));
    h.flush();
    let (sock, _) = listener.accept().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(sock);
    let mut frames = Vec::new();
    for _ in 0..2 {
        let mut len = Vec::new();
        r.read_until(b' ', &mut len).unwrap();
        let n: usize = std::str::from_utf8(&len[..len.len() - 1])
            .unwrap()
            .parse()
            .unwrap();
        let mut msg = vec![0u8; n];
        r.read_exact(&mut msg).unwrap();
        frames.push(shape(&String::from_utf8(msg).unwrap()));
    }
    assert_eq!(
        frames,
        [
            r#"<38>1 T host-a rand-guard PID event - {"e":1}"#,
            r#"<34>1 T host-a rand-guard PID alert - {"a":"\u00e9"}"#,
        ]
    );
    h.finish();
    let s = stats.snapshot();
    assert_eq!(s.forward_messages_total, 2);
    assert_eq!(Snapshot::of(&s.forward_drops_total, "too_large"), 1);
    // The connection was closed, not reset: the collector read all.
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn an_unreachable_collector_at_stop_is_counted_within_the_stop_clock() {
    // A port nothing listens on (bound, then closed).
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let stats = Arc::new(Stats::default());
    let (mut h, clock) = start_with(&cfg(Transport::Tcp, &addr), &stats);
    for _ in 0..5 {
        h.add(b"{}", Tag::Event);
    }
    h.flush();
    let t = Instant::now();
    clock.start();
    h.finish();
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    let s = stats.snapshot();
    assert_eq!(Snapshot::of(&s.forward_drops_total, "shutdown"), 5);
    assert_eq!((s.forward_queued_records, s.forward_connected), (0, 0));
    assert!(s.forward_errors_total >= 1);
}

#[test]
fn tls_files_are_checked_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("ca.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let stats = Arc::new(Stats::default());
    let clock = Arc::new(StopClock::new(Duration::from_secs(1)));
    let mut c = cfg(Transport::Tls, "collector.example:6514");
    for (ca, key, why) in [
        (
            "/nonexistent/ca.pem",
            "forward.syslog.tls_ca",
            "cannot read",
        ),
        (
            garbage.to_str().unwrap(),
            "forward.syslog.tls_ca",
            "holds no PEM certificate",
        ),
    ] {
        c.tls_ca = ca.into();
        let e = start(&c, "h", stats.clone(), clock.clone())
            .err()
            .expect("an error");
        assert_eq!(e.key, key);
        assert!(e.reason.contains(why), "{e}");
    }
}

/// One RELP frame as a test collector reads it: txnr, command, data.
fn relp_frame(r: &mut impl BufRead) -> (u64, String, String) {
    let mut field = |end: &[u8]| {
        let mut f = Vec::new();
        loop {
            let mut b = [0u8];
            r.read_exact(&mut b).unwrap();
            if end.contains(&b[0]) {
                return (String::from_utf8(f).unwrap(), b[0]);
            }
            f.push(b[0]);
        }
    };
    let (txnr, _) = field(b" ");
    let (command, _) = field(b" ");
    let (len, after) = field(b" \n");
    let len: usize = len.parse().unwrap();
    let mut data = vec![0u8; len];
    if after == b' ' {
        r.read_exact(&mut data).unwrap();
        let mut lf = [0u8];
        r.read_exact(&mut lf).unwrap();
        assert_eq!(lf, *b"\n");
    }
    (
        txnr.parse().unwrap(),
        command,
        String::from_utf8(data).unwrap(),
    )
}

/// Accept a RELP session: read `open`, answer it; a reader and a writer.
fn relp_accept(l: &TcpListener) -> (BufReader<std::net::TcpStream>, std::net::TcpStream) {
    let (sock, _) = l.accept().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    let (txnr, command, offers) = relp_frame(&mut r);
    assert_eq!((txnr, command.as_str()), (1, "open"));
    assert!(offers.starts_with("relp_version=0\n"), "{offers:?}");
    assert!(offers.ends_with("\ncommands=syslog"), "{offers:?}");
    let answer = "200 OK\nrelp_version=0\ncommands=syslog";
    let mut w = sock;
    std::io::Write::write_all(
        &mut w,
        format!("1 rsp {} {answer}\n", answer.len()).as_bytes(),
    )
    .unwrap();
    (r, w)
}

/// Read `n` syslog commands: (txnr, the JSON each carries).
fn relp_messages(r: &mut impl BufRead, n: usize) -> Vec<(u64, String)> {
    (0..n)
        .map(|_| {
            let (txnr, command, msg) = relp_frame(r);
            assert_eq!(command, "syslog", "{msg}");
            (txnr, msg.rsplit_once(" - ").unwrap().1.to_string())
        })
        .collect()
}

fn relp_answer(w: &mut std::net::TcpStream, txnr: u64, status: &str) {
    std::io::Write::write_all(
        w,
        format!("{txnr} rsp {} {status}\n", status.len()).as_bytes(),
    )
    .unwrap();
}

#[test]
fn relp_sends_unanswered_messages_again_and_counts_refused_ones() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stats = Arc::new(Stats::default());
    let (mut h, _clock) = start_with(&cfg(Transport::Relp, &addr), &stats);
    for i in 0..4 {
        h.add(format!("{{\"n\":{i}}}").as_bytes(), Tag::Event);
    }
    h.flush();
    // The first session: all four come, two are answered, then it ends
    // as a collector that stops does.
    let (mut r, mut w) = relp_accept(&listener);
    let got = relp_messages(&mut r, 4);
    let want: Vec<(u64, String)> = (0..4).map(|i| (i + 2, format!("{{\"n\":{i}}}"))).collect();
    assert_eq!(got, want);
    relp_answer(&mut w, 2, "200 OK");
    relp_answer(&mut w, 3, "200 OK");
    std::io::Write::write_all(&mut w, b"0 serverclose 0\n").unwrap();
    drop((r, w));
    // The second: the two unanswered again, numbered anew, then a new
    // one; one of the three refused.
    let (mut r, mut w) = relp_accept(&listener);
    let again = relp_messages(&mut r, 2);
    assert_eq!(
        again,
        [(2, r#"{"n":2}"#.to_string()), (3, r#"{"n":3}"#.to_string())]
    );
    h.add(br#"{"n":4}"#, Tag::Event);
    h.flush();
    assert_eq!(relp_messages(&mut r, 1), [(4, r#"{"n":4}"#.to_string())]);
    relp_answer(&mut w, 2, "200 OK");
    relp_answer(&mut w, 3, "500 error");
    relp_answer(&mut w, 4, "200 OK");
    h.finish();
    // The session ends with close, answered by nobody: the agent stops.
    assert_eq!(relp_frame(&mut r), (5, "close".to_string(), String::new()));
    let s = stats.snapshot();
    assert_eq!(
        (s.forward_messages_total, s.forward_resent_total),
        (5, 2),
        "{s:?}"
    );
    let d = &s.forward_drops_total;
    assert_eq!(Snapshot::of(d, "rejected"), 1, "{d:?}");
    assert_eq!(d.iter().map(|(_, n)| n).sum::<u64>(), 1, "{d:?}");
    assert!(s.forward_errors_total >= 1);
}

#[test]
fn relp_collector_that_does_not_take_syslog_is_a_connection_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stats = Arc::new(Stats::default());
    let (mut h, clock) = start_with(&cfg(Transport::Relp, &addr), &stats);
    h.add(b"{}", Tag::Event);
    h.flush();
    let (sock, _) = listener.accept().unwrap();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    assert_eq!(relp_frame(&mut r).1, "open");
    let mut w = sock;
    relp_answer(&mut w, 1, "500 go away");
    // It tries again (a new connection) and never sends the message.
    let (sock, _) = listener.accept().unwrap();
    drop(sock);
    clock.start();
    h.finish();
    let s = stats.snapshot();
    assert!(s.forward_errors_total >= 1, "{s:?}");
    assert_eq!(Snapshot::of(&s.forward_drops_total, "shutdown"), 1);
    assert_eq!(s.forward_messages_total, 0);
}
