//! A real rsyslogd of the test's own, as the agent's syslog collector:
//! its own configuration, work directory and pid file in a temporary
//! directory, listening on a free loopback TCP port (imtcp), another for
//! RELP (imrelp, Debian's rsyslog-relp) and on a Unix socket of its own
//! (imuxsock, never the host's /dev/log), writing every
//! message it is sent to one file, one line each:
//! `facility|severity|hostname|app-name|procid|msgid|msg`, so a test sees
//! how rsyslog parsed the RFC 5424 header and gets the JSON back.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// TLS material for the collector (rsyslog's gtls driver).
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Rsyslog {
    dir: tempfile::TempDir,
    pub port: u16,
    pub relp_port: u16,
    child: Option<Child>,
    tls: bool,
}

/// One message as the collector parsed and wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub facility: String,
    pub severity: String,
    pub hostname: String,
    pub app_name: String,
    pub procid: String,
    pub msgid: String,
    pub json: Value,
}

/// A loopback port free now (bound, then released for rsyslog).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Rsyslog {
    /// Configure (on a free port) without starting.
    pub fn new(tls: Option<&ServerTls>) -> Rsyslog {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let relp_port = free_port();
        fs::create_dir(dir.path().join("work")).unwrap();
        let d = dir.path().display();
        let driver = match tls {
            None => String::new(),
            Some(t) => format!(
                "global(DefaultNetstreamDriver=\"gtls\"\n       \
                 DefaultNetstreamDriverCAFile=\"{}\"\n       \
                 DefaultNetstreamDriverCertFile=\"{}\"\n       \
                 DefaultNetstreamDriverKeyFile=\"{}\")\n",
                t.ca.display(),
                t.cert.display(),
                t.key.display()
            ),
        };
        let tcp_params = if tls.is_some() {
            " StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\""
        } else {
            ""
        };
        let conf = format!(
            r#"# rsyslogd of one test: nothing of the host's (no /dev/log, no /etc/rsyslog.d).
global(workDirectory="{d}/work" maxMessageSize="256k" processInternalMessages="on")
{driver}module(load="imtcp"{tcp_params})
module(load="imuxsock" SysSock.Use="off")
module(load="imrelp")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="collect")
input(type="imrelp" address="127.0.0.1" port="{relp_port}" ruleset="collect")
input(type="imuxsock" Socket="{d}/log.sock" UseSpecialParser="off" ParseHostname="on" RateLimit.Interval="0"
      UseSysTimeStamp="off" ruleset="collect")
template(name="fields" type="string"
         string="%syslogfacility-text%|%syslogseverity-text%|%hostname%|%app-name%|%procid%|%msgid%|%msg%\n")
ruleset(name="collect") {{
  action(type="omfile" file="{d}/received.log" template="fields")
}}
# rsyslogd's own messages, apart.
action(type="omfile" file="{d}/internal.log")
"#
        );
        fs::write(dir.path().join("rsyslog.conf"), conf).unwrap();
        Rsyslog {
            dir,
            port,
            relp_port,
            child: None,
            tls: tls.is_some(),
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// imrelp's `host:port`.
    pub fn relp_address(&self) -> String {
        format!("127.0.0.1:{}", self.relp_port)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("log.sock")
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("rsyslog.conf")
    }

    /// Start rsyslogd and wait until it listens.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(self.conf())
            .arg("-i")
            .arg(self.dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("stderr.log"))
                    .unwrap(),
            ))
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(self.socket().exists()
            && TcpStream::connect(self.address()).is_ok()
            && TcpStream::connect(self.relp_address()).is_ok())
        {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not listen on {} within 10 s: {}",
                self.address(),
                self.diagnostics()
            );
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("rsyslogd exited ({status}): {}", self.diagnostics());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM rsyslogd and wait for it to exit (it writes what it has).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = child.wait();
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Every message written so far, parsed.
    pub fn received(&self) -> Vec<Received> {
        let text = fs::read_to_string(self.dir.path().join("received.log")).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(7, '|').collect();
                assert_eq!(f.len(), 7, "a line rsyslog wrote: {l:?}");
                Received {
                    facility: f[0].into(),
                    severity: f[1].into(),
                    hostname: f[2].into(),
                    app_name: f[3].into(),
                    procid: f[4].into(),
                    msgid: f[5].into(),
                    json: serde_json::from_str(f[6])
                        .unwrap_or_else(|e| panic!("MSG is not the JSON record ({e}): {l:?}")),
                }
            })
            .collect()
    }

    /// Poll until `pred` holds for the messages received (`within`).
    pub fn wait_for(&self, what: &str, within: Duration, pred: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if pred(&self.received()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "rsyslog did not receive {what} within {within:?}: {}",
                self.diagnostics()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// What rsyslogd said, for a failure message.
    pub fn diagnostics(&self) -> String {
        let read = |n: &str| fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "tls={}; rsyslogd stderr:\n{}\ninternal messages:\n{}",
            self.tls,
            read("stderr.log"),
            read("internal.log")
        )
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A self-signed CA and a server certificate for 127.0.0.1 and localhost
/// it signed, made with the openssl command in `dir`.
pub fn make_tls(dir: &Path) -> ServerTls {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=rand-guard test CA",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server-key.pem",
        "-out",
        "server.csr",
    ]);
    let mut ext = fs::File::create(dir.join("server.ext")).unwrap();
    writeln!(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    ServerTls {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    }
}
