//! Connections to the collector: a Unix datagram socket, TCP, or TLS over
//! TCP (rustls), or a RELP session over TCP ([`super::relp`]), all
//! blocking with timeouts, owned by the forwarder thread. [`Conn::acked`]
//! says how far the collector acknowledged this connection's messages: for
//! TCP and TLS in bytes its host took (`TCP_INFO`), for RELP in messages
//! its process answered; so a broken connection's unacknowledged messages
//! can be sent again on the next.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::relp::Session;
use crate::config::{Syslog, Transport};

/// How long a connection attempt, or a write the collector does not take,
/// may last before it counts as failed.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// A start-up error: the `[forward.syslog]` key and the reason.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {reason}")]
pub struct ForwardError {
    pub key: &'static str,
    pub reason: String,
}

/// Everything needed to (re)connect, checked once at start.
pub struct Dialer {
    transport: Transport,
    address: String,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

impl Dialer {
    /// Read the TLS files (a missing, unreadable or unparseable one is an
    /// error naming its key). Nothing is connected yet.
    pub fn new(cfg: &Syslog) -> Result<Dialer, ForwardError> {
        let tls = match cfg.transport {
            Transport::Tls => Some(tls_config(cfg)?),
            _ => None,
        };
        Ok(Dialer {
            transport: cfg.transport,
            address: cfg.address().to_string(),
            tls,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn is_stream(&self) -> bool {
        self.transport != Transport::Unix
    }

    pub fn is_relp(&self) -> bool {
        self.transport == Transport::Relp
    }

    pub fn connect(&self) -> io::Result<Conn> {
        if self.transport == Transport::Unix {
            let s = UnixDatagram::unbound()?;
            s.connect(&self.address)?;
            s.set_write_timeout(Some(IO_TIMEOUT))?;
            return Ok(Conn::Unix(s));
        }
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to nothing");
        for addr in self.address.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
                Ok(s) => {
                    s.set_write_timeout(Some(IO_TIMEOUT))?;
                    s.set_read_timeout(Some(IO_TIMEOUT))?;
                    s.set_nodelay(true)?;
                    return match (&self.tls, self.transport) {
                        (Some((config, name)), _) => handshake(s, config.clone(), name.clone()),
                        (None, Transport::Relp) => relp_open(s),
                        (None, _) => Ok(Conn::Tcp { sock: s, base: 0 }),
                    };
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// The client side of a TLS session: the collector's certificate must
/// chain to `tls_ca` and name `tls_server_name` (or the address's host);
/// a client certificate when `tls_cert` and `tls_key` are set.
fn tls_config(
    cfg: &Syslog,
) -> Result<(Arc<rustls::ClientConfig>, ServerName<'static>), ForwardError> {
    let read = |key: &'static str, path: &str| {
        fs::read(path).map_err(|e| ForwardError {
            key,
            reason: format!("cannot read {path}: {e}"),
        })
    };
    let certs = |key: &'static str, path: &str| -> Result<Vec<CertificateDer<'static>>, _> {
        let pem = read(key, path)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ForwardError {
                key,
                reason: format!("{path} is not a PEM certificate file: {e}"),
            })?;
        if certs.is_empty() {
            return Err(ForwardError {
                key,
                reason: format!("{path} holds no PEM certificate"),
            });
        }
        Ok(certs)
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in certs("forward.syslog.tls_ca", &cfg.tls_ca)? {
        roots.add(c).map_err(|e| ForwardError {
            key: "forward.syslog.tls_ca",
            reason: format!("{}: not a usable CA certificate: {e}", cfg.tls_ca),
        })?;
    }
    // ring rather than rustls' default aws-lc-rs: a small C build that
    // links into the static release binary as is. rustls 0.23.48 marks
    // it deprecated for lacking post-quantum key exchange; the classical
    // groups it has are what rsyslog's gtls and ossl drivers offer too.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ForwardError {
            key: "forward.syslog.transport",
            reason: format!("TLS: {e}"),
        })?
        .with_root_certificates(roots);
    let config = if cfg.tls_cert.is_empty() {
        builder.with_no_client_auth()
    } else {
        let chain = certs("forward.syslog.tls_cert", &cfg.tls_cert)?;
        let pem = read("forward.syslog.tls_key", &cfg.tls_key)?;
        let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| ForwardError {
            key: "forward.syslog.tls_key",
            reason: format!("{} is not a PEM private key: {e}", cfg.tls_key),
        })?;
        builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| ForwardError {
                key: "forward.syslog.tls_key",
                reason: format!("{} does not go with tls_cert: {e}", cfg.tls_key),
            })?
    };
    let host = match cfg.tls_server_name.as_str() {
        "" => cfg.host_port().map_or("", |(h, _)| h),
        n => n,
    };
    let name = ServerName::try_from(host.to_string()).map_err(|e| ForwardError {
        key: if cfg.tls_server_name.is_empty() {
            "forward.syslog.address"
        } else {
            "forward.syslog.tls_server_name"
        },
        reason: format!("{host:?} is not a name or address a certificate can carry: {e}"),
    })?;
    Ok((Arc::new(config), name))
}

/// Complete the TLS handshake on a connected socket; the bytes it wrote
/// are where this connection's messages start.
fn handshake(
    mut sock: TcpStream,
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
) -> io::Result<Conn> {
    let mut tls = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
    // A message may be larger than rustls' default 64 KiB of pending
    // ciphertext; it is drained after each message anyway.
    tls.set_buffer_limit(None);
    let mut base = 0u64;
    while tls.is_handshaking() {
        let (_, wrote) = tls.complete_io(&mut sock)?;
        base += wrote as u64;
    }
    Ok(Conn::Tls {
        tls: Box::new(tls),
        sock,
        base,
    })
}

/// Open a RELP session on a connected socket: write `open`, wait (within
/// the socket's read timeout) for the answer.
fn relp_open(mut sock: TcpStream) -> io::Result<Conn> {
    let mut session = Box::<Session>::default();
    let mut out = Vec::new();
    session.open(&mut out);
    sock.write_all(&out)?;
    let mut buf = [0u8; 4096];
    while !session.opened() {
        match sock.read(&mut buf)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "RELP: the collector closed before answering open",
                ));
            }
            n => session.take(&buf[..n])?,
        }
    }
    Ok(Conn::Relp { sock, session })
}

pub enum Conn {
    Unix(UnixDatagram),
    /// `base`: bytes of this connection that carry no message (the TLS
    /// handshake), so that message offsets compare with [`Conn::acked`].
    Tcp {
        sock: TcpStream,
        base: u64,
    },
    Tls {
        tls: Box<rustls::ClientConnection>,
        sock: TcpStream,
        base: u64,
    },
    Relp {
        sock: TcpStream,
        session: Box<Session>,
    },
}

impl Conn {
    /// Send one datagram (the Unix transport).
    pub fn send_datagram(&self, msg: &[u8]) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.send(msg).map(|_| ()),
            _ => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Encrypt `frame` (TLS), wrap it in a RELP command, or take it as is
    /// (TCP) into `wire`, the bytes to write to the socket after
    /// `wire_base` bytes of messages already written on this connection.
    /// What [`Conn::acked`] reaches once the collector has it.
    pub fn seal(&mut self, frame: &[u8], wire: &mut Vec<u8>, wire_base: u64) -> io::Result<u64> {
        match self {
            Conn::Tls { tls, .. } => {
                tls.writer().write_all(frame)?;
                while tls.wants_write() {
                    tls.write_tls(wire)?;
                }
            }
            Conn::Relp { session, .. } => return Ok(session.syslog(frame, wire)),
            _ => wire.extend_from_slice(frame),
        }
        Ok(wire_base + wire.len() as u64)
    }

    /// Write all of `wire` to the socket.
    pub fn write_wire(&mut self, wire: &[u8]) -> io::Result<()> {
        match self {
            Conn::Tcp { sock, .. } | Conn::Tls { sock, .. } | Conn::Relp { sock, .. } => {
                (&*sock).write_all(wire)
            }
            Conn::Unix(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// The collector closed its end, or the connection failed: a syslog
    /// collector sends nothing on it but what TLS itself needs (session
    /// tickets, alerts), which is read and processed here; a RELP one
    /// sends answers, read here too (a `serverclose` or a bad answer
    /// counts as closed).
    pub fn closed_by_peer(&mut self) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let sock = match self {
            Conn::Tcp { sock, .. } | Conn::Tls { sock, .. } | Conn::Relp { sock, .. } => sock,
            Conn::Unix(_) => return false,
        };
        // The peer's FIN (Linux); nix does not name it.
        let rdhup = PollFlags::from_bits_retain(nix::libc::POLLRDHUP);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(sock),
            PollFlags::POLLIN | rdhup,
        )];
        if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1..)) {
            return false;
        }
        let ev = fds[0].revents().unwrap_or(PollFlags::empty());
        if ev.intersects(rdhup | PollFlags::POLLHUP | PollFlags::POLLERR) {
            return true;
        }
        self.drain_incoming()
    }

    /// Read and process what the collector sent: a TLS one's tickets and
    /// alerts, so that its bytes do not pile up in the socket; a RELP
    /// one's answers. Never waits. True: the RELP session is over (the
    /// server said so, closed, or answered wrong).
    pub fn drain_incoming(&mut self) -> bool {
        if let Conn::Relp { sock, session } = self {
            let mut buf = [0u8; 4096];
            loop {
                match recv_now(sock, &mut buf) {
                    Ok(0) => session.closed = true,
                    Ok(n) => match session.take(&buf[..n]) {
                        Ok(()) => continue,
                        Err(e) => {
                            eprintln!("rand-guard: forward: {e}");
                            session.closed = true;
                        }
                    },
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => session.closed = true,
                }
                return session.closed;
            }
        }
        if let Conn::Tls { tls, sock, .. } = self {
            let _ = sock.set_nonblocking(true);
            while let Ok(n) = tls.read_tls(sock) {
                if n == 0 || tls.process_new_packets().is_err() {
                    break;
                }
                let mut sink = [0u8; 512];
                while matches!(tls.reader().read(&mut sink), Ok(1..)) {}
            }
            let _ = sock.set_nonblocking(false);
        }
        false
    }

    /// RELP: wait up to `timeout` for answers, and read them.
    pub fn await_answers(&mut self, timeout: Duration) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        if let Conn::Relp { sock, .. } = self {
            let ms = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(
                std::os::fd::AsFd::as_fd(sock),
                PollFlags::POLLIN,
            )];
            let _ = poll(&mut fds, ms);
            self.drain_incoming();
        }
    }

    /// RELP: messages the collector answered as refused since the last
    /// call (acknowledged, but not kept).
    pub fn take_refused(&mut self) -> u64 {
        match self {
            Conn::Relp { session, .. } => session.take_refused(),
            _ => 0,
        }
    }

    /// How far the collector has acknowledged this connection's messages,
    /// in [`Conn::seal`]'s units: for RELP the messages answered (reading
    /// the answers that came), else bytes its host took (TCP
    /// `tcpi_bytes_acked` less the handshake). None for a datagram socket
    /// or when the kernel does not say.
    pub fn acked(&mut self) -> Option<u64> {
        if let Conn::Relp { .. } = self {
            self.drain_incoming();
        }
        let (sock, base) = match self {
            Conn::Tcp { sock, base } | Conn::Tls { sock, base, .. } => (&*sock, *base),
            Conn::Relp { session, .. } => return Some(session.answered()),
            Conn::Unix(_) => return None,
        };
        tcp_bytes_acked(sock).map(|a| a.saturating_sub(base))
    }

    /// Drop a connection that failed: reset it, so that bytes still in
    /// its send queue are discarded rather than delivered after the
    /// records they carry are sent again on the next connection.
    pub fn abort(self) {
        if let Conn::Tcp { sock, .. } | Conn::Tls { sock, .. } | Conn::Relp { sock, .. } = &self {
            let linger = nix::libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: a valid socket and a `linger` of the size passed;
            // failing leaves the ordinary close below.
            unsafe {
                nix::libc::setsockopt(
                    sock.as_raw_fd(),
                    nix::libc::SOL_SOCKET,
                    nix::libc::SO_LINGER,
                    (&linger as *const nix::libc::linger).cast(),
                    std::mem::size_of::<nix::libc::linger>() as nix::libc::socklen_t,
                );
            }
        }
    }

    /// End the connection (the collector sees a close, not a reset, when
    /// it has read everything).
    pub fn close(self) {
        match self {
            Conn::Tls {
                mut tls, mut sock, ..
            } => {
                tls.send_close_notify();
                let _ = tls.write_tls(&mut sock);
                let _ = sock.shutdown(Shutdown::Write);
            }
            Conn::Tcp { sock, .. } => {
                let _ = sock.shutdown(Shutdown::Write);
            }
            Conn::Relp { mut sock, session } => {
                let mut out = Vec::new();
                session.close(&mut out);
                let _ = sock.write_all(&out);
                let _ = sock.shutdown(Shutdown::Write);
            }
            Conn::Unix(_) => {}
        }
    }
}

/// What the socket has received, without waiting (`MSG_DONTWAIT`: the
/// socket stays blocking for the writes).
fn recv_now(sock: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length, which is what is passed.
    let n = unsafe {
        nix::libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            nix::libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// `tcpi_bytes_acked` of `struct tcp_info` (Linux 4.1+; RFC 4898
/// tcpEStatsAppHCThruOctetsAcked), which outlives a reset: how much of
/// what was written reached the peer.
fn tcp_bytes_acked(sock: &TcpStream) -> Option<u64> {
    // Offset of tcpi_bytes_acked in struct tcp_info (include/uapi/linux/tcp.h):
    // 8 one-byte fields, 24 u32 fields, then u64 pacing rates (2), then
    // tcpi_bytes_acked.
    const OFFSET: usize = 8 + 24 * 4 + 2 * 8;
    let mut info = [0u8; 256];
    let mut len = info.len() as nix::libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes and getsockopt writes at
    // most `len` bytes, updating `len` to what it wrote.
    let rc = unsafe {
        nix::libc::getsockopt(
            sock.as_raw_fd(),
            nix::libc::IPPROTO_TCP,
            nix::libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 || (len as usize) < OFFSET + 8 {
        return None;
    }
    let bytes: [u8; 8] = info[OFFSET..OFFSET + 8].try_into().ok()?;
    Some(u64::from_ne_bytes(bytes))
}
