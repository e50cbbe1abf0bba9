//! Property tests: decode ∘ encode is the identity, for every record kind.
//!
//! The fixed part of each record is drawn as raw bytes, so every field
//! (padding included) takes arbitrary values; the variable-length parts are
//! arbitrary byte strings, empty ones and NULs included. The decoded record
//! must hand back the same fixed fields (with the slices, size, version and
//! kind the encoder lays out) and the same byte strings, and re-encoding it
//! must give the same bytes. A record cut short or lengthened by a byte, or
//! with a slice moved past the end, must get the matching error.

use proptest::prelude::*;

use super::*;

/// A plain struct with every byte drawn at random.
fn fixed<T: plain::Plain + Default + std::fmt::Debug>() -> impl Strategy<Value = T> {
    prop::collection::vec(any::<u8>(), size_of::<T>()).prop_map(|bytes| {
        let mut v = T::default();
        plain::copy_from_bytes(&mut v, &bytes).expect("exactly size_of::<T>() bytes");
        v
    })
}

/// A variable-length part: usually short, sometimes up to a full path
/// (a random pattern repeated: drawing thousands of bytes one by one makes
/// the test slow without testing more, the decoder reads no content).
fn part() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (prop::collection::vec(any::<u8>(), 1..16), 0..=abi::PATH_MAX)
            .prop_map(|(pattern, len)| pattern.into_iter().cycle().take(len).collect()),
    ]
}

fn kinds(which: fn(u16) -> bool) -> Vec<u16> {
    kind::ALL.into_iter().filter(|k| which(*k)).collect()
}

/// One record of any kind, as (fixed part, variable parts) before encoding.
#[derive(Debug, Clone)]
enum Input {
    Exec(abi::Exec, [Vec<u8>; 4]),
    Fork(abi::Fork),
    Exit(abi::Exit),
    Stdio(abi::Stdio),
    Signal(abi::Signal),
    ExecEnv(abi::ExecEnv, Vec<u8>),
    File(abi::File, [Vec<u8>; 4]),
    Net(abi::Net, [Vec<u8>; 2]),
}

fn input() -> impl Strategy<Value = Input> {
    let four = || [part(), part(), part(), part()];
    prop_oneof![
        (fixed::<abi::Exec>(), four()).prop_map(|(f, p)| Input::Exec(f, p)),
        fixed::<abi::Fork>().prop_map(Input::Fork),
        fixed::<abi::Exit>().prop_map(Input::Exit),
        fixed::<abi::Stdio>().prop_map(Input::Stdio),
        fixed::<abi::Signal>().prop_map(Input::Signal),
        (fixed::<abi::ExecEnv>(), part()).prop_map(|(f, v)| Input::ExecEnv(f, v)),
        (
            fixed::<abi::File>(),
            prop::sample::select(kinds(kind::is_file)),
            four()
        )
            .prop_map(|(mut f, k, p)| {
                f.hdr.kind = k;
                Input::File(f, p)
            }),
        (
            fixed::<abi::Net>(),
            prop::sample::select(kinds(kind::is_net)),
            [part(), part()]
        )
            .prop_map(|(mut n, k, p)| {
                n.hdr.kind = k;
                Input::Net(n, p)
            }),
    ]
}

fn encode(input: &Input) -> Vec<u8> {
    let mut out = Vec::new();
    match input {
        Input::Exec(f, [a, b, c, d]) => encode_exec(f, a, b, c, d, &mut out),
        Input::Fork(f) => encode_fork(f, &mut out),
        Input::Exit(x) => encode_exit(x, &mut out),
        Input::Stdio(x) => encode_stdio(x, &mut out),
        Input::Signal(x) => encode_signal(x, &mut out),
        Input::ExecEnv(x, v) => encode_exec_env(x, v, &mut out),
        Input::File(f, [a, b, c, d]) => encode_file(f, a, b, c, d, &mut out),
        Input::Net(n, [a, b]) => encode_net(n, a, b, &mut out),
    }
    out
}

/// The encoder's bytes for `rec`: the inverse direction.
fn reencode(rec: &Record<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    match rec {
        Record::Exec(e) => encode_exec(&e.fixed, e.filename, e.cwd, e.exe, e.args, &mut out),
        Record::Fork(f) => encode_fork(f, &mut out),
        Record::Exit(x) => encode_exit(x, &mut out),
        Record::Stdio(x) => encode_stdio(x, &mut out),
        Record::Signal(x) => encode_signal(x, &mut out),
        Record::ExecEnv(e) => encode_exec_env(&e.fixed, e.vars, &mut out),
        Record::File(f) => encode_file(&f.fixed, f.dir, f.path, f.dir2, f.path2, &mut out),
        Record::Net(n) => encode_net(&n.fixed, n.unix_path, n.payload, &mut out),
    }
    out
}

/// Slices laid end to end from offset 0, as the kernel side sends them.
fn laid_out<const N: usize>(parts: &[Vec<u8>; N]) -> [Slice; N] {
    let mut off = 0u16;
    parts.each_ref().map(|p| {
        let s = Slice {
            off,
            len: p.len() as u16,
        };
        off += p.len() as u16;
        s
    })
}

fn set_hdr(h: &mut Hdr, k: u16, size: usize) {
    h.kind = k;
    h.abi_version = abi::ABI_VERSION;
    h.size = size as u32;
}

fn total<const N: usize>(fixed: usize, parts: &[Vec<u8>; N]) -> usize {
    fixed + parts.iter().map(Vec::len).sum::<usize>()
}

/// What decoding the encoded `input` must give.
fn expected(input: &Input) -> Record<'_> {
    match input {
        Input::Exec(f, parts) => {
            let mut fixed = *f;
            [fixed.filename, fixed.cwd, fixed.exe, fixed.args] = laid_out(parts);
            set_hdr(
                &mut fixed.hdr,
                kind::EXEC,
                total(size_of::<abi::Exec>(), parts),
            );
            let [filename, cwd, exe, args] = parts.each_ref().map(Vec::as_slice);
            Record::Exec(ExecRecord {
                fixed,
                filename,
                cwd,
                exe,
                args,
            })
        }
        Input::Fork(f) => {
            let mut fixed = *f;
            set_hdr(&mut fixed.hdr, kind::FORK, size_of::<abi::Fork>());
            Record::Fork(fixed)
        }
        Input::Exit(x) => {
            let mut fixed = *x;
            set_hdr(&mut fixed.hdr, kind::EXIT, size_of::<abi::Exit>());
            Record::Exit(fixed)
        }
        Input::Stdio(x) => {
            let mut fixed = *x;
            set_hdr(&mut fixed.hdr, kind::STDIO_SOCKET, size_of::<abi::Stdio>());
            Record::Stdio(fixed)
        }
        Input::Signal(x) => {
            let mut fixed = *x;
            set_hdr(&mut fixed.hdr, kind::SIGNAL, size_of::<abi::Signal>());
            Record::Signal(fixed)
        }
        Input::ExecEnv(x, vars) => {
            let mut fixed = *x;
            fixed.vars = Slice {
                off: 0,
                len: vars.len() as u16,
            };
            set_hdr(
                &mut fixed.hdr,
                kind::EXEC_ENV,
                size_of::<abi::ExecEnv>() + vars.len(),
            );
            Record::ExecEnv(ExecEnvRecord {
                fixed,
                vars: vars.as_slice(),
            })
        }
        Input::File(f, parts) => {
            let mut fixed = *f;
            [fixed.dir, fixed.path, fixed.dir2, fixed.path2] = laid_out(parts);
            let k = fixed.hdr.kind;
            set_hdr(&mut fixed.hdr, k, total(size_of::<abi::File>(), parts));
            let [dir, path, dir2, path2] = parts.each_ref().map(Vec::as_slice);
            Record::File(FileRecord {
                fixed,
                dir,
                path,
                dir2,
                path2,
            })
        }
        Input::Net(n, parts) => {
            let mut fixed = *n;
            [fixed.unix_path, fixed.payload] = laid_out(parts);
            let k = fixed.hdr.kind;
            set_hdr(&mut fixed.hdr, k, total(size_of::<abi::Net>(), parts));
            let [unix_path, payload] = parts.each_ref().map(Vec::as_slice);
            Record::Net(NetRecord {
                fixed,
                unix_path,
                payload,
            })
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn decode_encode_is_identity(input in input()) {
        let bytes = encode(&input);
        let rec = decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(rec, expected(&input));
        prop_assert_eq!(check(&bytes), Ok(*rec.hdr()));
        prop_assert_eq!(reencode(&rec), bytes);
    }

    #[test]
    fn a_record_of_the_wrong_length_is_rejected(input in input(), longer in any::<bool>()) {
        let mut bytes = encode(&input);
        let size = bytes.len() as u32;
        if longer {
            bytes.push(0);
        } else {
            bytes.pop();
        }
        // The header still says the encoded size: a size mismatch, found
        // before any part is read (even when the fixed part is cut).
        let err = decode(&bytes).expect_err("wrong length accepted");
        prop_assert!(
            matches!(
                err,
                DecodeError::SizeMismatch { declared, .. } if declared == size
            ),
            "{err}"
        );
    }

    #[test]
    fn a_slice_past_the_end_is_rejected(
        input in input().prop_filter("has slices", |i| {
            matches!(i, Input::Exec(..) | Input::File(..) | Input::Net(..))
        }),
        which in any::<prop::sample::Index>(),
        over in 1u16..=64,
    ) {
        let mut bytes = encode(&input);
        let (fixed, nslices, at) = match input {
            Input::Exec(..) => (size_of::<abi::Exec>(), 4, std::mem::offset_of!(abi::Exec, filename)),
            Input::File(..) => (size_of::<abi::File>(), 4, std::mem::offset_of!(abi::File, dir)),
            _ => (size_of::<abi::Net>(), 2, std::mem::offset_of!(abi::Net, unix_path)),
        };
        // Stretch one slice's length so it ends `over` bytes past the data.
        let data = (bytes.len() - fixed) as u16;
        let i = at + 4 * which.index(nslices);
        let off = u16::from_ne_bytes([bytes[i], bytes[i + 1]]);
        let len = data - off + over;
        bytes[i + 2..i + 4].copy_from_slice(&len.to_ne_bytes());
        let err = decode(&bytes).expect_err("slice past the end accepted");
        prop_assert!(
            matches!(err, DecodeError::BadSlice { off: o, len: l, data: d, .. }
                if o == off && l == len && d == data as usize),
            "{err}"
        );
    }

    #[test]
    fn any_bytes_decode_or_fail_without_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        k in prop::sample::select(kind::ALL.to_vec()),
        plausible in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if plausible && bytes.len() >= size_of::<Hdr>() {
            // A well-formed header, so the per-kind checks run.
            let size = bytes.len() as u32;
            bytes[0..2].copy_from_slice(&k.to_ne_bytes());
            bytes[2] = abi::ABI_VERSION;
            bytes[4..8].copy_from_slice(&size.to_ne_bytes());
        }
        match decode(&bytes) {
            Ok(rec) => {
                prop_assert_eq!(rec.hdr().size as usize, bytes.len());
                prop_assert_eq!(check(&bytes), Ok(*rec.hdr()));
                // An accepted record re-encodes to a record that decodes the
                // same (the slices may be laid out anew).
                let again = reencode(&rec);
                let back = decode(&again).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(reencode(&back), again);
            }
            Err(e) => prop_assert_eq!(check(&bytes), Err(e)),
        }
    }
}

#[test]
fn every_kind_is_generated() {
    // The generator's kinds are every kind the ABI has: a new kind without
    // an encoder here fails this test rather than going untested.
    let mut covered = vec![
        kind::EXEC,
        kind::FORK,
        kind::EXIT,
        kind::STDIO_SOCKET,
        kind::SIGNAL,
        kind::EXEC_ENV,
    ];
    covered.extend(kinds(kind::is_file));
    covered.extend(kinds(kind::is_net));
    covered.sort();
    assert_eq!(covered, kind::ALL);
}
