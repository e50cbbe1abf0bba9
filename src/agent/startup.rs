//! Start-up's kernel side: load and attach, and tell the operator what
//! was loaded, how each family is hooked, and what was left out.

use crate::agent::hygiene::{self, Policy, Role};
use crate::agent::{AgentError, detection_enabled, reads_watched};
use crate::config::{Cidr, Config};
use crate::detect::filter::Filter;
use crate::kernel::caps;
use crate::kernel::{Kernel, LoadOptions, ObjectSource};
use crate::pipeline::output::Target;

/// Check an external object, load and attach the BPF programs, and warn
/// about what is missing (optional programs and hooks, capabilities).
pub(super) fn load_kernel(
    cfg: &Config,
    source: &ObjectSource,
    filter: &Filter,
    policy: Policy,
    me: u32,
) -> Result<Kernel, AgentError> {
    if let ObjectSource::File(path) = source {
        hygiene::check(path, Role::BpfObject, policy)?;
    }
    let read_watch = reads_watched(cfg);
    let kernel = Kernel::load(LoadOptions {
        source: source.clone(),
        ring_buffer_bytes: cfg.kernel.ring_buffer_bytes,
        wakeup_bytes: cfg.kernel.wakeup_bytes,
        agent_tgid: me,
        file: cfg.file.enabled,
        hooks: cfg.kernel.hooks,
        report_failed: cfg.file.report_failed,
        watch_reads: read_watch,
        prefixes: filter.prefixes().kernel_entries(),
        stdio: detection_enabled(cfg, "rg-reverse-shell"),
        signals: detection_enabled(cfg, "rg-agent-signal"),
        network: cfg.network.enabled,
        net_hooks: cfg.network.hooks.clone(),
        dns: cfg.network.collect_dns,
        net_families: cfg.network.families.iter().map(|f| f.af()).collect(),
        exclude_ports: cfg.network.exclude_ports.clone(),
        exclude_networks: cfg
            .network
            .exclude_networks
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .collect(),
    })?;
    for (program, why) in &kernel.not_loaded {
        eprintln!("rand-guard: warning: optional program {program} not loaded: {why}");
    }
    for (hook, why) in &kernel.skipped {
        eprintln!("rand-guard: warning: optional hook {hook} not attached: {why}");
    }
    if !kernel.absent.is_empty() {
        eprintln!(
            "rand-guard: not hooked, this kernel does not have them: {}",
            kernel.absent.join(", ")
        );
    }
    report_fallbacks(&kernel.fallbacks);
    if let Ok(eff) = caps::CapSet::effective() {
        for d in caps::degraded(eff, read_watch) {
            eprintln!("rand-guard: warning: {d}");
        }
    }
    Ok(kernel)
}

pub(super) fn report_ready(source: &ObjectSource, kernel: &Kernel, seeded: usize, target: &Target) {
    let paths: Vec<String> = kernel
        .hook_paths
        .iter()
        .map(|(family, path)| format!("{family}={path}"))
        .collect();
    eprintln!(
        "rand-guard: ready: {} attached at {}; hooks: {}; {seeded} processes seeded from /proc; output to {target}",
        source,
        kernel.attached().collect::<Vec<_>>().join(", "),
        paths.join(" "),
    );
}

/// Syscalls left on the tracepoint under `hooks = "auto"`, one line
/// per reason (a kernel that refuses trampolines refuses them all).
fn report_fallbacks(fallbacks: &[(&'static str, String)]) {
    let mut reasons: Vec<&str> = fallbacks.iter().map(|(_, r)| r.as_str()).collect();
    reasons.sort_unstable();
    reasons.dedup();
    for reason in reasons {
        let syscalls: Vec<&str> = fallbacks
            .iter()
            .filter(|(_, r)| r == reason)
            .map(|(s, _)| *s)
            .collect();
        eprintln!(
            "rand-guard: hooks on the tracepoint path (no fentry): {}: {reason}",
            syscalls.join(", ")
        );
    }
}
