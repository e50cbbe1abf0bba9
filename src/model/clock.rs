//! Time: kernel CLOCK_BOOTTIME stamps to wall clock, and RFC 3339 text.

use std::fmt;

use nix::time::{ClockId, clock_gettime};

fn now_ns(clock: ClockId) -> i128 {
    // Both clocks are always available on Linux >= 2.6.39; a failure here
    // would be a broken kernel, and 0 keeps timestamps monotonic anyway.
    clock_gettime(clock)
        .map(|t| t.tv_sec() as i128 * 1_000_000_000 + t.tv_nsec() as i128)
        .unwrap_or(0)
}

/// Wall clock minus boot clock, in nanoseconds: add it to a CLOCK_BOOTTIME
/// stamp to get nanoseconds since the epoch. It moves only when the wall
/// clock is stepped, so callers sample it once per batch, not per event.
pub fn boot_to_wall_offset() -> i128 {
    let boot = now_ns(ClockId::CLOCK_BOOTTIME);
    let wall = now_ns(ClockId::CLOCK_REALTIME);
    wall - boot
}

/// How far two samples of [`boot_to_wall_offset`] may differ without the
/// wall clock having moved: the two clock reads are not atomic, and a
/// reader preempted between them (a VM's virtual CPU descheduled) sees
/// hundreds of nanoseconds of jitter. A stepped clock moves it by more.
pub const OFFSET_JITTER_NS: i128 = 1_000_000;

/// The offset to convert with after sampling `sampled` while `current` is
/// in force: `current` unless the wall clock moved by more than the
/// jitter. Re-sampling every batch would otherwise give one process
/// different start times in its fork and exec records (seen under qemu:
/// 441 ns apart), and the start is what tells two processes of one pid
/// apart.
pub fn settled_offset(current: i128, sampled: i128) -> i128 {
    if (sampled - current).abs() > OFFSET_JITTER_NS {
        sampled
    } else {
        current
    }
}

/// `boot_ns + offset`, clamped into u64.
pub fn boot_to_wall(boot_ns: u64, offset: i128) -> u64 {
    (boot_ns as i128 + offset).clamp(0, u64::MAX as i128) as u64
}

/// Current wall-clock time (CLOCK_REALTIME) in nanoseconds since the epoch.
pub fn wall_now_ns() -> u64 {
    now_ns(ClockId::CLOCK_REALTIME).max(0) as u64
}

/// Current CLOCK_BOOTTIME in nanoseconds.
pub fn boot_now_ns() -> u64 {
    now_ns(ClockId::CLOCK_BOOTTIME).max(0) as u64
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds,
/// e.g. `2026-11-28T08:30:00.123456789Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub u64);

impl Rfc3339 {
    /// Length of the text: the year has 4 digits for every u64 instant
    /// (the last is in 2554).
    pub const LEN: usize = 30;

    /// The text, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, built without `fmt`:
    /// the record writer stamps two or three of these on every line.
    pub fn bytes(self) -> [u8; Self::LEN] {
        let secs = self.0 / 1_000_000_000;
        let nanos = (self.0 % 1_000_000_000) as u32;
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        let y = y as u32;
        b[0..2].copy_from_slice(pair(y / 100));
        b[2..4].copy_from_slice(pair(y % 100));
        b[5..7].copy_from_slice(pair(m));
        b[8..10].copy_from_slice(pair(d));
        b[11..13].copy_from_slice(pair(rem / 3600));
        b[14..16].copy_from_slice(pair(rem / 60 % 60));
        b[17..19].copy_from_slice(pair(rem % 60));
        b[20] = b'0' + (nanos / 100_000_000) as u8;
        let n = nanos % 100_000_000;
        b[21..23].copy_from_slice(pair(n / 1_000_000));
        b[23..25].copy_from_slice(pair(n / 10_000 % 100));
        b[25..27].copy_from_slice(pair(n / 100 % 100));
        b[27..29].copy_from_slice(pair(n % 100));
        b
    }
}

/// The two decimal digits of `v` (below 100), from a table: half the
/// divisions of one digit at a time.
fn pair(v: u32) -> &'static [u8; 2] {
    const PAIRS: [[u8; 2]; 100] = {
        let mut t = [[0u8; 2]; 100];
        let mut i = 0;
        while i < 100 {
            t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
            i += 1;
        }
        t
    };
    &PAIRS[v as usize]
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only ASCII digits and punctuation.
        f.write_str(std::str::from_utf8(&self.bytes()).unwrap_or_default())
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses the RFC 3339 UTC form [`Rfc3339`] writes back into nanoseconds
/// since the epoch: `YYYY-MM-DDTHH:MM:SS[.f]Z` with 0 to 9 fraction
/// digits. Other offsets than `Z` are refused: the agent never writes them.
/// None for anything else, or an instant outside the u64 range.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    // Fixed positions: "2026-11-28T08:30:00" is 19 bytes, then fraction, Z.
    let (head, tail) = (b.get(..19)?, b.get(19..)?);
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let d = &head[r];
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0u64, |n, c| n * 10 + u64::from(c - b'0')))
    };
    if head[4] != b'-'
        || head[7] != b'-'
        || head[10] != b'T'
        || head[13] != b':'
        || head[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let nanos = match tail {
        [b'Z'] => 0,
        [b'.', frac @ .., b'Z'] if (1..=9).contains(&frac.len()) => {
            if !frac.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n = frac.iter().fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
            n * 10u64.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    if h > 23 || mi > 59 || sec > 59 || !(1..=12).contains(&mo) || d == 0 {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    // Day 31 of a 30-day month comes back as another date: not a date.
    if civil_from_days(days) != (y as i64, mo as u32, d as u32) || days < 0 {
        return None;
    }
    let secs = days as u64 * 86_400 + h * 3600 + mi * 60 + sec;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// (year, month, day) to days since 1970-01-01: the inverse of
/// [`civil_from_days`] (same algorithm, run backwards).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's algorithm, exact for the whole i64 day range we
/// can reach from u64 nanoseconds).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(Rfc3339(0).to_string(), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29 (leap day), 12:34:56.000000007
        assert_eq!(
            Rfc3339(951_827_696_000_000_007).to_string(),
            "2000-02-29T12:34:56.000000007Z"
        );
        // 2026-11-28T08:22:59.5Z
        assert_eq!(
            Rfc3339(1_795_854_179_500_000_000).to_string(),
            "2026-11-28T08:22:59.500000000Z"
        );
        // Last day of a non-leap century year.
        assert_eq!(
            Rfc3339(4_133_980_799_000_000_000).to_string(),
            "2100-12-31T23:59:59.000000000Z"
        );
    }

    /// The text as it was first written, with `fmt`: the bytes must not
    /// change (they are in every record).
    fn fmt_reference(ns: u64) -> String {
        let secs = ns / 1_000_000_000;
        let nanos = ns % 1_000_000_000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }

    #[test]
    fn rfc3339_text_matches_the_fmt_form() {
        let mut ns: u64 = 0;
        let mut cases = vec![0, 1, 999_999_999, u64::MAX, u64::MAX - 999_999_999];
        // Every day of a few centuries at varying times of day.
        for i in 0..200_000u64 {
            ns = ns
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            cases.push(ns);
            cases.push(i * 86_400_000_000_000 / 3 + i);
        }
        for ns in cases {
            assert_eq!(Rfc3339(ns).to_string(), fmt_reference(ns), "{ns}");
        }
    }

    #[test]
    fn rfc3339_parses_what_it_writes() {
        for ns in [
            0,
            951_827_696_000_000_007,
            1_795_854_179_500_000_000,
            4_133_980_799_999_999_999,
            u64::MAX,
        ] {
            assert_eq!(parse_rfc3339(&Rfc3339(ns).to_string()), Some(ns), "{ns}");
        }
        // Every day of four years, leap day included.
        for day in 0..4 * 366u64 {
            let ns = (10_957 + day) * 86_400_000_000_000 + 1;
            assert_eq!(parse_rfc3339(&Rfc3339(ns).to_string()), Some(ns));
        }
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.5Z"), Some(500_000_000));
        for bad in [
            "",
            "1970-01-01",
            "1970-01-01T00:00:00",
            "1970-01-01T00:00:00.Z",
            "1970-01-01T00:00:00.0000000000Z",
            "1970-01-01T00:00:00+00:00",
            "1970-01-01 00:00:00Z",
            "1970-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:60Z",
            "1969-12-31T23:59:59Z",
            "2554-07-21T23:34:34Z",
            "+026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.1é",
            "2026-01-01T00:00:00\u{e9}Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn offset_keeps_its_value_through_jitter_and_follows_a_step() {
        let off = 1_765_000_000_000_000_000i128;
        assert_eq!(settled_offset(off, off + 441), off);
        assert_eq!(settled_offset(off, off - OFFSET_JITTER_NS), off);
        // stepped forward or back by more than the jitter: the new one
        assert_eq!(
            settled_offset(off, off + OFFSET_JITTER_NS + 1),
            off + OFFSET_JITTER_NS + 1
        );
        assert_eq!(
            settled_offset(off, off - 3_600_000_000_000),
            off - 3_600_000_000_000
        );
    }

    #[test]
    fn offset_maps_boot_to_now() {
        let off = boot_to_wall_offset();
        let wall = boot_to_wall(boot_now_ns(), off);
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(wall.abs_diff(sys) < 1_000_000_000, "{wall} vs {sys}");
    }
}
