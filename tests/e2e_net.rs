//! Privileged end-to-end tests of network telemetry, DNS queries and the
//! suspicious-port detection: real sockets on loopback (python3 processes),
//! exact records back, matched by the pids of the processes we start.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use common::{Agent, action, get, pid_of, privileged};
use serde_json::{Value, json};

const PYTHON: &str = "/usr/bin/python3";

const NET: &str = "[kernel]\nring_buffer_bytes = 4194304\n\
    [events]\nnetwork = true\n\
    [network]\nenabled = true\nhooks = [\"connect\", \"bind\", \"listen\", \"accept\"]\n\
    families = [\"inet\", \"inet6\", \"unix\"]\n";

/// Start a python3 script; it prints one line when it is ready.
fn python(script: &str) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

fn line(out: &mut BufReader<ChildStdout>) -> String {
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    l.trim().to_string()
}

fn net_of(records: &[Value], pid: u32) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| pid_of(r) == pid as u64 && get(r, "event.category") == &json!(["network"]))
        .collect()
}

fn actions(records: &[&Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{}:{}", r["record_type"].as_str().unwrap(), action(r)))
        .collect()
}

#[test]
fn quick_verification_listener_and_client_on_4444() {
    if !privileged("quick_verification_listener_and_client_on_4444") {
        return;
    }
    let agent = Agent::start(NET);
    let (mut server, mut sout) = python(
        "import socket\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', 4444)); s.listen(1); print('ready', flush=True)\n\
         c, a = s.accept(); print(c.recv(16).decode().strip(), a[1], flush=True)\n",
    );
    assert_eq!(line(&mut sout), "ready");
    let (mut client, mut cout) = python(
        "import socket\n\
         c = socket.create_connection(('127.0.0.1', 4444))\n\
         print(c.getsockname()[1], flush=True); c.sendall(b'demo\\n'); c.close()\n",
    );
    let client_port: u16 = line(&mut cout).parse().unwrap();
    let got = line(&mut sout);
    assert_eq!(got, format!("demo {client_port}"));
    assert!(server.wait().unwrap().success() && client.wait().unwrap().success());
    let (s, c) = (server.id(), client.id());
    agent.wait_for("the client's connect", |r| {
        action(r) == "connect" && pid_of(r) == c as u64
    });
    agent.wait_for("the server's accept", |r| {
        action(r) == "accept" && pid_of(r) == s as u64
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let srv = net_of(&records, s);
    assert_eq!(
        actions(&srv),
        ["event:bind", "alert:bind", "event:listen", "event:accept"],
        "{srv:#?}"
    );
    let (bind, alert, listen, accept) = (srv[0], srv[1], srv[2], srv[3]);
    for r in [bind, listen] {
        assert_eq!(get(r, "source"), &json!({"ip": "127.0.0.1", "port": 4444}));
        assert!(r.get("destination").is_none());
        assert_eq!(
            get(r, "network"),
            &json!({"transport": "tcp", "type": "ipv4"})
        );
        assert_eq!(get(r, "event.type"), &json!(["start"]));
        assert_eq!(get(r, "process.executable"), PYTHON);
    }
    assert_eq!(get(bind, "rand_guard.network.syscall"), "bind");
    assert_eq!(get(listen, "rand_guard.network.syscall"), "listen");
    assert_eq!(
        get(accept, "source"),
        &json!({"ip": "127.0.0.1", "port": client_port})
    );
    assert_eq!(
        get(accept, "destination"),
        &json!({"ip": "127.0.0.1", "port": 4444})
    );
    assert_eq!(get(accept, "network.direction"), "ingress");
    assert_eq!(get(accept, "event.type"), &json!(["connection", "start"]));

    assert_eq!(get(alert, "rule.id"), "rg-net-suspicious-port");
    assert_eq!(get(alert, "threat.technique.id"), &json!(["T1571"]));
    assert_eq!(get(alert, "rand_guard.alert.severity"), "medium");
    assert_eq!(
        get(alert, "message"),
        &json!(format!("Suspicious port (bind by {PYTHON}, pid {s})"))
    );

    let cli = net_of(&records, c);
    assert_eq!(
        actions(&cli),
        ["event:connect", "alert:connect"],
        "{cli:#?}"
    );
    let connect = cli[0];
    assert_eq!(
        get(connect, "source"),
        &json!({"ip": "127.0.0.1", "port": client_port})
    );
    assert_eq!(
        get(connect, "destination"),
        &json!({"ip": "127.0.0.1", "port": 4444})
    );
    assert_eq!(
        get(connect, "network"),
        &json!({"transport": "tcp", "type": "ipv4", "direction": "egress"})
    );
    assert_eq!(get(connect, "rand_guard.network.result"), 0);
    assert_eq!(get(cli[1], "rule.id"), "rg-net-suspicious-port");
    // Once per rule and process: the health record counts the repeat.
    let health = records.last().unwrap();
    assert!(
        get(health, "rand_guard.health.userspace_rate_limited_total")
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[test]
fn ipv6_loopback_and_unix_sockets() {
    if !privileged("ipv6_loopback_and_unix_sockets") {
        return;
    }
    let agent = Agent::start(NET);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rg.sock");
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET6); s.bind(('::1', 0)); s.listen(1)\n\
         c = socket.socket(socket.AF_INET6); c.connect(('::1', s.getsockname()[1]))\n\
         print(s.getsockname()[1], c.getsockname()[1], flush=True)\n\
         u = socket.socket(socket.AF_UNIX); u.bind({path:?}); u.listen(1)\n\
         k = socket.socket(socket.AF_UNIX); k.connect({path:?})\n\
         a = socket.socket(socket.AF_UNIX); a.bind('\\0rg-test-abstract')\n",
        path = path.to_str().unwrap()
    );
    let (mut p, mut out) = python(&script);
    let ports: Vec<u16> = line(&mut out)
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(p.wait().unwrap().success());
    let pid = p.id();
    agent.wait_for("the abstract bind", |r| {
        get(r, "rand_guard.network.unix_path") == "@rg-test-abstract"
    });
    let (_, records, _) = agent.stop();
    let mine = net_of(&records, pid);
    assert_eq!(
        actions(&mine),
        [
            "event:bind",
            "event:listen",
            "event:connect",
            "event:bind",
            "event:listen",
            "event:connect",
            "event:bind"
        ],
        "{mine:#?}"
    );
    let (srv, cli) = (ports[0], ports[1]);
    assert_eq!(get(mine[0], "source"), &json!({"ip": "::1", "port": srv}));
    assert_eq!(get(mine[0], "network.type"), "ipv6");
    assert_eq!(get(mine[2], "source"), &json!({"ip": "::1", "port": cli}));
    assert_eq!(
        get(mine[2], "destination"),
        &json!({"ip": "::1", "port": srv})
    );
    let p = path.to_str().unwrap();
    assert_eq!(get(mine[3], "rand_guard.network.unix_path"), p);
    assert_eq!(get(mine[3], "rand_guard.network.family"), "unix");
    assert_eq!(get(mine[3], "rand_guard.network.socket_type"), "stream");
    assert!(mine[3].get("source").is_none() && mine[3].get("network").is_none());
    assert_eq!(get(mine[5], "rand_guard.network.unix_path"), p);
    assert_eq!(get(mine[5], "network.direction"), "egress");
    assert_eq!(
        get(mine[6], "rand_guard.network.unix_path"),
        "@rg-test-abstract"
    );
}

#[test]
fn network_is_on_by_default_for_internet_sockets_only() {
    if !privileged("network_is_on_by_default_for_internet_sockets_only") {
        return;
    }
    let agent = Agent::start("[kernel]\nring_buffer_bytes = 1048576\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rg.sock");
    let (mut p, mut out) = python(&format!(
        "import socket\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
         c = socket.create_connection(s.getsockname())\n\
         u = socket.socket(socket.AF_UNIX); u.bind({path:?}); u.listen(1)\n\
         k = socket.socket(socket.AF_UNIX); k.connect({path:?}); print('done', flush=True)\n",
        path = path.to_str().unwrap()
    ));
    assert_eq!(line(&mut out), "done");
    assert!(p.wait().unwrap().success());
    let pid = p.id();
    agent.wait_for("the python exit", |r| {
        action(r) == "exit" && pid_of(r) == pid as u64
    });
    let (_, records, _) = agent.stop();
    // The default hooks (connect, bind, listen) on inet and inet6; the unix
    // socket's bind, listen and connect are not reported, nor the accept.
    let mine = net_of(&records, pid);
    assert_eq!(
        actions(&mine),
        ["event:bind", "event:listen", "event:connect"],
        "{mine:#?}"
    );
    assert!(mine.iter().all(|r| get(r, "network.type") == "ipv4"));
}

#[test]
fn network_off_loads_no_network_program() {
    if !privileged("network_off_loads_no_network_program") {
        return;
    }
    let agent = Agent::start("[kernel]\nring_buffer_bytes = 1048576\n[network]\nenabled = false\n");
    for program in ["edr_net", "edr_dns"] {
        assert!(
            !agent.stderr_text().contains(program),
            "{}",
            agent.stderr_text()
        );
    }
    let (mut p, mut out) = python(
        "import socket\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
         c = socket.create_connection(s.getsockname()); print('done', flush=True)\n",
    );
    assert_eq!(line(&mut out), "done");
    assert!(p.wait().unwrap().success());
    let pid = p.id();
    agent.wait_for("the python exit", |r| {
        action(r) == "exit" && pid_of(r) == pid as u64
    });
    let (_, records, _) = agent.stop();
    let net: Vec<&Value> = records
        .iter()
        .filter(|r| get(r, "event.category") == &json!(["network"]))
        .collect();
    assert!(net.is_empty(), "{net:#?}");
}

#[test]
fn dns_queries_to_a_local_stub() {
    if !privileged("dns_queries_to_a_local_stub") {
        return;
    }
    let agent = Agent::start(&format!("{NET}collect_dns = true\n"));
    // A stub resolver on 127.0.0.1:53 that reads two queries.
    let (mut stub, mut sout) = python(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', 53)); print('ready', flush=True)\n\
         for _ in range(2): s.recvfrom(512)\n",
    );
    assert_eq!(line(&mut sout), "ready");
    let name = format!("rg-test-{}.example.com", std::process::id());
    let labels: String = name
        .split('.')
        .map(|l| format!("\\x{:02x}{l}", l.len()))
        .collect();
    let (mut client, mut cout) = python(&format!(
        "import socket\n\
         q = b'\\xbe\\xef\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00{labels}\\x00\\x00\\x1c\\x00\\x01'\n\
         d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); d.sendto(q, ('127.0.0.1', 53))\n\
         e = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); e.connect(('127.0.0.1', 53))\n\
         e.send(q); print(e.getsockname()[1], flush=True)\n"
    ));
    let port: u16 = line(&mut cout).parse().unwrap();
    assert!(client.wait().unwrap().success() && stub.wait().unwrap().success());
    let c = client.id();
    agent.wait_for("the second query", |r| {
        action(r) == "dns_query" && get(r, "source.port") == &json!(port)
    });
    let (_, records, _) = agent.stop();
    let queries: Vec<&Value> = net_of(&records, c)
        .into_iter()
        .filter(|r| action(r) == "dns_query")
        .collect();
    assert_eq!(queries.len(), 2, "{queries:#?}");
    for (q, syscall) in queries.iter().zip(["sendto", "sendto"]) {
        assert_eq!(
            get(q, "dns"),
            &json!({"type": "query", "id": "48879", "question": {"name": name, "type": "AAAA", "class": "IN"}})
        );
        assert_eq!(
            get(q, "destination"),
            &json!({"ip": "127.0.0.1", "port": 53})
        );
        assert_eq!(get(q, "network.protocol"), "dns");
        assert_eq!(get(q, "network.transport"), "udp");
        assert_eq!(get(q, "event.type"), &json!(["protocol"]));
        assert_eq!(get(q, "rand_guard.network.syscall"), syscall);
    }
    assert_eq!(get(queries[1], "source.port"), &json!(port));
}
