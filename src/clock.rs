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

/// `boot_ns + offset`, clamped into u64.
pub fn boot_to_wall(boot_ns: u64, offset: i128) -> u64 {
    (boot_ns as i128 + offset).clamp(0, u64::MAX as i128) as u64
}

/// Current CLOCK_BOOTTIME in nanoseconds.
pub fn boot_now_ns() -> u64 {
    now_ns(ClockId::CLOCK_BOOTTIME).max(0) as u64
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds,
/// e.g. `2026-11-28T08:30:00.123456789Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub u64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000_000;
        let nanos = self.0 % 1_000_000_000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
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
