use super::*;

/// The detections these tests may disable (the real list is `detect::KNOWN`).
const KNOWN: Known = Known {
    builtin_detections: &["rg-persist-cron", "rg-persist-shell-profile"],
};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/x/config.toml"), &KNOWN)
}

#[test]
fn empty_file_is_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
    Config::default().validate(&KNOWN).unwrap();
}

#[test]
fn shipped_config_is_valid_and_spells_out_the_defaults() {
    let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/config.toml"));
    let mut expected = Config::default();
    expected.output.path = "/var/log/rand-guard/events.jsonl".into();
    assert_eq!(parse(text).unwrap(), expected);
    // Every key is spelled out, not left to its default.
    let shipped: toml::Table = text.parse().unwrap();
    let all: toml::Table = expected.to_toml().parse().unwrap();
    for (section, keys) in &all {
        let Some(keys) = keys.as_table() else {
            continue;
        };
        for key in keys.keys() {
            assert!(
                shipped
                    .get(section)
                    .and_then(|s| s.as_table())
                    .is_some_and(|s| s.contains_key(key)),
                "config/config.toml does not show [{section}] {key}"
            );
        }
    }
}

#[test]
fn effective_config_round_trips() {
    let mut c = Config::default();
    c.kernel.ring_buffer_bytes = 1 << 20;
    c.output.path = "/var/log/x.jsonl".into();
    assert_eq!(parse(&c.to_toml()).unwrap(), c);
}

#[test]
fn values_are_read() {
    let c = parse(
        "[output]\npath = \"/tmp/o.jsonl\"\n[kernel]\nring_buffer_bytes = 131072\nwakeup_bytes = 4096\n\
         [process_table]\nmax_entries = 100\nancestry_depth = 0\n[pipeline]\nchannel_capacity = 2\n",
    )
    .unwrap();
    assert_eq!(c.output.path, "/tmp/o.jsonl");
    assert_eq!(
        (c.kernel.ring_buffer_bytes, c.kernel.wakeup_bytes),
        (131072, 4096)
    );
    assert_eq!(
        (c.process_table.max_entries, c.process_table.ancestry_depth),
        (100, 0)
    );
    assert_eq!(c.pipeline.channel_capacity, 2);
    let d = parse("[pipeline]\nbackpressure = \"drop\"\n").unwrap();
    assert_eq!(d.pipeline.backpressure, Backpressure::Drop);
    assert_eq!(c.kernel.hooks, HookPath::Auto);
    for (text, path) in [
        ("auto", HookPath::Auto),
        ("tracepoint", HookPath::Tracepoint),
        ("fentry", HookPath::Fentry),
    ] {
        let k = parse(&format!("[kernel]\nhooks = \"{text}\"\n")).unwrap();
        assert_eq!((k.kernel.hooks, k.kernel.hooks.as_str()), (path, text));
    }
    let e = parse("[pipeline]\nbackpressure = \"spill\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("pipeline.backpressure"));
    assert!(e.reason.contains("unknown variant `spill`"), "{e}");
}

#[test]
fn errors_name_file_key_and_reason() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[kernel]\nbogus = 1\n",
            "kernel.bogus",
            "unknown field `bogus`",
        ),
        ("[kernal]\n", "kernal", "unknown field `kernal`"),
        (
            "[kernel]\nring_buffer_bytes = \"big\"\n",
            "kernel.ring_buffer_bytes",
            "invalid type",
        ),
        (
            "[kernel]\nring_buffer_bytes = 100000\n",
            "kernel.ring_buffer_bytes",
            "power of two",
        ),
        (
            "[kernel]\nhooks = \"kprobe\"\n",
            "kernel.hooks",
            "must be \"auto\", \"tracepoint\" or \"fentry\", got \"kprobe\"",
        ),
        (
            "[kernel]\nhooks = \"lsm\"\n",
            "kernel.hooks",
            "\"lsm\" is not available yet: no family has a BPF LSM path",
        ),
        (
            "[kernel]\nwakeup_bytes = 0\n",
            "kernel.wakeup_bytes",
            "from 1 to half",
        ),
        (
            "[kernel]\nring_buffer_bytes = 65536\nwakeup_bytes = 65536\n",
            "kernel.wakeup_bytes",
            "half",
        ),
        (
            "[process_table]\nmax_entries = 1\n",
            "process_table.max_entries",
            "from 64",
        ),
        (
            "[process_table]\nancestry_depth = 65\n",
            "process_table.ancestry_depth",
            "from 0 to 64",
        ),
        (
            "[pipeline]\nchannel_capacity = 0\n",
            "pipeline.channel_capacity",
            "from 1",
        ),
        ("[output]\npath = \"\"\n", "output.path", "stdout"),
        (
            "[output]\nbuffer_bytes = 4096\n",
            "output.buffer_bytes",
            "from 262144 to 1073741824, got 4096",
        ),
        (
            "[pipeline]\nshutdown_timeout_seconds = 0\n",
            "pipeline.shutdown_timeout_seconds",
            "from 1 to 3600",
        ),
        (
            "[process_table]\nmax_entries = -5\n",
            "process_table.max_entries",
            "invalid value",
        ),
        ("[file]\ninclude = [\"etc\"]\n", "file.include", "absolute"),
        (
            "[file]\ninclude = [\"/etc/\"]\n",
            "file.include",
            "end with",
        ),
        (
            "[file]\nexclude = [\"/etc/../x\"]\n",
            "file.exclude",
            "canonical",
        ),
        (
            "[file]\nexclude_paths = [\"/a/[\"]\n",
            "file.exclude_paths",
            "\"/a/[\"",
        ),
        (
            "[file]\nenabled = \"yes\"\n",
            "file.enabled",
            "invalid type",
        ),
        (
            "[detections]\ndisabled = [\"nope\"]\n",
            "detections.disabled",
            "unknown built-in",
        ),
        (
            "[network]\nenabled = true\nhooks = [\"connect\", \"sendfile\"]\n",
            "network.hooks[1]",
            "unknown variant `sendfile`, expected one of `connect`, `bind`, `listen`, `accept`",
        ),
        (
            "[network]\nenabled = true\ncollect_payload = true\n",
            "network.collect_payload",
            "payload capture is not implemented",
        ),
        (
            "[network]\nenabled = false\ncollect_dns = true\n",
            "network.collect_dns",
            "needs network.enabled = true",
        ),
        (
            "[events]\nnetwork = true\n[network]\nenabled = false\n",
            "events.network",
            "needs network.enabled = true",
        ),
        (
            "[network]\nenabled = true\nexclude_networks = [\"10.0.0.0/33\"]\n",
            "network.exclude_networks",
            "prefix length must be 0 to 32",
        ),
        (
            "[network]\nfamilies = [\"ipx\"]\n",
            "network.families[0]",
            "unknown variant `ipx`",
        ),
        (
            "[detections]\nsuspicious_ports = [70000]\n",
            "detections.suspicious_ports[0]",
            "invalid value",
        ),
        (
            "[file]\nwatch_reads = [\"etc/shadow\"]\n",
            "file.watch_reads",
            "\"etc/shadow\": must be an absolute path",
        ),
        (
            "[file]\nwatch_reads = [\"/root/.ssh/\"]\n",
            "file.watch_reads",
            "must not end with `/`",
        ),
        (
            "[file]\nwatch_reads = [\"/etc/ssh/../shadow\"]\n",
            "file.watch_reads",
            "must be canonical",
        ),
        (
            "[file]\nwatch_reads = [\"/etc/shadow\", \"/etc/gshadow\", \"/etc/shadow\"]\n",
            "file.watch_reads",
            "\"/etc/shadow\" is listed twice",
        ),
        (
            "[file]\nwatch_reads = \"/etc/shadow\"\n",
            "file.watch_reads",
            "invalid type",
        ),
        (
            "[file]\nwatch_reads = [1]\n",
            "file.watch_reads[0]",
            "invalid type",
        ),
        (
            "[detections]\nsensitive_read_allow = [\"/usr/bin/{ssh\"]\n",
            "detections.sensitive_read_allow",
            "\"/usr/bin/{ssh\"",
        ),
        (
            "[metrics]\ntextfile = \"rand_guard.prom\"\n",
            "metrics.textfile",
            "must be an absolute path, got \"rand_guard.prom\"",
        ),
        (
            "[metrics]\ntextfile = \"/var/lib/x/rand_guard.txt\"\n",
            "metrics.textfile",
            "must end in `.prom`",
        ),
        (
            "[metrics]\nlisten = \"localhost\"\n",
            "metrics.listen",
            "must be an address and port such as \"127.0.0.1:9464\", got \"localhost\"",
        ),
        (
            "[metrics]\nport = 9464\n",
            "metrics.port",
            "unknown field `port`, expected `textfile` or `listen`",
        ),
        (
            "[[exclusions]]\nin_container = false\ncontainer_name = \"web\"\n",
            "exclusions",
            "exclusions[0]: in_container = false with container_name or container_image can never match",
        ),
        (
            "[[exclusions]]\nsystemd_unit = \"a{b\"\n",
            "exclusions",
            "exclusions[0]: \"a{b\": unclosed alternate group",
        ),
        (
            "[[exclusions]]\nin_container = \"yes\"\n",
            "exclusions[0].in_container",
            "invalid type",
        ),
        (
            "[forward.syslog]\ntransport = \"udp\"\n",
            "forward.syslog.transport",
            "unknown variant `udp`, expected one of `unix`, `tcp`, `tls`",
        ),
        (
            "[forward.syslog]\nfacility = \"local9\"\n",
            "forward.syslog.facility",
            "unknown variant `local9`",
        ),
        (
            "[forward.syslog]\ntransport = \"tcp\"\naddress = \"logs.example.net\"\n",
            "forward.syslog.address",
            "it is host:port, such as \"logs.example.net:6514\" or \"[::1]:514\", got \"logs.example.net\"",
        ),
        (
            "[forward.syslog]\ntransport = \"tcp\"\naddress = \"10.0.0.1:0\"\n",
            "forward.syslog.address",
            "host:port",
        ),
        (
            "[forward.syslog]\naddress = \"dev/log\"\n",
            "forward.syslog.address",
            "a socket's absolute path, got \"dev/log\"",
        ),
        (
            "[forward.syslog]\ntransport = \"tls\"\naddress = \"c:6514\"\n",
            "forward.syslog.tls_ca",
            "needs the CA file",
        ),
        (
            "[forward.syslog]\ntransport = \"tls\"\naddress = \"c:6514\"\ntls_ca = \"ca.pem\"\n",
            "forward.syslog.tls_ca",
            "must be an absolute path",
        ),
        (
            "[forward.syslog]\ntransport = \"tls\"\naddress = \"c:6514\"\ntls_ca = \"/ca.pem\"\ntls_cert = \"/c.pem\"\n",
            "forward.syslog.tls_key",
            "needs both tls_cert and tls_key",
        ),
        (
            "[forward.syslog]\ntransport = \"tcp\"\naddress = \"c:514\"\ntls_ca = \"/ca.pem\"\n",
            "forward.syslog.tls_ca",
            "only applies with transport = \"tls\"",
        ),
        (
            "[forward.syslog]\ntransport = \"relp\"\naddress = \"/dev/log\"\n",
            "forward.syslog.address",
            "with transport \"relp\" it is host:port",
        ),
        (
            "[forward.syslog]\ntransport = \"relp\"\naddress = \"c:2514\"\ntls_ca = \"/ca.pem\"\n",
            "forward.syslog.tls_ca",
            "RELP over TLS is not supported",
        ),
        (
            "[forward.syslog]\nqueue_records = 1\n",
            "forward.syslog.queue_records",
            "from 16 to 1048576, got 1",
        ),
        (
            "[forward.syslog]\nmax_message_bytes = 100\n",
            "forward.syslog.max_message_bytes",
            "from 1024 to 1048576, got 100",
        ),
        (
            "[forward.syslog]\nport = 514\n",
            "forward.syslog.port",
            "unknown field `port`",
        ),
    ];
    for (text, key, reason) in cases {
        let e = parse(text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(*key), "{text}: {e}");
        assert!(e.reason.contains(reason), "{text}: {e}");
        let shown = e.to_string();
        assert!(shown.starts_with("config /x/config.toml"), "{shown}");
        assert!(shown.contains(&format!("key `{key}`")), "{shown}");
    }
}

#[test]
fn the_spec_network_example_is_accepted() {
    let c = parse(
        "[events]\nnetwork = true\n\n[network]\nenabled = true\n\
         hooks = [\"connect\", \"bind\", \"listen\"]\ncollect_dns = false\n\
         collect_payload = false\n",
    )
    .unwrap();
    assert!(c.network.enabled && c.events.network == Some(true));
    assert_eq!(
        c.network.hooks,
        [NetHook::Connect, NetHook::Bind, NetHook::Listen]
    );
}

#[test]
fn cidrs() {
    let c = Cidr::parse("10.1.0.0/16").unwrap();
    assert_eq!(c.as_v6().1, 96 + 16);
    assert_eq!(Cidr::parse("::1").unwrap().prefix, 128);
    assert_eq!(Cidr::parse("127.0.0.1").unwrap().prefix, 32);
    assert!(Cidr::parse("::/129").is_err());
    assert!(Cidr::parse("nope/8").is_err());
}

#[test]
fn prefix_rules() {
    assert!(check_prefix("/").is_ok());
    assert!(check_prefix("/etc").is_ok());
    assert!(check_prefix("/etc/cron.d").is_ok());
    assert!(check_prefix(&format!("/{}", "a".repeat(126))).is_ok());
    assert!(check_prefix(&format!("/{}", "a".repeat(127))).is_err());
    for bad in ["", "etc", "/etc/", "//etc", "/etc/./x", "/etc/..", "/a//b"] {
        assert!(check_prefix(bad).is_err(), "{bad}");
    }
}

#[test]
fn watch_reads_limits() {
    let many: Vec<String> = (0..=MAX_WATCH_READS)
        .map(|i| format!("\"/f{i}\""))
        .collect();
    let e = parse(&format!("[file]\nwatch_reads = [{}]\n", many.join(", "))).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("file.watch_reads"));
    assert!(e.reason.contains("at most 128 paths, got 129"), "{e}");
    // Long paths are fine (the kernel matches inodes, not prefixes)...
    let long = format!("/{}", "a".repeat(300));
    let c = parse(&format!("[file]\nwatch_reads = [{long:?}]\n")).unwrap();
    assert_eq!(c.file.watch_reads, [long]);
    // ...up to PATH_MAX; and an empty list turns the feature off.
    let too_long = format!("/{}", "a".repeat(4095));
    let e = parse(&format!("[file]\nwatch_reads = [{too_long:?}]\n")).unwrap_err();
    assert!(e.reason.contains("longer than 4095 bytes"), "{e}");
    assert!(
        parse("[file]\nwatch_reads = []\n")
            .unwrap()
            .file
            .watch_reads
            .is_empty()
    );
}

#[test]
fn syntax_error_has_line() {
    let e = parse("[output]\npath = \"-\"\n[kernel\n").unwrap_err();
    assert_eq!(e.line, Some(3));
    assert!(e.to_string().contains("line 3"), "{e}");
}

#[test]
fn path_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    fs::write(&f, "[pipeline]\nchannel_capacity = 3\n").unwrap();
    let g = dir.path().join("g.toml");
    fs::write(&g, "[pipeline]\nchannel_capacity = 5\n").unwrap();
    // The flag wins over the environment.
    let (c, src) = Config::load(Some(&f), Some(&g), &KNOWN).unwrap();
    assert_eq!(
        (c.pipeline.channel_capacity, src),
        (3, Source::File(f.clone()))
    );
    let (c, _) = Config::load(None, Some(&g), &KNOWN).unwrap();
    assert_eq!(c.pipeline.channel_capacity, 5);
    // An explicit path that is missing is an error naming it.
    let missing = dir.path().join("nope.toml");
    let e = Config::load(Some(&missing), None, &KNOWN).unwrap_err();
    assert_eq!(e.file, missing);
    assert!(e.reason.contains("cannot read"));
}

#[test]
fn metrics_are_off_by_default_and_read() {
    assert_eq!(Config::default().metrics, crate::config::Metrics::default());
    assert!(Config::default().metrics.textfile.is_empty());
    assert!(Config::default().metrics.listen.is_empty());
    let c =
        parse("[metrics]\ntextfile = \"/var/lib/ne/rg.prom\"\nlisten = \"[::1]:9464\"\n").unwrap();
    assert_eq!(c.metrics.textfile, "/var/lib/ne/rg.prom");
    assert_eq!(c.metrics.listen, "[::1]:9464");
}

#[test]
fn forwarding_is_off_by_default_and_read() {
    use crate::config::{Facility, Transport};
    assert_eq!(Config::default().forward.syslog, None);
    let c = parse("[forward.syslog]\n").unwrap();
    let s = c.forward.syslog.unwrap();
    assert_eq!((s.transport, s.address()), (Transport::Unix, "/dev/log"));
    assert_eq!((s.facility, s.facility.code()), (Facility::Local0, 16));
    let c = parse(
        "[forward.syslog]\ntransport = \"tls\"\naddress = \"[::1]:6514\"\nfacility = \"authpriv\"\n\
         tls_ca = \"/etc/ca.pem\"\nqueue_records = 100\n",
    )
    .unwrap();
    let s = c.forward.syslog.clone().unwrap();
    assert_eq!(s.host_port(), Some(("::1", 6514)));
    assert_eq!((s.facility.code(), s.queue_records), (10, 100));
    assert_eq!(Facility::Local7.code(), 23);
    // The effective configuration shows it, and reads back the same.
    assert_eq!(parse(&c.to_toml()).unwrap(), c);
}

#[test]
fn range_errors_name_the_line_of_their_key() {
    let e = parse("[health]\ninterval_seconds = 5\n\n[forward.syslog]\ntransport = \"tcp\"\naddress = \"nowhere\"\n")
        .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("forward.syslog.address"));
    assert_eq!(e.line, Some(6), "{e}");
    assert!(
        e.to_string()
            .starts_with("config /x/config.toml line 6: key `forward.syslog.address`"),
        "{e}"
    );
    // A key left to its default has no line.
    let e = parse("[forward.syslog]\ntransport = \"tls\"\naddress = \"c:1\"\n").unwrap_err();
    assert_eq!(
        (e.key.as_deref(), e.line),
        (Some("forward.syslog.tls_ca"), None)
    );
}
