//! The per-kernel result table `vm-test` prints at the end (markdown, so
//! it can go into a CI log or a doc as it is), and the failures' details.

use super::qemu::Accel;
use super::suite::Check;

/// One kernel's run with one hook path.
#[derive(Clone)]
pub struct Row {
    /// The kernel ABI name (`6.1.0-57`).
    pub kernel: String,
    /// `[kernel] hooks` of this pass (`report::PASSES`), "-" when the
    /// guest's report could not be read.
    pub hooks: &'static str,
    /// The .deb it came from (carries the Debian version).
    pub package: String,
    pub accel: Accel,
    /// Seconds from start to `rand-guard: ready` in the guest.
    pub ready_seconds: Option<String>,
    /// Seconds the whole boot took.
    pub boot_seconds: f64,
    pub checks: Vec<Check>,
}

impl Row {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.result.is_ok())
    }
}

/// Which BPF path the agent selects on a kernel (bpf/common.bpf.h
/// EDR_DIRECT_LOADS: plain loads through untrusted pointers from 6.17,
/// probe-read helpers before).
pub fn bpf_variant(kernel: &str) -> &'static str {
    let mut n = kernel
        .split(|c: char| !c.is_ascii_digit())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let (major, minor) = (n.next().unwrap_or(0), n.next().unwrap_or(0));
    if (major, minor) >= (6, 17) {
        "direct loads"
    } else {
        "probe reads"
    }
}

pub fn render(rows: &[Row]) -> String {
    let mut s = String::from(
        "| kernel | hooks | package | BPF reads | accel | ready (s) | boot (s) | checks | result |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let ok = r.checks.iter().filter(|c| c.result.is_ok()).count();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.0} | {ok}/{} | {} |\n",
            r.kernel,
            r.hooks,
            r.package,
            bpf_variant(&r.kernel),
            r.accel,
            r.ready_seconds.as_deref().unwrap_or("-"),
            r.boot_seconds,
            r.checks.len(),
            if r.passed() { "pass" } else { "FAIL" }
        ));
    }
    // One column per kernel, one row per check (the first kernel's list:
    // a kernel that failed early has fewer and shows "-").
    let names: Vec<&str> = rows
        .iter()
        .max_by_key(|r| r.checks.len())
        .map(|r| r.checks.iter().map(|c| c.name).collect())
        .unwrap_or_default();
    s.push_str("\n| check |");
    for r in rows {
        s.push_str(&format!(" {} {} |", r.kernel, r.hooks));
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(rows.len()));
    s.push('\n');
    for name in names {
        s.push_str(&format!("| {name} |"));
        for r in rows {
            let cell = match r.checks.iter().find(|c| c.name == name) {
                Some(c) if c.result.is_ok() => "pass",
                Some(_) => "FAIL",
                None => "-",
            };
            s.push_str(&format!(" {cell} |"));
        }
        s.push('\n');
    }
    s
}

/// Every failed check, with its message.
pub fn failures(rows: &[Row]) -> String {
    let mut s = String::new();
    for r in rows {
        for c in &r.checks {
            if let Err(e) = &c.result {
                s.push_str(&format!("{} {} / {}: {e}\n", r.kernel, r.hooks, c.name));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kernel: &str, results: &[(&'static str, Result<(), String>)]) -> Row {
        Row {
            kernel: kernel.into(),
            hooks: "auto",
            package: format!("linux-image-{kernel}-amd64-unsigned_1_amd64.deb"),
            accel: Accel::Tcg,
            ready_seconds: Some("21.5".into()),
            boot_seconds: 74.4,
            checks: results
                .iter()
                .map(|(name, result)| Check {
                    name,
                    result: result.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn table_has_a_row_per_kernel_and_a_column_per_kernel() {
        let rows = [
            row("6.1.0-57", &[("agent ready", Ok(())), ("health", Ok(()))]),
            row(
                "6.12.118+deb12",
                &[("agent ready", Err("edr_file rejected".into()))],
            ),
        ];
        assert_eq!(
            render(&rows),
            "\
| kernel | hooks | package | BPF reads | accel | ready (s) | boot (s) | checks | result |
|---|---|---|---|---|---|---|---|---|
| 6.1.0-57 | auto | linux-image-6.1.0-57-amd64-unsigned_1_amd64.deb | probe reads | tcg | 21.5 | 74 | 2/2 | pass |
| 6.12.118+deb12 | auto | linux-image-6.12.118+deb12-amd64-unsigned_1_amd64.deb | probe reads | tcg | 21.5 | 74 | 0/1 | FAIL |

| check | 6.1.0-57 auto | 6.12.118+deb12 auto |
|---|---|---|
| agent ready | pass | FAIL |
| health | pass | - |
"
        );
        assert_eq!(
            failures(&rows),
            "6.12.118+deb12 auto / agent ready: edr_file rejected\n"
        );
        assert!(rows[0].passed() && !rows[1].passed());
    }

    #[test]
    fn direct_loads_from_6_17() {
        assert_eq!(bpf_variant("6.1.0-57"), "probe reads");
        assert_eq!(bpf_variant("6.12.118+deb12"), "probe reads");
        assert_eq!(bpf_variant("6.17.1-1"), "direct loads");
        assert_eq!(bpf_variant("6.18.44"), "direct loads");
        assert_eq!(bpf_variant("7.0.0-1"), "direct loads");
    }
}
