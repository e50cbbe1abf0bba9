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
