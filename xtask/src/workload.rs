//! The workloads the benchmarks run, and how their cost is measured.
//!
//! Storms run as fast as they can, split into chunks (the cheapest chunk
//! is the estimate, see [`CHUNKS`]); paced workloads issue operations at a
//! target rate for a fixed time ([`pace`]).

use std::collections::VecDeque;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What one run of a workload cost: wall clock, and the CPU time (user +
/// system) of this process, which includes the kernel-side tracing cost
/// but not I/O waits, so it is the steadier measure on a noisy machine.
/// `wall` and `cpu` are the cheapest chunk scaled to the whole run;
/// `elapsed` is the real wall time of all chunks together.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    pub cpu: Duration,
    pub elapsed: Duration,
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage; `who` is one of the RUSAGE_*
    // constants below.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time of this process (all its threads).
pub fn self_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// CPU time of this process plus its reaped children: an exec storm's
/// cost is mostly in the children (exec, the dynamic loader, exit).
pub fn self_and_children_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF) + rusage(libc::RUSAGE_CHILDREN)
}

/// Chunks each measurement is split into: the cheapest chunk's cost per
/// iteration is the estimate, which throws away the noise this machine's
/// neighbours add (interrupts, steal, I/O stalls) rather than averaging it in.
pub const CHUNKS: usize = 5;

/// Run `one(per)` CHUNKS times with `per = n / CHUNKS`; the cheapest chunk,
/// scaled to the whole.
pub fn chunked(n: usize, mut one: impl FnMut(usize) -> (Duration, Duration)) -> Cost {
    let per = (n / CHUNKS).max(1);
    let runs: Vec<(Duration, Duration)> = (0..CHUNKS).map(|_| one(per)).collect();
    let scale = |d: Duration| d * CHUNKS as u32;
    Cost {
        wall: scale(runs.iter().map(|c| c.0).min().unwrap()),
        cpu: scale(runs.iter().map(|c| c.1).min().unwrap()),
        elapsed: runs.iter().map(|c| c.0).sum(),
    }
}

/// `file_storm` in CHUNKS chunks; the cheapest chunk, scaled to `n`.
pub fn file_storm_min(dir: &Path, n: usize) -> Cost {
    chunked(n, |per| file_storm(dir, per))
}

/// The file storm: create + write 4 KiB + close + unlink, `n` times, in
/// `dir`. Returns (wall, CPU).
pub fn file_storm(dir: &Path, n: usize) -> (Duration, Duration) {
    fs::create_dir_all(dir).expect("bench directory");
    let block = [0x5au8; 4096];
    let names: Vec<PathBuf> = (0..1024).map(|i| dir.join(format!("f{i}"))).collect();
    let (start, cpu0) = (Instant::now(), self_cpu());
    for i in 0..n {
        let p = &names[i % names.len()];
        let mut f = fs::File::create(p).expect("create");
        f.write_all(&block).expect("write");
        drop(f);
        fs::remove_file(p).expect("unlink");
    }
    (start.elapsed(), self_cpu() - cpu0)
}

/// A cheap syscall in a loop: what the tracing slow path costs every
/// syscall of every process once any syscall tracepoint is attached.
pub fn syscall_storm(n: usize) -> Cost {
    chunked(n, |per| {
        let (start, cpu0) = (Instant::now(), self_cpu());
        for _ in 0..per {
            // SAFETY: getppid has no arguments and cannot fail.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        (start.elapsed(), self_cpu() - cpu0)
    })
}

/// The read storm: open `file` read-only (openat, O_RDONLY | O_CLOEXEC)
/// and close it, `n` times, in CHUNKS chunks. Nothing is read: the open is
/// what is measured.
pub fn read_storm_min(file: &Path, n: usize) -> Cost {
    chunked(n, |per| {
        let (start, cpu0) = (Instant::now(), self_cpu());
        for _ in 0..per {
            drop(fs::File::open(file).expect("open for reading"));
        }
        (start.elapsed(), self_cpu() - cpu0)
    })
}

/// Ports rg-net-suspicious-port alerts on by default: a benchmark listener
/// must not land on one (31337 is inside the ephemeral range), or the
/// network-on runs would also measure an alert.
const SUSPICIOUS_PORTS: [u16; 7] = [4444, 1337, 31337, 6667, 12345, 5555, 9001];

/// A TCP listener on 127.0.0.1, on an ephemeral port that is not one of
/// the suspicious ports.
pub fn loopback_listener() -> TcpListener {
    loop {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        if !SUSPICIOUS_PORTS.contains(&l.local_addr().expect("local address").port()) {
            return l;
        }
    }
}

/// One loopback TCP connection, opened and torn down: the client's
/// socket + connect (the three-way handshake completes in the kernel), the
/// listener's accept, and both closes. The client closes with SO_LINGER 0
/// (a reset), so no TIME_WAIT entries pile up and the ephemeral ports
/// never run out however long the storm.
pub fn connect_once(l: &TcpListener, to: SocketAddr) {
    let c = TcpStream::connect(to).expect("connect to the loopback listener");
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads the linger struct we pass, of the size we
    // pass, on a socket this function owns.
    let rc = unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    let (s, _) = l.accept().expect("accept");
    drop(c);
    drop(s);
}

/// The connect storm: `n` loopback connections (see [`connect_once`]) to
/// one listener, in CHUNKS chunks. Accept is done on this thread right
/// after each connect, so the backlog never holds more than one and the
/// run is deterministic. 6 syscalls per connection: socket, connect,
/// setsockopt, accept4, close, close.
pub fn connect_storm_min(n: usize) -> Cost {
    let l = loopback_listener();
    let to = l.local_addr().expect("local address");
    chunked(n, |per| {
        let (start, cpu0) = (Instant::now(), self_cpu());
        for _ in 0..per {
            connect_once(&l, to);
        }
        (start.elapsed(), self_cpu() - cpu0)
    })
}

/// A DNS query for `name` (type A, class IN, recursion desired).
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// A UDP socket on a loopback address at port 53 that is never read: the
/// DNS storm's datagrams are queued, then dropped once its buffer is full
/// (cheaply, with no ICMP port-unreachable per datagram as a closed port
/// would send). 127.0.0.1:53 is left alone: a test's stub resolver may be
/// there. None when every candidate address is taken (then the datagrams
/// go to a closed port, the same way on both sides of the A/B).
pub fn dns_sink() -> (Option<UdpSocket>, SocketAddr) {
    for last in 2..=9u8 {
        let addr = SocketAddr::from((Ipv4Addr::new(127, 0, 0, last), 53));
        if let Ok(s) = UdpSocket::bind(addr) {
            return (Some(s), addr);
        }
    }
    (None, SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 53)))
}

/// The DNS storm: `n` queries, each a sendto of one datagram from an
/// unconnected UDP socket to `to` (port 53), in CHUNKS chunks.
pub fn dns_storm_min(to: SocketAddr, n: usize) -> Cost {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a UDP socket");
    let q = dns_query(0x5247, "bench.rand-guard.example");
    chunked(n, |per| {
        let (start, cpu0) = (Instant::now(), self_cpu());
        for _ in 0..per {
            sock.send_to(&q, to).expect("sendto");
        }
        (start.elapsed(), self_cpu() - cpu0)
    })
}

/// write(2) of one byte to /dev/null, `n` times, in CHUNKS chunks: what
/// every write on the host pays while a program is attached to
/// sys_exit_write (the DNS hook looks the fd up to see it is no socket).
pub fn write_storm_min(n: usize) -> Cost {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("open /dev/null");
    chunked(n, |per| {
        let (start, cpu0) = (Instant::now(), self_cpu());
        for _ in 0..per {
            f.write_all(b"x").expect("write /dev/null");
        }
        (start.elapsed(), self_cpu() - cpu0)
    })
}

/// fork + exec of one program without arguments, as a shell runs a command.
pub struct Spawner {
    path: CString,
}

impl Spawner {
    pub fn new(path: &str) -> Spawner {
        Spawner {
            path: CString::new(path).expect("no NUL in the program path"),
        }
    }

    /// fork, and exec the program in the child; returns the child's pid.
    pub fn spawn(&self) -> libc::pid_t {
        // Built before the fork: the child may only call async-signal-safe
        // functions (this process has threads), so it must not allocate.
        let argv = [self.path.as_ptr(), std::ptr::null()];
        // SAFETY: fork has no preconditions; the child below only calls
        // execv and _exit, both async-signal-safe, on memory prepared
        // before the fork.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: path and argv are NUL-terminated and outlive the call;
            // execv returns only on failure, and then the child exits at once.
            unsafe {
                libc::execv(self.path.as_ptr(), argv.as_ptr());
                libc::_exit(127);
            }
        }
        assert!(pid > 0, "fork: {}", std::io::Error::last_os_error());
        pid
    }

    /// Reap `pid`; false if `nohang` and it has not exited yet. Panics if
    /// the program failed: a benchmark of failing execs measures nothing.
    pub fn reap(&self, pid: libc::pid_t, nohang: bool) -> bool {
        let mut status = 0;
        let flags = if nohang { libc::WNOHANG } else { 0 };
        // SAFETY: waitpid writes only the status int we pass.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if r == 0 {
            return false;
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{} failed: wait status {status:#x}",
            self.path.to_string_lossy()
        );
        true
    }
}

/// The exec storm: fork + exec + wait of `/bin/true`, `n` times, in
/// CHUNKS chunks. CPU time includes the children's.
pub fn exec_storm_min(n: usize) -> Cost {
    let s = Spawner::new("/bin/true");
    chunked(n, |per| {
        let (start, cpu0) = (Instant::now(), self_and_children_cpu());
        for _ in 0..per {
            let pid = s.spawn();
            s.reap(pid, false);
        }
        (start.elapsed(), self_and_children_cpu() - cpu0)
    })
}

/// `n` copies of `src` in `dir` (created), each its own inode.
pub fn copies(src: &str, dir: &Path, n: usize) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    (0..n)
        .map(|i| {
            let to = dir.join(format!("true-{i}"));
            std::fs::copy(src, &to)?;
            Ok(to.to_string_lossy().into_owned())
        })
        .collect()
}

/// The exec storm over `paths` in turn: fork + exec + wait, `n` times.
pub fn exec_storm_over_min(paths: &[String], n: usize) -> Cost {
    let s: Vec<Spawner> = paths.iter().map(|p| Spawner::new(p)).collect();
    let mut next = 0;
    chunked(n, |per| {
        let (start, cpu0) = (Instant::now(), self_and_children_cpu());
        for _ in 0..per {
            let sp = &s[next % s.len()];
            next += 1;
            let pid = sp.spawn();
            sp.reap(pid, false);
        }
        (start.elapsed(), self_and_children_cpu() - cpu0)
    })
}

/// One chunk of a paced run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chunk {
    pub ops: u64,
    pub wall: Duration,
    pub cpu: Duration,
}

/// A paced run: its chunks, in order.
#[derive(Debug, Clone, Default)]
pub struct Paced {
    pub chunks: Vec<Chunk>,
}

impl Paced {
    pub fn ops(&self) -> u64 {
        self.chunks.iter().map(|c| c.ops).sum()
    }

    pub fn elapsed(&self) -> Duration {
        self.chunks.iter().map(|c| c.wall).sum()
    }

    /// Operations per second over the whole run.
    pub fn rate(&self) -> f64 {
        self.ops() as f64 / self.elapsed().as_secs_f64()
    }

    /// CPU time per operation of the cheapest chunk (see [`CHUNKS`]).
    pub fn min_cpu_per_op(&self) -> Duration {
        self.chunks
            .iter()
            .filter(|c| c.ops > 0)
            .map(|c| c.cpu / c.ops as u32)
            .min()
            .unwrap_or_default()
    }

    /// Wall time per operation of the cheapest chunk: for unpaced runs.
    pub fn min_wall_per_op(&self) -> Duration {
        self.chunks
            .iter()
            .filter(|c| c.ops > 0)
            .map(|c| c.wall / c.ops as u32)
            .min()
            .unwrap_or_default()
    }
}

/// The shortest sleep between due operations. Shorter sleeps overshoot by
/// about as much as they last (timer slack), and each costs a syscall and
/// a wakeup; at high rates operations come in bursts of rate × this.
const MIN_SLEEP: Duration = Duration::from_micros(200);

/// Call `op` `rate` times per second (`None`: back to back) for
/// `duration`, in CHUNKS chunks of equal length, measuring each chunk's
/// operations, wall time and CPU time (`cpu`, e.g. [`self_cpu`]).
/// `tick(elapsed)` runs about once a second, for sampling and progress.
pub fn pace(
    rate: Option<f64>,
    duration: Duration,
    cpu: fn() -> Duration,
    mut op: impl FnMut(),
    mut tick: impl FnMut(Duration),
) -> Paced {
    let chunk_len = duration / CHUNKS as u32;
    let start = Instant::now();
    let mut done: u64 = 0;
    let mut next_tick = Duration::from_secs(1);
    let mut out = Paced::default();
    for k in 1..=CHUNKS as u32 {
        let (c_start, c_cpu, c_done) = (Instant::now(), cpu(), done);
        let c_end = chunk_len * k;
        loop {
            let now = start.elapsed();
            if now >= c_end {
                break;
            }
            if now >= next_tick {
                tick(now);
                next_tick += Duration::from_secs(1);
            }
            match rate {
                None => {
                    // Check the clock every few operations only.
                    for _ in 0..16 {
                        op();
                    }
                    done += 16;
                }
                Some(r) => {
                    // Due by now: the schedule is absolute, so a late
                    // wakeup is caught up, never lost. At most 10 ms worth
                    // at a time, so that a workload slower than its rate
                    // still ends on time (and reports the rate it reached).
                    let due = (now.as_secs_f64() * r) as u64;
                    let batch_end = due.min(done + ((r / 100.0) as u64).max(1));
                    while done < batch_end {
                        op();
                        done += 1;
                    }
                    if done >= due {
                        let next = Duration::from_secs_f64((done + 1) as f64 / r);
                        let wait = next.saturating_sub(start.elapsed()).max(MIN_SLEEP);
                        std::thread::sleep(wait.min(c_end.saturating_sub(start.elapsed())));
                    }
                }
            }
        }
        out.chunks.push(Chunk {
            ops: done - c_done,
            wall: c_start.elapsed(),
            cpu: cpu() - c_cpu,
        });
    }
    out
}

/// What the throughput workload does per operation (`--op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOp {
    /// Open one of 1024 rotating files for writing, overwrite its first
    /// 64 bytes, close: one `open` event each when the directory is
    /// watched. No O_TRUNC: ext4 flushes a file that was truncated and
    /// rewritten when it is closed (auto_da_alloc), which would make this
    /// a disk benchmark at a few hundred operations/s.
    Write,
    /// fchmod(2) of one of 16 files held open, between 0644 and 0640: one
    /// `chmod` event each, at a few µs of workload CPU, so event rates of
    /// 100k/s fit on a small machine beside the agent.
    Chmod,
}

impl FileOp {
    pub fn name(self) -> &'static str {
        match self {
            FileOp::Write => "write",
            FileOp::Chmod => "chmod",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FileOp::Write => {
                "open(O_WRONLY) + write 64 B at offset 0 + close of 1024 rotating files: one open event per operation"
            }
            FileOp::Chmod => {
                "fchmod of 16 files held open, alternating 0644 and 0640: one chmod event per operation"
            }
        }
    }
}

/// The throughput workload's operations in one directory (see [`FileOp`]).
pub struct FileWriter {
    op: FileOp,
    names: Vec<PathBuf>,
    /// The files held open for [`FileOp::Chmod`].
    open: Vec<fs::File>,
    next: usize,
}

impl FileWriter {
    pub fn new(dir: &Path, op: FileOp) -> FileWriter {
        fs::create_dir_all(dir).expect("workload directory");
        let names: Vec<PathBuf> = (0..1024).map(|i| dir.join(format!("f{i}"))).collect();
        for p in &names {
            fs::write(p, [0x5a; 64]).expect("create a workload file");
        }
        let open = match op {
            FileOp::Write => Vec::new(),
            FileOp::Chmod => names[..16]
                .iter()
                .map(|p| fs::File::open(p).expect("open a workload file"))
                .collect(),
        };
        FileWriter {
            op,
            names,
            open,
            next: 0,
        }
    }

    pub fn op(&mut self) {
        let i = self.next;
        self.next += 1;
        match self.op {
            FileOp::Write => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .open(&self.names[i % self.names.len()])
                    .expect("open for write");
                f.write_all(&[0x5a; 64]).expect("write");
            }
            FileOp::Chmod => {
                use std::os::unix::fs::PermissionsExt;
                let mode = if (i / self.open.len()).is_multiple_of(2) {
                    0o640
                } else {
                    0o644
                };
                self.open[i % self.open.len()]
                    .set_permissions(fs::Permissions::from_mode(mode))
                    .expect("fchmod");
            }
        }
    }
}

/// Paced execs: fork + exec `/bin/true` without waiting for each child
/// (a single waiting loop could not reach 1,600/s on a slow machine);
/// children are reaped as they finish, oldest first.
pub struct ExecPacer {
    spawner: Spawner,
    running: VecDeque<libc::pid_t>,
}

impl ExecPacer {
    pub fn new() -> ExecPacer {
        ExecPacer {
            spawner: Spawner::new("/bin/true"),
            running: VecDeque::new(),
        }
    }

    pub fn op(&mut self) {
        // Reap only our own children by pid: this process has other
        // children (the agent) that a wait for any child would take.
        while let Some(&pid) = self.running.front() {
            if !self.spawner.reap(pid, true) {
                break;
            }
            self.running.pop_front();
        }
        self.running.push_back(self.spawner.spawn());
    }

    /// Wait for every child still running.
    pub fn finish(&mut self) {
        while let Some(pid) = self.running.pop_front() {
            self.spawner.reap(pid, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_keeps_the_cheapest_chunk() {
        let mut costs = [5u64, 3, 4, 9, 6].into_iter();
        let c = chunked(50, |per| {
            assert_eq!(per, 10);
            let ms = Duration::from_millis(costs.next().unwrap());
            (ms, ms * 2)
        });
        assert_eq!(c.wall, Duration::from_millis(15));
        assert_eq!(c.cpu, Duration::from_millis(30));
        assert_eq!(c.elapsed, Duration::from_millis(27));
    }

    #[test]
    fn pace_holds_the_rate() {
        let mut n = 0u64;
        let p = pace(
            Some(2000.0),
            Duration::from_millis(500),
            self_cpu,
            || n += 1,
            |_| {},
        );
        assert_eq!(p.chunks.len(), CHUNKS);
        assert_eq!(p.ops(), n);
        // 1,000 are due in 0.5 s and never more are made; a loaded machine
        // may not run this thread for a while, so only the ceiling is sharp.
        assert!((500..=1001).contains(&n), "{n}");
        assert!(p.rate() <= 2010.0, "{}", p.rate());
    }

    #[test]
    fn loopback_storms_run() {
        let l = loopback_listener();
        assert!(!SUSPICIOUS_PORTS.contains(&l.local_addr().unwrap().port()));
        let c = connect_storm_min(50);
        assert!(c.elapsed >= c.wall / CHUNKS as u32);
        let (_sink, to) = dns_sink();
        assert_eq!(to.port(), 53);
        dns_storm_min(to, 10);
        write_storm_min(10);
    }

    #[test]
    fn dns_query_is_well_formed() {
        let q = dns_query(0x1234, "a.bc");
        assert_eq!(
            q,
            [
                0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 1, 0, 1
            ]
        );
    }

    #[test]
    fn execs_run_and_are_reaped() {
        let mut e = ExecPacer::new();
        for _ in 0..5 {
            e.op();
        }
        e.finish();
        assert!(e.running.is_empty());
        let c = exec_storm_min(5);
        assert!(c.cpu > Duration::ZERO && c.elapsed >= c.wall / CHUNKS as u32);
    }
}
