//! docs/grafana/rand-guard.json, the Grafana dashboard over the agent's
//! Prometheus metrics: valid JSON, the structure Grafana's import needs,
//! and every metric its queries name one the agent really writes (read
//! from the agent's own renderer), so a renamed metric fails here rather
//! than as an empty panel. Unprivileged.

use std::collections::BTreeSet;
use std::path::Path;

use rand_guard::pipeline::metrics::{family_names, render_every_family};
use serde_json::Value;

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana/rand-guard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

fn str_at<'a>(v: &'a Value, key: &str, what: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{what}: no `{key}` string"))
}

/// The panels that query (rows aside), nested rows' panels included.
fn query_panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let top = d["panels"].as_array().expect("`panels` is an array");
    for p in top {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

/// The `rand_guard_*` names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("rand_guard_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(&tail[..end]);
        rest = &tail[end..];
    }
    out
}

/// Every `expr` in the dashboard, with where it is, and the instance
/// variable's query.
fn exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in query_panels(d) {
        let title = str_at(p, "title", "a panel");
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((title.to_owned(), str_at(t, "expr", title).to_owned()));
        }
    }
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(q) = v["query"]["query"].as_str() {
            out.push((format!("variable {}", v["name"]), q.to_owned()));
        }
    }
    out
}

#[test]
fn dashboard_has_what_grafana_import_needs() {
    let d = dashboard();
    assert_eq!(str_at(&d, "title", "dashboard"), "rand-guard");
    assert_eq!(str_at(&d, "uid", "dashboard"), "rand-guard");
    assert_eq!(d["schemaVersion"], 39);
    // The import asks for the Prometheus data source by this input.
    let inputs = d["__inputs"].as_array().expect("`__inputs`");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS"
            && i["type"] == "datasource"
            && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS datasource input: {inputs:?}"
    );
    let vars = d["templating"]["list"]
        .as_array()
        .expect("`templating.list`");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` variable"))
    };
    // Provisioned without the import's substitution, ${DS_PROMETHEUS} is
    // this variable: the default Prometheus data source.
    assert_eq!(var("DS_PROMETHEUS")["type"], "datasource");
    assert_eq!(var("DS_PROMETHEUS")["query"], "prometheus");
    assert_eq!(
        var("instance")["query"]["query"],
        "label_values(rand_guard_events_output_total, instance)"
    );

    let panels = query_panels(&d);
    assert!(panels.len() >= 10, "{} panels", panels.len());
    // Rows, and the panels in or beside them: each id once.
    let rows = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "row");
    let mut ids = Vec::new();
    for p in rows.chain(panels.iter().copied()) {
        let id = p["id"].as_u64().expect("a panel without a numeric `id`");
        ids.push(id);
        for k in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][k].is_u64(), "panel {id}: gridPos.{k}");
        }
    }
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "panel ids are not unique: {ids:?}");
    for p in &panels {
        let title = str_at(p, "title", "a panel");
        str_at(p, "type", title);
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        let mut refs = BTreeSet::new();
        for t in targets {
            let expr = str_at(t, "expr", title);
            assert!(
                refs.insert(str_at(t, "refId", title)),
                "{title}: refId twice"
            );
            assert!(
                expr.contains("instance=~\"$instance\""),
                "{title}: {expr} ignores $instance"
            );
            let depth = expr.chars().try_fold(0i32, |d, c| {
                let d = d + i32::from(c == '(') - i32::from(c == ')');
                (d >= 0).then_some(d)
            });
            assert_eq!(depth, Some(0), "{title}: unbalanced parentheses in {expr}");
        }
    }
}

#[test]
fn every_metric_the_dashboard_queries_is_one_the_agent_writes() {
    let exposed: BTreeSet<String> = family_names(&render_every_family()).into_iter().collect();
    assert!(
        exposed.contains("rand_guard_events_output_total"),
        "{exposed:?}"
    );
    let mut used = BTreeSet::new();
    for (place, expr) in exprs(&dashboard()) {
        let names = metric_names(&expr);
        assert!(
            !names.is_empty(),
            "{place}: no rand_guard_ metric in {expr}"
        );
        for name in names {
            assert!(
                exposed.contains(name),
                "{place}: `{name}` is not a metric the agent writes ({expr})"
            );
            used.insert(name.to_owned());
        }
    }
    // What issue 17 asks the dashboard to show, and the loss it must not
    // hide.
    for family in [
        "rand_guard_raw_events_by_kind_total",
        "rand_guard_events_output_total",
        "rand_guard_alerts_output_total",
        "rand_guard_alerts_output_by_severity_total",
        "rand_guard_kernel_ringbuf_drops_total",
        "rand_guard_channel_full_drops_total",
        "rand_guard_output_buffer_drops_total",
        "rand_guard_output_failures_total",
        "rand_guard_resident_memory_bytes",
        "rand_guard_rules_reload_failures_total",
        "rand_guard_process_table_entries",
        "rand_guard_bpf_program_run_time_seconds_total",
    ] {
        assert!(
            used.contains(family),
            "the dashboard does not show {family}"
        );
    }
}

#[test]
fn metric_names_are_read_whole_from_an_expression() {
    assert_eq!(
        metric_names(
            "sum by (instance) (rate(rand_guard_a_total{instance=~\"$instance\"}[5m])) / rand_guard_b"
        ),
        ["rand_guard_a_total", "rand_guard_b"]
    );
}

/// Every query parses as PromQL: Prometheus' own parser (`promtool check
/// rules`, Debian `prometheus`, as tests/e2e_metrics.rs uses) reads each
/// one as a recording rule, Grafana's variables replaced as Grafana would
/// before sending it.
#[test]
fn every_query_is_promql_prometheus_parses() {
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    // The instance variable's `label_values(...)` is Grafana's, not PromQL.
    let all: Vec<_> = exprs(&dashboard())
        .into_iter()
        .filter(|(place, _)| !place.starts_with("variable "))
        .collect();
    for (i, (_, expr)) in all.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$__range", "1h")
            .replace("$instance", ".*");
        // A YAML double-quoted string: JSON's escapes are YAML's.
        let quoted = serde_json::to_string(&expr).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {quoted}\n"
        ));
    }
    let path = dir.path().join("dashboard.rules.yml");
    std::fs::write(&path, &rules).unwrap();
    let out = std::process::Command::new("/usr/bin/promtool")
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .expect("/usr/bin/promtool (Debian package prometheus)");
    assert!(
        out.status.success(),
        "promtool check rules: {}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("SUCCESS: {} rules found", all.len())),
        "{said}"
    );
}
