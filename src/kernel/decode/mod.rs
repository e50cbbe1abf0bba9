//! Record decoder: ring-buffer bytes to typed views.
//!
//! In: one record's bytes exactly as the ring buffer delivered them.
//! Out: a [`Record`] borrowing those bytes, or a [`DecodeError`] saying why
//! the bytes are not a record this build understands. Never panics, on any
//! input: the bytes come from the kernel, and an object built from other
//! sources (`EDR_EBPF_OBJECT`) may disagree with us.
//!
//! The encoders at the bottom are the exact inverse; tests, benchmarks and
//! fuzzing use them to make records without a kernel.

use crate::kernel::abi::{self, Hdr, Slice, kind};

/// A decoded record; variable-length parts borrow the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    Exec(ExecRecord<'a>),
    Fork(abi::Fork),
    Exit(abi::Exit),
    /// Socket stdio (a shell's view of a reverse shell).
    Stdio(abi::Stdio),
    /// A signal sent to the agent.
    Signal(abi::Signal),
    /// Dynamic-linker variables of the exec record that follows it.
    ExecEnv(ExecEnvRecord<'a>),
    /// Every file kind (open, unlink, rename, ...): `fixed.hdr.kind` says which.
    File(FileRecord<'a>),
    /// Every network kind (connect, bind, listen, accept, dns).
    Net(NetRecord<'a>),
}

impl Record<'_> {
    pub fn hdr(&self) -> &Hdr {
        match self {
            Record::Exec(e) => &e.fixed.hdr,
            Record::Fork(f) => &f.hdr,
            Record::Exit(x) => &x.hdr,
            Record::Stdio(x) => &x.hdr,
            Record::Signal(x) => &x.hdr,
            Record::ExecEnv(e) => &e.fixed.hdr,
            Record::File(f) => &f.fixed.hdr,
            Record::Net(n) => &n.fixed.hdr,
        }
    }
}

/// A network record: the fixed part, the unix socket path, the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetRecord<'a> {
    pub fixed: abi::Net,
    pub unix_path: &'a [u8],
    pub payload: &'a [u8],
}

/// A file record: the fixed part and its path operands (no NULs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRecord<'a> {
    pub fixed: abi::File,
    pub dir: &'a [u8],
    pub path: &'a [u8],
    pub dir2: &'a [u8],
    pub path2: &'a [u8],
}

/// An exec record: the fixed part and its slices (strings without NUL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecRecord<'a> {
    pub fixed: abi::Exec,
    pub filename: &'a [u8],
    pub cwd: &'a [u8],
    pub exe: &'a [u8],
    /// NUL-separated argv area; the last argument lacks its NUL when cut.
    pub args: &'a [u8],
}

/// An exec_env record: the fixed part and its matched strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecEnvRecord<'a> {
    pub fixed: abi::ExecEnv,
    /// `NAME=value` strings, each NUL-terminated (as argv).
    pub vars: &'a [u8],
}

/// Why bytes were not accepted as a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record truncated: {len} bytes, a {what} needs {need}")]
    Truncated {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("record ABI version {found}, this build reads version {expected}")]
    AbiVersion { found: u8, expected: u8 },
    #[error("unknown record kind {0}")]
    UnknownKind(u16),
    #[error("{what} record: header says {declared} bytes, ring buffer gave {actual}")]
    SizeMismatch {
        what: &'static str,
        declared: u32,
        actual: usize,
    },
    #[error("{what} record: {field} slice at {off} len {len} exceeds {data} data bytes")]
    BadSlice {
        what: &'static str,
        field: &'static str,
        off: u16,
        len: u16,
        data: usize,
    },
}

/// The two loss reasons the health record distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Bytes that do not follow the ABI (size, version, slices).
    InvalidSchema,
    /// A well-formed header of a kind this build does not know.
    UnsupportedKind,
}

impl DecodeError {
    pub fn reason(&self) -> Reason {
        match self {
            DecodeError::UnknownKind(_) => Reason::UnsupportedKind,
            _ => Reason::InvalidSchema,
        }
    }
}

/// Decode one record.
pub fn decode(bytes: &[u8]) -> Result<Record<'_>, DecodeError> {
    let hdr: Hdr = read_fixed(bytes, "header")?;
    if hdr.abi_version != abi::ABI_VERSION {
        return Err(DecodeError::AbiVersion {
            found: hdr.abi_version,
            expected: abi::ABI_VERSION,
        });
    }
    let what = kind::name(hdr.kind).ok_or(DecodeError::UnknownKind(hdr.kind))?;
    if hdr.size as usize != bytes.len() {
        return Err(DecodeError::SizeMismatch {
            what,
            declared: hdr.size,
            actual: bytes.len(),
        });
    }
    match hdr.kind {
        kind::EXEC => decode_exec(bytes).map(Record::Exec),
        kind::FORK => exact(bytes, what).map(Record::Fork),
        kind::EXIT => exact(bytes, what).map(Record::Exit),
        kind::STDIO_SOCKET => exact(bytes, what).map(Record::Stdio),
        kind::SIGNAL => exact(bytes, what).map(Record::Signal),
        kind::EXEC_ENV => decode_exec_env(bytes).map(Record::ExecEnv),
        k if kind::is_file(k) => decode_file(bytes, what).map(Record::File),
        k if kind::is_net(k) => decode_net(bytes, what).map(Record::Net),
        other => Err(DecodeError::UnknownKind(other)),
    }
}

/// Just the header, checked for version and length; for the poller, which
/// validates a record before copying it on.
pub fn check(bytes: &[u8]) -> Result<Hdr, DecodeError> {
    decode(bytes).map(|r| *r.hdr())
}

fn read_fixed<T: plain::Plain + Default>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, DecodeError> {
    let mut v = T::default();
    // copy_from_bytes needs only len >= size_of::<T>(), no alignment.
    plain::copy_from_bytes(&mut v, bytes).map_err(|_| DecodeError::Truncated {
        what,
        len: bytes.len(),
        need: size_of::<T>(),
    })?;
    Ok(v)
}

/// A fixed-size record: exactly size_of::<T>() bytes.
fn exact<T: plain::Plain + Default>(bytes: &[u8], what: &'static str) -> Result<T, DecodeError> {
    if bytes.len() != size_of::<T>() {
        return Err(DecodeError::SizeMismatch {
            what,
            declared: size_of::<T>() as u32,
            actual: bytes.len(),
        });
    }
    read_fixed(bytes, what)
}

/// The data after a fixed part, and a checked way to take slices of it.
fn tail<'a>(
    bytes: &'a [u8],
    fixed: usize,
    what: &'static str,
) -> impl Fn(&'static str, Slice) -> Result<&'a [u8], DecodeError> {
    let data = &bytes[fixed..];
    move |field, s| {
        let start = s.off as usize;
        data.get(start..start + s.len as usize)
            .ok_or(DecodeError::BadSlice {
                what,
                field,
                off: s.off,
                len: s.len,
                data: data.len(),
            })
    }
}

fn decode_exec(bytes: &[u8]) -> Result<ExecRecord<'_>, DecodeError> {
    let fixed: abi::Exec = read_fixed(bytes, "exec record")?;
    let slice = tail(bytes, size_of::<abi::Exec>(), "exec");
    Ok(ExecRecord {
        filename: slice("filename", fixed.filename)?,
        cwd: slice("cwd", fixed.cwd)?,
        exe: slice("exe", fixed.exe)?,
        args: slice("args", fixed.args)?,
        fixed,
    })
}

fn decode_exec_env(bytes: &[u8]) -> Result<ExecEnvRecord<'_>, DecodeError> {
    let fixed: abi::ExecEnv = read_fixed(bytes, "exec_env record")?;
    let slice = tail(bytes, size_of::<abi::ExecEnv>(), "exec_env");
    Ok(ExecEnvRecord {
        vars: slice("vars", fixed.vars)?,
        fixed,
    })
}

fn decode_file<'a>(bytes: &'a [u8], what: &'static str) -> Result<FileRecord<'a>, DecodeError> {
    let fixed: abi::File = read_fixed(bytes, "file record")?;
    let slice = tail(bytes, size_of::<abi::File>(), what);
    Ok(FileRecord {
        dir: slice("dir", fixed.dir)?,
        path: slice("path", fixed.path)?,
        dir2: slice("dir2", fixed.dir2)?,
        path2: slice("path2", fixed.path2)?,
        fixed,
    })
}

fn decode_net<'a>(bytes: &'a [u8], what: &'static str) -> Result<NetRecord<'a>, DecodeError> {
    let fixed: abi::Net = read_fixed(bytes, "network record")?;
    let slice = tail(bytes, size_of::<abi::Net>(), what);
    Ok(NetRecord {
        unix_path: slice("unix_path", fixed.unix_path)?,
        payload: slice("payload", fixed.payload)?,
        fixed,
    })
}

/// Encode a network record of kind `fixed.hdr.kind` with its unix path
/// and payload; fills the slices, the size and the version.
pub fn encode_net(fixed: &abi::Net, unix_path: &[u8], payload: &[u8], out: &mut Vec<u8>) {
    let mut rec = *fixed;
    rec.unix_path = Slice {
        off: 0,
        len: unix_path.len() as u16,
    };
    rec.payload = Slice {
        off: unix_path.len() as u16,
        len: payload.len() as u16,
    };
    rec.hdr.abi_version = abi::ABI_VERSION;
    rec.hdr.size = (size_of::<abi::Net>() + unix_path.len() + payload.len()) as u32;
    out.extend_from_slice(abi::as_bytes(&rec));
    out.extend_from_slice(unix_path);
    out.extend_from_slice(payload);
}

/// Encode an exec record: lays the four byte strings out after the fixed
/// part, fills the slices, the size and the header's kind and version.
pub fn encode_exec(
    fixed: &abi::Exec,
    filename: &[u8],
    cwd: &[u8],
    exe: &[u8],
    args: &[u8],
    out: &mut Vec<u8>,
) {
    let mut rec = *fixed;
    let mut data = Vec::with_capacity(filename.len() + cwd.len() + exe.len() + args.len());
    let mut put = |bytes: &[u8]| {
        let s = Slice {
            off: data.len() as u16,
            len: bytes.len() as u16,
        };
        data.extend_from_slice(bytes);
        s
    };
    rec.filename = put(filename);
    rec.cwd = put(cwd);
    rec.exe = put(exe);
    rec.args = put(args);
    rec.hdr.kind = kind::EXEC;
    rec.hdr.abi_version = abi::ABI_VERSION;
    rec.hdr.size = (size_of::<abi::Exec>() + data.len()) as u32;
    out.extend_from_slice(abi::as_bytes(&rec));
    out.extend_from_slice(&data);
}

/// Encode an exec_env record with its matched strings; fills the slice,
/// the size and the header's kind and version.
pub fn encode_exec_env(fixed: &abi::ExecEnv, vars: &[u8], out: &mut Vec<u8>) {
    let mut rec = *fixed;
    rec.vars = Slice {
        off: 0,
        len: vars.len() as u16,
    };
    set_hdr(
        &mut rec.hdr,
        kind::EXEC_ENV,
        size_of::<abi::ExecEnv>() + vars.len(),
    );
    out.extend_from_slice(abi::as_bytes(&rec));
    out.extend_from_slice(vars);
}

/// Encode a file record of kind `fixed.hdr.kind`: lays out the four path
/// operands, fills the slices, the size and the version.
pub fn encode_file(
    fixed: &abi::File,
    dir: &[u8],
    path: &[u8],
    dir2: &[u8],
    path2: &[u8],
    out: &mut Vec<u8>,
) {
    let mut rec = *fixed;
    let mut data = Vec::with_capacity(dir.len() + path.len() + dir2.len() + path2.len());
    let mut put = |bytes: &[u8]| {
        let s = Slice {
            off: data.len() as u16,
            len: bytes.len() as u16,
        };
        data.extend_from_slice(bytes);
        s
    };
    rec.dir = put(dir);
    rec.path = put(path);
    rec.dir2 = put(dir2);
    rec.path2 = put(path2);
    rec.hdr.abi_version = abi::ABI_VERSION;
    rec.hdr.size = (size_of::<abi::File>() + data.len()) as u32;
    out.extend_from_slice(abi::as_bytes(&rec));
    out.extend_from_slice(&data);
}

/// Encode a fork record, filling kind, version and size.
pub fn encode_fork(fixed: &abi::Fork, out: &mut Vec<u8>) {
    let mut rec = *fixed;
    set_hdr(&mut rec.hdr, kind::FORK, size_of::<abi::Fork>());
    out.extend_from_slice(abi::as_bytes(&rec));
}

/// Encode an exit record, filling kind, version and size.
pub fn encode_exit(fixed: &abi::Exit, out: &mut Vec<u8>) {
    let mut rec = *fixed;
    set_hdr(&mut rec.hdr, kind::EXIT, size_of::<abi::Exit>());
    out.extend_from_slice(abi::as_bytes(&rec));
}

/// Encode a stdio-socket record, filling kind, version and size.
pub fn encode_stdio(fixed: &abi::Stdio, out: &mut Vec<u8>) {
    let mut rec = *fixed;
    set_hdr(&mut rec.hdr, kind::STDIO_SOCKET, size_of::<abi::Stdio>());
    out.extend_from_slice(abi::as_bytes(&rec));
}

/// Encode a signal record, filling kind, version and size.
pub fn encode_signal(fixed: &abi::Signal, out: &mut Vec<u8>) {
    let mut rec = *fixed;
    set_hdr(&mut rec.hdr, kind::SIGNAL, size_of::<abi::Signal>());
    out.extend_from_slice(abi::as_bytes(&rec));
}

fn set_hdr(h: &mut Hdr, kind: u16, size: usize) {
    h.kind = kind;
    h.abi_version = abi::ABI_VERSION;
    h.size = size as u32;
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(pid: u32) -> Hdr {
        Hdr {
            ktime_ns: 123_456_789,
            pid,
            tgid: pid,
            ..Hdr::default()
        }
    }

    fn sample_exec() -> Vec<u8> {
        let fixed = abi::Exec {
            hdr: hdr(42),
            start_ns: 1000,
            parent_start_ns: 500,
            cgroup_id: 7,
            pid_ns: 11,
            mnt_ns: 12,
            net_ns: 13,
            uts_ns: 14,
            ppid: 1,
            uid: 1000,
            gid: 1000,
            euid: 0,
            egid: 0,
            auid: 1000,
            sessionid: 3,
            argc: 2,
            flags: abi::exec_flag::ARGS_TRUNC,
            comm: *b"true\0\0\0\0\0\0\0\0\0\0\0\0",
            ..Default::default()
        };
        let mut out = Vec::new();
        encode_exec(
            &fixed,
            b"./true",
            b"/usr/bin",
            b"/usr/bin/true",
            b"true\0-x\0",
            &mut out,
        );
        out
    }

    #[test]
    fn exec_env_round_trip() {
        let fixed = abi::ExecEnv {
            hdr: hdr(42),
            start_ns: 1000,
            flags: abi::env_flag::CUT | abi::env_flag::VALUE_TRUNC,
            strings: 1024,
            unscanned_bytes: 77,
            count: 2,
            ..Default::default()
        };
        let mut bytes = Vec::new();
        encode_exec_env(&fixed, b"LD_PRELOAD=/tmp/x.so\0LD_AUDIT=a\0", &mut bytes);
        assert_eq!(bytes.len(), size_of::<abi::ExecEnv>() + 32);
        let Record::ExecEnv(e) = decode(&bytes).unwrap() else {
            panic!("not exec_env")
        };
        assert_eq!(e.vars, b"LD_PRELOAD=/tmp/x.so\0LD_AUDIT=a\0");
        assert_eq!(
            (e.fixed.strings, e.fixed.unscanned_bytes, e.fixed.count),
            (1024, 77, 2)
        );
        assert_eq!(e.fixed.hdr.kind, kind::EXEC_ENV);
        assert_eq!(e.fixed.hdr.tgid, 42);
        // A vars slice past the data is refused, naming the field.
        let mut bad = bytes.clone();
        bad.truncate(bad.len() - 1);
        let size = bad.len() as u32;
        bad[4..8].copy_from_slice(&size.to_ne_bytes());
        assert_eq!(
            decode(&bad).unwrap_err().to_string(),
            "exec_env record: vars slice at 0 len 32 exceeds 31 data bytes"
        );
    }

    #[test]
    fn exec_round_trip() {
        let bytes = sample_exec();
        let Record::Exec(e) = decode(&bytes).unwrap() else {
            panic!("not exec")
        };
        assert_eq!(e.filename, b"./true");
        assert_eq!(e.cwd, b"/usr/bin");
        assert_eq!(e.exe, b"/usr/bin/true");
        assert_eq!(e.args, b"true\0-x\0");
        assert_eq!(e.fixed.hdr.pid, 42);
        assert_eq!(e.fixed.uid, 1000);
        assert_eq!(e.fixed.argc, 2);
        assert_eq!(e.fixed.flags, abi::exec_flag::ARGS_TRUNC);
        assert_eq!(e.fixed.hdr.size as usize, bytes.len());
        // Re-encoding the decoded record gives the same bytes.
        let mut again = Vec::new();
        encode_exec(&e.fixed, e.filename, e.cwd, e.exe, e.args, &mut again);
        assert_eq!(again, bytes);
    }

    #[test]
    fn fork_and_exit_round_trip() {
        let fork = abi::Fork {
            hdr: hdr(10),
            child_start_ns: 99,
            parent_start_ns: 98,
            child_pid: 11,
            child_ppid: 10,
        };
        let mut bytes = Vec::new();
        encode_fork(&fork, &mut bytes);
        let Record::Fork(f) = decode(&bytes).unwrap() else {
            panic!("not fork")
        };
        assert_eq!((f.child_pid, f.child_ppid, f.child_start_ns), (11, 10, 99));

        let exit = abi::Exit {
            hdr: hdr(11),
            start_ns: 99,
            exit_code: 3 << 8,
            ppid: 10,
            comm: [0; 16],
        };
        bytes.clear();
        encode_exit(&exit, &mut bytes);
        let Record::Exit(x) = decode(&bytes).unwrap() else {
            panic!("not exit")
        };
        assert_eq!((x.exit_code, x.ppid), (3 << 8, 10));
    }

    fn sample_file() -> Vec<u8> {
        let fixed = abi::File {
            hdr: Hdr {
                kind: kind::FILE_RENAME,
                ..hdr(9)
            },
            ret: 0,
            at_flags: 1,
            syscall: 10,
            ..Default::default()
        };
        let mut out = Vec::new();
        encode_file(&fixed, b"/tmp", b"a", b"", b"/etc/cron.d/a", &mut out);
        out
    }

    #[test]
    fn file_round_trip() {
        let bytes = sample_file();
        let Record::File(f) = decode(&bytes).unwrap() else {
            panic!("not file")
        };
        assert_eq!(f.fixed.hdr.kind, kind::FILE_RENAME);
        assert_eq!(
            (f.dir, f.path, f.dir2, f.path2),
            (&b"/tmp"[..], &b"a"[..], &b""[..], &b"/etc/cron.d/a"[..])
        );
        assert_eq!((f.fixed.syscall, f.fixed.at_flags), (10, 1));
        let mut again = Vec::new();
        encode_file(&f.fixed, f.dir, f.path, f.dir2, f.path2, &mut again);
        assert_eq!(again, bytes);
        for len in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..len]).unwrap_err().reason(),
                Reason::InvalidSchema
            );
        }
    }

    #[test]
    fn net_round_trip() {
        let fixed = abi::Net {
            hdr: Hdr {
                kind: kind::NET_DNS,
                ..hdr(5)
            },
            ret: 30,
            family: 2,
            remote_port: 53,
            ..Default::default()
        };
        let mut bytes = Vec::new();
        encode_net(&fixed, b"", b"\x12\x34query", &mut bytes);
        let Record::Net(n) = decode(&bytes).unwrap() else {
            panic!("not net")
        };
        assert_eq!((n.unix_path, n.payload), (&b""[..], &b"\x12\x34query"[..]));
        assert_eq!((n.fixed.remote_port, n.fixed.ret), (53, 30));
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample_exec();
        for len in 0..bytes.len() {
            let err = decode(&bytes[..len]).unwrap_err();
            assert_eq!(err.reason(), Reason::InvalidSchema, "len {len}: {err}");
        }
        let mut fork = Vec::new();
        encode_fork(&abi::Fork::default(), &mut fork);
        for len in 0..fork.len() {
            assert!(decode(&fork[..len]).is_err());
        }
    }

    #[test]
    fn typed_errors() {
        let mut bytes = Vec::new();
        encode_fork(&abi::Fork::default(), &mut bytes);

        let mut v = bytes.clone();
        v[2] = 99; // abi_version
        assert_eq!(
            decode(&v),
            Err(DecodeError::AbiVersion {
                found: 99,
                expected: abi::ABI_VERSION
            })
        );

        let mut v = bytes.clone();
        v[0] = 63; // kind, inside the counter range but unknown
        assert_eq!(decode(&v), Err(DecodeError::UnknownKind(63)));
        assert_eq!(decode(&v).unwrap_err().reason(), Reason::UnsupportedKind);

        let mut v = bytes.clone();
        v.push(0); // one byte more than the header declares
        assert!(matches!(
            decode(&v),
            Err(DecodeError::SizeMismatch {
                what: "fork",
                declared: 48,
                actual: 49
            })
        ));

        // A fork record whose header agrees with a wrong length.
        let mut v = bytes.clone();
        v.extend_from_slice(&[0; 8]);
        v[4..8].copy_from_slice(&56u32.to_ne_bytes());
        assert!(matches!(
            decode(&v),
            Err(DecodeError::SizeMismatch { what: "fork", .. })
        ));

        // An exec slice pointing past the data.
        let mut v = sample_exec();
        let args_off = std::mem::offset_of!(abi::Exec, args);
        v[args_off..args_off + 2].copy_from_slice(&60000u16.to_ne_bytes());
        assert!(matches!(
            decode(&v),
            Err(DecodeError::BadSlice { field: "args", .. })
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        // xorshift: deterministic, no dependency.
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let valid = sample_exec();
        let file = sample_file();
        for i in 0..20_000 {
            let len = (next() % 300) as usize;
            let mut v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Half the cases get a plausible header so the per-kind paths run.
            if i % 2 == 0 && v.len() >= 24 {
                v[0] = [1, 2, 3, 16, 19, 22, 32, 36, 40][(next() % 9) as usize];
                v[1] = 0;
                v[2] = abi::ABI_VERSION;
                let len = v.len() as u32;
                v[4..8].copy_from_slice(&len.to_ne_bytes());
            }
            let _ = decode(&v);
            // Mutate one byte of a valid record.
            for valid in [&valid, &file] {
                let mut m = valid.to_vec();
                let at = (next() as usize) % m.len();
                m[at] = next() as u8;
                let _ = decode(&m);
            }
        }
    }
}
