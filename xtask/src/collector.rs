//! `throughput --forward`'s collector: an rsyslogd of its own (its own
//! configuration, work directory and pid file under the run's directory;
//! never the host's instance), listening on a free loopback TCP port, a
//! second one for RELP (imrelp, Debian's rsyslog-relp) and a Unix socket
//! of its own (imuxsock, never /dev/log), writing each
//! message's MSG (the record's JSON) as one line.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Collector {
    child: Child,
    port: u16,
    relp_port: u16,
    socket: PathBuf,
    received: PathBuf,
}

impl Collector {
    pub fn start(dir: &Path) -> Result<Collector, String> {
        let work = dir.join("work");
        fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let free = || {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| format!("a free loopback port: {e}"))
        };
        let (port, relp_port) = (free()?, free()?);
        let received = dir.join("received.jsonl");
        let conf = dir.join("rsyslog.conf");
        fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{}\" maxMessageSize=\"256k\" processInternalMessages=\"on\")\n\
                 module(load=\"imtcp\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 module(load=\"imrelp\")\n\
                 input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"collect\")\n\
                 input(type=\"imrelp\" address=\"127.0.0.1\" port=\"{relp_port}\" maxDataSize=\"256k\" ruleset=\"collect\")\n\
                 input(type=\"imuxsock\" Socket=\"{}\" UseSpecialParser=\"off\" ParseHostname=\"on\" RateLimit.Interval=\"0\" \
                 ruleset=\"collect\")\n\
                 template(name=\"msg\" type=\"string\" string=\"%msg%\\n\")\n\
                 ruleset(name=\"collect\") {{\n  action(type=\"omfile\" file=\"{}\" template=\"msg\")\n}}\n\
                 action(type=\"omfile\" file=\"{}\")\n",
                work.display(),
                dir.join("log.sock").display(),
                received.display(),
                dir.join("internal.log").display(),
            ),
        )
        .map_err(|e| format!("{}: {e}", conf.display()))?;
        let child = Command::new("/usr/sbin/rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start /usr/sbin/rsyslogd (apt-get install rsyslog): {e}"))?;
        let c = Collector {
            child,
            port,
            relp_port,
            socket: dir.join("log.sock"),
            received,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err()
            || TcpStream::connect(("127.0.0.1", relp_port)).is_err()
        {
            if Instant::now() > deadline {
                return Err(format!(
                    "rsyslogd did not listen on 127.0.0.1:{port} within 10 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(c)
    }

    /// `config` with forwarding to this collector over `transport`
    /// (`tcp`: its loopback port; `relp`: its imrelp port; `unix`: its own
    /// socket).
    pub fn agent_config(&self, config: &str, transport: &str) -> String {
        let address = match transport {
            "unix" => self.socket.display().to_string(),
            "relp" => format!("127.0.0.1:{}", self.relp_port),
            _ => format!("127.0.0.1:{}", self.port),
        };
        format!("{config}[forward.syslog]\ntransport = \"{transport}\"\naddress = \"{address}\"\n")
    }

    /// Lines written so far.
    pub fn received(&self) -> u64 {
        fs::File::open(&self.received)
            .map(|f| BufReader::new(f).lines().count() as u64)
            .unwrap_or(0)
    }

    /// Messages received since `before`, once `expected` have come or
    /// nothing more has come for 2 s.
    pub fn received_after(&self, before: u64, expected: u64) -> u64 {
        let mut last = (self.received(), Instant::now());
        loop {
            let n = self.received() - before;
            if n >= expected || last.1.elapsed() > Duration::from_secs(2) {
                return n;
            }
            let now = self.received();
            if now != last.0 {
                last = (now, Instant::now());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
