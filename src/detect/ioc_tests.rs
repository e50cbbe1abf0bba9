use super::*;

fn feeds(kind: Parse, text: &str) -> Result<Feeds, IocError> {
    let mut f = Feeds::default();
    f.add(Path::new("/etc/rand-guard/ioc/list.txt"), text, kind)?;
    f.hashes.sort_by_key(|e| e.0);
    Ok(f)
}

fn err(kind: Parse, text: &str) -> String {
    feeds(kind, text).unwrap_err().to_string()
}

#[test]
fn hashes_with_comments_blank_lines_and_any_case() {
    let a = "AB".repeat(32);
    let f = feeds(
        Feeds::add_sha256,
        &format!("# a feed\n\n  {a}  # dropper\n{}\n", "01".repeat(32)),
    )
    .unwrap();
    assert_eq!(f.len(), 2);
    let m = f.hash(&"ab".repeat(32)).unwrap();
    assert_eq!(
        m,
        Match {
            list: "/etc/rand-guard/ioc/list.txt".into(),
            entry: "ab".repeat(32),
            kind: Kind::File,
        }
    );
    assert!(f.hash(&"ab".repeat(31)).is_none());
    assert!(f.hash(&"ac".repeat(32)).is_none());
}

#[test]
fn bad_lines_are_named_by_file_and_line() {
    assert_eq!(
        err(Feeds::add_sha256, &format!("{}\n\nabc\n", "00".repeat(32))),
        "ioc list /etc/rand-guard/ioc/list.txt line 3: \"abc\": not a SHA-256 digest (64 hex digits)"
    );
    assert_eq!(
        err(Feeds::add_ip, "# c\n10.0.0.1/8\n"),
        "ioc list /etc/rand-guard/ioc/list.txt line 2: \"10.0.0.1/8\": host bits set (the block is 10.0.0.0/8)"
    );
    assert_eq!(
        err(Feeds::add_ip, "10.0.0.0/33\n"),
        "ioc list /etc/rand-guard/ioc/list.txt line 1: \"10.0.0.0/33\": prefix length must be from 0 to 32"
    );
    assert_eq!(
        err(Feeds::add_ip, "evil.example\n"),
        "ioc list /etc/rand-guard/ioc/list.txt line 1: \"evil.example\": not an IP address or CIDR block"
    );
    assert_eq!(
        err(Feeds::add_domain, "ok.example\nbad domain\n"),
        "ioc list /etc/rand-guard/ioc/list.txt line 2: \"bad domain\": not a domain name (labels of 1 to 63 letters, digits, `-`, `_`)"
    );
    assert!(err(Feeds::add_domain, "a..b\n").contains("line 1"));
    let missing = Feeds::load(&config::Ioc {
        ip_files: vec!["/nonexistent/rg-ioc".into()],
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(missing.line, None);
    assert!(
        missing
            .to_string()
            .starts_with("ioc list /nonexistent/rg-ioc: cannot read:")
    );
}

#[test]
fn addresses_and_cidr_blocks_v4_and_v6() {
    let f = feeds(
        Feeds::add_ip,
        "203.0.113.7\n2001:db8::1\n10.0.0.0/8\n2001:db8:aa00::/40\n0.0.0.0/0\n",
    )
    .unwrap();
    let ip = |s: &str| f.ip(s.parse().unwrap()).map(|m| (m.entry, m.kind));
    assert_eq!(ip("203.0.113.7"), Some(("203.0.113.7".into(), Kind::Ipv4)));
    assert_eq!(
        ip("::ffff:203.0.113.7"),
        Some(("203.0.113.7".into(), Kind::Ipv4))
    );
    assert_eq!(ip("2001:db8::1"), Some(("2001:db8::1".into(), Kind::Ipv6)));
    assert_eq!(ip("10.200.1.2"), Some(("10.0.0.0/8".into(), Kind::Ipv4)));
    assert_eq!(
        ip("2001:db8:aaff::5"),
        Some(("2001:db8:aa00::/40".into(), Kind::Ipv6))
    );
    assert_eq!(ip("2001:db8:ab00::5"), None);
    // 0.0.0.0/0 is every IPv4 address, and no IPv6 one.
    assert_eq!(ip("192.0.2.1"), Some(("0.0.0.0/0".into(), Kind::Ipv4)));
    assert_eq!(ip("2001:db9::1"), None);
    let f = feeds(Feeds::add_ip, "2001:db8::/32\n127.0.0.1/32\n").unwrap();
    assert!(f.ip("127.0.0.1".parse().unwrap()).is_some());
    assert!(f.ip("127.0.0.2".parse().unwrap()).is_none());
}

#[test]
fn domains_match_themselves_and_names_below() {
    let f = feeds(Feeds::add_domain, "Evil.Example.\nc2.test\n").unwrap();
    let d = |s: &str| f.domain(s).map(|m| m.entry);
    assert_eq!(d("evil.example"), Some("evil.example".into()));
    assert_eq!(d("A.b.EVIL.example."), Some("evil.example".into()));
    assert_eq!(d("notevil.example"), None);
    assert_eq!(d("example"), None);
    assert_eq!(d("x.c2.test"), Some("c2.test".into()));
    assert_eq!(d(""), None);
}

#[test]
fn alerted_processes_once_until_exit() {
    let mut a = Alerted::default();
    assert!(a.first((5, 1)));
    assert!(!a.first((5, 1)));
    assert!(a.first((5, 2)));
    a.exited((5, 1));
    assert!(a.first((5, 1)));
}

/// Through the detector: a listed hash alerts once per process (on the
/// first event after the hash is known), not for a forked child; a
/// listed address on a connect, a listed domain on a DNS query; each
/// alert names the list and the entry in `threat.*`.
#[test]
fn the_detector_alerts_once_per_process_and_names_list_and_entry() {
    use crate::detect::Detector;
    use crate::detect::rules::RuleSet;
    use crate::model::hash::Hashed;
    use crate::model::proctable::Origin;
    use crate::testkit;
    let mut f = feeds(Feeds::add_sha256, &"cd".repeat(32)).unwrap();
    f.add(Path::new("/ioc/ips"), "198.51.100.0/24\n", Feeds::add_ip)
        .unwrap();
    f.add(
        Path::new("/ioc/domains"),
        "evil.example\n",
        Feeds::add_domain,
    )
    .unwrap();
    let mut d = Detector::new(&config::Config::default(), "h", RuleSet::empty(), None).unwrap();
    d.set_ioc(Arc::new(f));
    let mut ids = |ev: &Event| -> Vec<crate::model::alert::Alert> {
        let mut out = Vec::new();
        d.detect(ev, &mut out);
        out.into_iter().filter(|a| a.rule.id == ID).collect()
    };
    let bad = testkit::process(40, "/tmp/payload", &["payload"], None);
    // The exec comes before the hash: nothing yet.
    assert!(ids(&testkit::exec(1, &bad)).is_empty());
    bad.image
        .hash
        .set(Hashed::from_digest(&[0xcd; 32]))
        .unwrap();
    let first = ids(&testkit::file(
        2,
        &bad,
        crate::model::event::FileOp::Open,
        "/tmp/o",
    ));
    assert_eq!(first.len(), 1);
    let a = &first[0];
    assert_eq!(
        a.message,
        format!(
            "sha256 of /tmp/payload is on IOC list /etc/rand-guard/ioc/list.txt: {}",
            "cd".repeat(32)
        )
    );
    let ind = a.indicator.as_deref().unwrap();
    assert_eq!(
        (&*ind.feed, ind.kind, ind.entry.as_str()),
        (
            "/etc/rand-guard/ioc/list.txt",
            "file",
            "cd".repeat(32).as_str()
        )
    );
    assert_eq!(a.rule.severity, Severity::High);
    // Once per process; its fork shares the image and is not alerted.
    assert!(
        ids(&testkit::file(
            3,
            &bad,
            crate::model::event::FileOp::Open,
            "/tmp/o"
        ))
        .is_empty()
    );
    let mut child = (*testkit::process(41, "/tmp/payload", &["payload"], None)).clone();
    child.image = bad.image.clone();
    child.origin = Origin::Fork;
    let child = Arc::new(child);
    assert!(
        ids(&testkit::file(
            4,
            &child,
            crate::model::event::FileOp::Open,
            "/tmp/o"
        ))
        .is_empty()
    );

    let sh = testkit::process(50, "/bin/sh", &["sh"], None);
    let hit = ids(&testkit::connect(5, &sh, "198.51.100.9:443"));
    assert_eq!(hit.len(), 1);
    assert_eq!(
        hit[0].message,
        "connect to 198.51.100.9:443 is on IOC list /ioc/ips: 198.51.100.0/24"
    );
    assert_eq!(hit[0].indicator.as_deref().unwrap().kind, "ipv4-addr");
    assert!(ids(&testkit::connect(6, &sh, "198.51.101.9:443")).is_empty());

    let dns = |ms, name: &str, response| {
        let mut b = testkit::connect_body("127.0.0.53:53");
        b.op = NetOp::DnsQuery;
        b.protocol = 17;
        b.dns = Some(Ok(crate::model::dns::Query {
            id: 1,
            name: name.into(),
            qtype: 1,
            qclass: 1,
            questions: 1,
            response,
        }));
        Event {
            body: Body::Net(b),
            ..testkit::connect(ms, &sh, "127.0.0.53:53")
        }
    };
    let hit = ids(&dns(7, "www.Evil.example", false));
    assert_eq!(hit.len(), 1);
    assert_eq!(
        hit[0].message,
        "DNS query for www.Evil.example is on IOC list /ioc/domains: evil.example"
    );
    assert!(ids(&dns(8, "notevil.example", false)).is_empty());
}
