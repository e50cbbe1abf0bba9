//! The ECS validator: a record's fields against the pinned ECS field
//! list (tests/ecs/fields.csv). Shared by tests/ecs_fields.rs (golden
//! records) and tests/e2e_ecs.rs (the live agent's records).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

/// Top-level members the project's own contract requires on every line
/// (SPEC §3), outside ECS and outside `rand_guard.*` for compatibility
/// with every reader of schema 1. docs/schema.md says so.
const OWN_TOP_LEVEL: &[(&str, &str)] = &[("schema_version", "long"), ("record_type", "keyword")];

/// Name → ECS type.
pub struct Ecs {
    pub types: HashMap<String, String>,
    pub version: String,
}

impl Ecs {
    pub fn load() -> Ecs {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ecs/fields.csv");
        Ecs::parse(&std::fs::read_to_string(path).expect("tests/ecs/fields.csv"))
    }

    fn parse(text: &str) -> Ecs {
        let mut types = HashMap::new();
        let mut version = String::new();
        for (n, line) in text.lines().enumerate() {
            if let Some(c) = line.strip_prefix('#') {
                if let Some(v) = c.trim().strip_prefix("ECS field reference, version ") {
                    version = v.split(':').next().unwrap().to_string();
                }
                continue;
            }
            if line == "name,type" {
                continue;
            }
            let (name, ty) = line
                .split_once(',')
                .unwrap_or_else(|| panic!("fields.csv line {}: no comma: {line:?}", n + 1));
            types.insert(name.to_string(), ty.to_string());
        }
        assert!(!version.is_empty(), "fields.csv names no ECS version");
        for (name, ty) in OWN_TOP_LEVEL {
            types.insert(name.to_string(), ty.to_string());
        }
        Ecs { types, version }
    }

    /// Whether some ECS field lies under `prefix.`.
    fn is_parent(&self, prefix: &str) -> bool {
        let p = format!("{prefix}.");
        self.types.keys().any(|k| k.starts_with(&p))
    }

    /// Every problem with one record: "name: reason".
    pub fn check(&self, rec: &Value) -> Vec<String> {
        let mut bad = Vec::new();
        match rec {
            Value::Object(m) => {
                for (k, v) in m {
                    self.walk(k, v, &mut bad);
                }
            }
            _ => bad.push("record: not a JSON object".into()),
        }
        bad
    }

    fn walk(&self, name: &str, v: &Value, bad: &mut Vec<String>) {
        if name == "rand_guard" || name.starts_with("rand_guard.") {
            return;
        }
        if let Some(ty) = self.types.get(name) {
            // Any ECS field may hold an array of its type (Elasticsearch
            // indexes each element); an array of arrays is no ECS shape.
            match v {
                Value::Array(items) => {
                    for i in items {
                        if i.is_array() {
                            bad.push(format!("{name}: nested array"));
                        } else {
                            self.value(name, ty, i, bad);
                        }
                    }
                }
                _ => self.value(name, ty, v, bad),
            }
            return;
        }
        match v {
            Value::Object(m) if self.is_parent(name) => {
                for (k, v) in m {
                    self.walk(&format!("{name}.{k}"), v, bad);
                }
            }
            _ => bad.push(format!(
                "{name}: not an ECS {} field and not under rand_guard.*",
                self.version
            )),
        }
    }

    fn value(&self, name: &str, ty: &str, v: &Value, bad: &mut Vec<String>) {
        let ok = match ty {
            "keyword" | "wildcard" | "match_only_text" | "constant_keyword" | "text" => {
                v.is_string()
            }
            "long" | "integer" | "short" | "byte" | "unsigned_long" => v.is_i64() || v.is_u64(),
            "float" | "double" | "scaled_float" | "half_float" => v.is_number(),
            "boolean" => v.is_boolean(),
            "date" => v.as_str().is_some_and(is_rfc3339),
            "ip" => v.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
            // Objects whose members ECS leaves open.
            "object" | "flattened" | "nested" => v.is_object(),
            "geo_point" => v.is_object() || v.is_string(),
            other => {
                bad.push(format!("{name}: ECS type {other} unknown to this test"));
                return;
            }
        };
        if !ok {
            bad.push(format!("{name}: {v} does not fit ECS type {ty}"));
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, checked by shape and range.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}
