//! Prometheus metrics, end to end (issue 17.3): the agent serves
//! `/metrics` on a loopback port and writes a node_exporter textfile; a
//! real Prometheus (Debian `prometheus`) scrapes the agent directly and a
//! real node_exporter (`prometheus-node-exporter`) reading the textfile,
//! and its HTTP API must answer for both with sane values. Everything
//! listens on 127.0.0.1, on ports picked free; every child is killed on
//! every path (`Children`).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Agent, PATIENCE, privileged};
use serde_json::Value;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const PROMTOOL: &str = "/usr/bin/promtool";

/// Child processes killed and reaped when dropped, whatever happened.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` from 127.0.0.1:`port`: (status line, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head.lines().next().unwrap_or("").to_string();
    Ok((status, body.to_string()))
}

fn spawn(cmd: &str, args: &[String], log: &Path) -> Child {
    let log = fs::File::create(log).unwrap();
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{cmd}: {e} (apt-get install prometheus prometheus-node-exporter)")
        })
}

/// The series of an instant query: (labels, value).
fn query(prom_port: u16, q: &str) -> Vec<(serde_json::Map<String, Value>, f64)> {
    let Ok((status, body)) = http_get(prom_port, &format!("/api/v1/query?query={q}")) else {
        return Vec::new();
    };
    if !status.contains(" 200 ") {
        return Vec::new();
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    let labels = s["metric"].as_object().cloned().unwrap_or_default();
                    let value = s["value"][1]
                        .as_str()
                        .unwrap_or("nan")
                        .parse()
                        .unwrap_or(f64::NAN);
                    (labels, value)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn job(labels: &serde_json::Map<String, Value>) -> &str {
    labels.get("job").and_then(Value::as_str).unwrap_or("")
}

#[test]
fn prometheus_scrapes_the_endpoint_and_the_textfile() {
    if !privileged("prometheus_scrapes_the_endpoint_and_the_textfile") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let textdir = tmp.path().join("textfile");
    fs::create_dir(&textdir).unwrap();
    let textfile = textdir.join("rand_guard.prom");
    let agent_port = free_port();
    let agent = Agent::start(&format!(
        "[health]\ninterval_seconds = 1\n\
         [metrics]\ntextfile = {:?}\nlisten = \"127.0.0.1:{agent_port}\"\n",
        textfile.to_str().unwrap()
    ));

    // Something to count: /bin/true, seen as written events.
    let pid = Command::new("/bin/true").spawn().unwrap();
    let pid_n = pid.id() as i64;
    let _ = { pid }.wait();
    agent.wait_for("the exec of /bin/true", |r| {
        r["process"]["pid"].as_i64() == Some(pid_n)
    });

    // The endpoint itself: 200 with the counters, 404 elsewhere.
    let (status, body) = http_get(agent_port, "/metrics").unwrap();
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        body.contains("# TYPE rand_guard_events_output_total counter\n"),
        "{body}"
    );
    assert!(
        body.contains("rand_guard_kernel_ringbuf_drops_total{kind=\"exec\"} "),
        "{body}"
    );
    let (status, _) = http_get(agent_port, "/").unwrap();
    assert!(status.contains(" 404 "), "{status}");

    // The textfile, within a health interval, passes Prometheus' own lint.
    let deadline = Instant::now() + PATIENCE;
    while !fs::read_to_string(&textfile)
        .is_ok_and(|t| t.contains("rand_guard_events_output_total "))
    {
        assert!(
            Instant::now() < deadline,
            "no textfile at {}",
            textfile.display()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let lint = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(fs::File::open(&textfile).unwrap())
        .output()
        .unwrap();
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let node_port = free_port();
    let prom_port = free_port();
    let mut children = Children(Vec::new());
    children.0.push(spawn(
        NODE_EXPORTER,
        &[
            "--collector.disable-defaults".into(),
            "--collector.textfile".into(),
            format!("--collector.textfile.directory={}", textdir.display()),
            format!("--web.listen-address=127.0.0.1:{node_port}"),
        ],
        &tmp.path().join("node_exporter.log"),
    ));
    fs::write(
        tmp.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n\
             \x20 - job_name: agent\n    static_configs:\n      - targets: ['127.0.0.1:{agent_port}']\n\
             \x20 - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n"
        ),
    )
    .unwrap();
    children.0.push(spawn(
        PROMETHEUS,
        &[
            format!(
                "--config.file={}",
                tmp.path().join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", tmp.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &tmp.path().join("prometheus.log"),
    ));

    // Both targets report events_output_total > 0.
    let deadline = Instant::now() + PATIENCE;
    let series = loop {
        let s = query(prom_port, "rand_guard_events_output_total");
        let has = |j: &str| s.iter().any(|(l, v)| job(l) == j && *v > 0.0);
        if has("agent") && has("node") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus has no rand_guard_events_output_total > 0 from both jobs within {PATIENCE:?}: {s:?}\n\
             prometheus.log:\n{}\nnode_exporter.log:\n{}\nagent stderr:\n{}",
            fs::read_to_string(tmp.path().join("prometheus.log")).unwrap_or_default(),
            fs::read_to_string(tmp.path().join("node_exporter.log")).unwrap_or_default(),
            agent.stderr_text()
        );
        thread::sleep(Duration::from_millis(250));
    };
    for (labels, v) in &series {
        // Sane: a whole number of records, not a runaway.
        assert!(v.fract() == 0.0 && *v < 1e9, "{labels:?} {v}");
    }

    // The ring-buffer drop series, one per record kind, from both ways.
    let drops = query(prom_port, "rand_guard_kernel_ringbuf_drops_total");
    for j in ["agent", "node"] {
        let kinds: Vec<&str> = drops
            .iter()
            .filter(|(l, _)| job(l) == j)
            .filter_map(|(l, _)| l.get("kind").and_then(Value::as_str))
            .collect();
        for k in ["exec", "fork", "exit"] {
            assert!(
                kinds.contains(&k),
                "job {j}: no kind=\"{k}\" among {kinds:?}"
            );
        }
        assert!(
            drops.iter().all(|(_, v)| *v >= 0.0 && v.fract() == 0.0),
            "{drops:?}"
        );
    }
    // The labelled families Prometheus sees are the documented ones.
    let stages = query(prom_port, "rand_guard_channel_full_drops_total");
    let mut names: Vec<&str> = stages
        .iter()
        .filter(|(l, _)| job(l) == "agent")
        .filter_map(|(l, _)| l.get("stage").and_then(Value::as_str))
        .collect();
    names.sort();
    assert_eq!(names, ["detector", "enricher", "normalizer", "poller"]);

    dashboard_queries_answer(prom_port, &format!("127.0.0.1:{agent_port}"));

    drop(children);
    let (status, _, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    // The port is closed with the agent, and the textfile stays (its last
    // write has the final counters).
    assert!(http_get(agent_port, "/metrics").is_err());
    assert!(
        fs::read_to_string(&textfile)
            .unwrap()
            .contains("rand_guard_events_output_total ")
    );
}

/// A query string's bytes as a URL query value (`+`, `{`, `"`, spaces).
fn url_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every panel query of the Grafana dashboard (docs/grafana/rand-guard.json,
/// issue 17.6), its variables replaced as Grafana would with `$instance`
/// the agent's target, answers from the real Prometheus without error; the
/// panels that always have data (BPF program time needs
/// kernel.bpf_stats_enabled, so not those) get some, in time.
fn dashboard_queries_answer(prom_port: u16, instance: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana/rand-guard.json");
    let d: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let mut queries = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let nested = p["panels"].as_array().into_iter().flatten();
        for p in std::iter::once(p).chain(nested) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "10s")
                    .replace("$__range", "1h")
                    .replace("$instance", instance);
                queries.push((p["title"].as_str().unwrap().to_owned(), expr));
            }
        }
    }
    let must_have_data = [
        "Uptime",
        "Rules loaded",
        "Records lost in range",
        "Events read per second, by kind",
        "Records written per second",
        // Every severity is listed from the start, zeros too.
        "Alerts written per second by severity",
        "Drops per second, by where and reason",
        "Resident memory",
        "Process table and correlation state",
        "Reloads in range",
    ];
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut empty = Vec::new();
        for (title, expr) in &queries {
            let (status, body) = http_get(
                prom_port,
                &format!("/api/v1/query?query={}", url_encode(expr)),
            )
            .unwrap_or_else(|e| panic!("{title}: {expr}: {e}"));
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            assert!(
                status.contains(" 200 ") && v["status"] == "success",
                "panel {title:?}: Prometheus refused {expr}: {status} {body}"
            );
            if v["data"]["result"].as_array().is_none_or(Vec::is_empty) {
                empty.push(title.as_str());
            }
        }
        let missing: Vec<_> = must_have_data
            .iter()
            .filter(|t| empty.contains(t))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "dashboard panels without data after {PATIENCE:?}: {missing:?}"
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// The agent with `config`: its exit status and stderr (it must exit by
/// itself).
fn run_to_exit(dir: &Path, config: &str) -> (Option<i32>, String) {
    let cfg = dir.join("config.toml");
    fs::write(&cfg, config).unwrap();
    let child = Command::new(common::AGENT)
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--output")
        .arg(dir.join("out.jsonl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Children(vec![child]);
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(s) = guard.0[0].try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not stop by itself"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    guard.0[0]
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

#[test]
fn a_missing_textfile_directory_or_a_taken_port_stops_start_up_naming_the_key() {
    if !privileged("a_missing_textfile_directory_or_a_taken_port_stops_start_up_naming_the_key") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let (code, stderr) = run_to_exit(
        tmp.path(),
        &format!(
            "[metrics]\ntextfile = {:?}\n",
            missing.join("rand_guard.prom").to_str().unwrap()
        ),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "rand-guard: error: config key `metrics.textfile`: directory {} does not exist\n",
            missing.display()
        )),
        "{stderr}"
    );

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (code, stderr) = run_to_exit(tmp.path(), &format!("[metrics]\nlisten = \"{addr}\"\n"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "rand-guard: error: config key `metrics.listen`: cannot listen on {addr}: "
        )),
        "{stderr}"
    );
    // Nothing was attached: it stopped before loading the kernel side.
    assert!(!stderr.contains("ready:"), "{stderr}");
}
