//! The guest suite's network and DNS checks (suite.rs runs them): the
//! listener's records, the DNS queries' records, what the DNS hooks ran
//! for, and the same network records on both hook paths.

use serde_json::{Value, json};

use super::{Report, action, expect_all, fact, final_health, find, get, one, pid};

/// The 4444 listener (busybox `nc -l`): one bind, one listen on 4444, and
/// one accept of the loopback client, whose port is the connect's source.
pub(super) fn listener(r: &Report) -> Result<(), String> {
    let p = pid(r, "listener_pid")?;
    for act in ["bind", "listen"] {
        let v = one(
            &format!("{act} by the listener (pid {p})"),
            find(r, "event", act, p),
        )?;
        expect_all(
            act,
            v,
            &[
                ("source.port", json!(4444)),
                ("network.transport", json!("tcp")),
                ("event.type", json!(["start"])),
                ("rand_guard.network.syscall", json!(act)),
                // run by name: busybox re-executes itself as /proc/self/exe
                ("process.args", json!(["nc", "-l", "-p", "4444"])),
            ],
        )?;
    }
    let accept = one(
        &format!("accept by the listener (pid {p})"),
        find(r, "event", "accept", p),
    )?;
    let c = pid(r, "connect_pid")?;
    let connect = one(
        &format!("connect by pid {c}"),
        find(r, "event", "connect", c),
    )?;
    expect_all(
        "accept",
        accept,
        &[
            ("destination.port", json!(4444)),
            ("source.port", get(connect, "source.port").clone()),
            ("network.direction", json!("ingress")),
            ("event.type", json!(["connection", "start"])),
        ],
    )
}

/// One A query each to 127.0.0.1:53 and [::1]:53, written on a connected
/// UDP socket.
pub(super) fn dns(r: &Report) -> Result<(), String> {
    for (key, ip, kind) in [
        ("dns4_pid", "127.0.0.1", "ipv4"),
        ("dns6_pid", "::1", "ipv6"),
    ] {
        let p = pid(r, key)?;
        let q = one(
            &format!("DNS query by pid {p}"),
            find(r, "event", "dns_query", p),
        )?;
        expect_all(
            &format!("DNS query to {ip}"),
            q,
            &[
                ("dns.type", json!("query")),
                (
                    "dns.question",
                    json!({"name": "rg-vm-dns.test", "type": "A", "class": "IN"}),
                ),
                ("destination", json!({"ip": ip, "port": 53})),
                ("network.protocol", json!("dns")),
                ("network.transport", json!("udp")),
                ("network.type", json!(kind)),
                ("event.type", json!(["protocol"])),
                ("rand_guard.network.syscall", json!("write")),
                ("process.executable", json!("/bin/nslookup")),
            ],
        )?;
    }
    Ok(())
}

/// The DNS programs' run counts (kernel.bpf_stats_enabled = 1 in the
/// guest): with the fast path, the 1000 writes to /dev/null run none of
/// them, and the UDP send programs ran once per query; on the
/// tracepoints, edr_dns ran for every one of those writes (what the fast
/// path saves).
pub(super) fn dns_runs(r: &Report) -> Result<(), String> {
    if fact(r, "bpf_stats")? != "1" {
        return Err("kernel.bpf_stats_enabled is not 1 in the guest".into());
    }
    let writes: u64 = fact(r, "null_writes")?
        .parse()
        .map_err(|_| "the guest's `null_writes` is not a number")?;
    let h = final_health(r)?;
    let runs = |program: &str| {
        h["bpf_programs"][program]["run_count_total"]
            .as_u64()
            .ok_or_else(|| format!("the final health record has no run count of {program}"))
    };
    if r.pass == "tracepoint" {
        let n = runs("edr_dns")?;
        if n < writes {
            return Err(format!(
                "edr_dns ran {n} times, fewer than the {writes} writes to /dev/null"
            ));
        }
        return Ok(());
    }
    for (program, want) in [
        ("edr_dns", 0),
        ("edr_dx_udp", 1),
        ("edr_dx_udp6", 1),
        ("edr_dx_sendmmsg", 0),
    ] {
        let n = runs(program)?;
        if n != want {
            return Err(format!(
                "{program} ran {n} times, expected {want} (one per UDP send of the workload; \
                 {writes} writes to /dev/null ran before)"
            ));
        }
    }
    Ok(())
}

/// The workload's network records without what differs from run to run
/// (time, pids, the DNS id, ephemeral ports): what the hook path decides.
fn net_view(r: &Report) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for key in ["dns4_pid", "dns6_pid", "listener_pid", "connect_pid"] {
        let p = pid(r, key)?;
        let mine = r.records.iter().filter(|v| {
            v["record_type"] == "event"
                && get(v, "process.pid") == p
                && get(v, "event.category") == &json!(["network"])
        });
        for v in mine {
            let mut view = json!({
                "event": {
                    "action": action(v),
                    "type": get(v, "event.type"),
                    "outcome": get(v, "event.outcome"),
                },
                "network": get(v, "network"),
                "rand_guard.network": get(v, "rand_guard.network"),
                "dns": get(v, "dns"),
                "source": get(v, "source"),
                "destination": get(v, "destination"),
                "process.executable": get(v, "process.executable"),
            });
            if let Some(dns) = view["dns"].as_object_mut() {
                dns.remove("id");
            }
            for end in ["source", "destination"] {
                // Linux's default ephemeral range (ip_local_port_range).
                if let Some(port) = view[end].get_mut("port")
                    && port.as_u64().is_some_and(|p| p >= 32768)
                {
                    *port = json!("ephemeral");
                }
            }
            out.push(view);
        }
    }
    Ok(out)
}

pub(super) fn same_net_records(first: &Report, r: &Report) -> Result<(), String> {
    let (a, b) = (net_view(first)?, net_view(r)?);
    // Per nslookup a bind and a connect (its UDP socket) and the query;
    // the listener's bind, listen, accept; nc's connect.
    if a.len() != 10 {
        return Err(format!(
            "the {} pass has {} workload network records, expected 10: {a:#?}",
            first.pass,
            a.len()
        ));
    }
    if a.len() != b.len() {
        return Err(format!(
            "{} network records in the {} pass, {} in this one",
            a.len(),
            first.pass,
            b.len()
        ));
    }
    match a.iter().zip(&b).find(|(x, y)| x != y) {
        Some((x, y)) => Err(format!(
            "a network record differs:\n  {}: {x}\n  {}: {y}",
            first.pass, r.pass
        )),
        None => Ok(()),
    }
}
