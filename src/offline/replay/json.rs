//! JSON line → fields: the record's objects read with their key paths,
//! so that every error names the key it is about.

use serde_json::{Map, Value};

use super::ReplayError;
use crate::model::clock::{self, Rfc3339};

/// A JSON object and its key path in the record, so that every error can
/// name the key it is about.
pub(super) struct Obj<'a> {
    pub(super) map: &'a Map<String, Value>,
    pub(super) path: String,
}

impl<'a> Obj<'a> {
    pub(super) fn key(&self, k: &str) -> String {
        if self.path.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.path)
        }
    }

    pub(super) fn err(&self, k: &str, reason: impl Into<String>) -> ReplayError {
        ReplayError::new(self.key(k), reason)
    }

    pub(super) fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    /// The value of `k` converted by `f`; None when `k` is absent.
    pub(super) fn get<T>(
        &self,
        k: &str,
        f: impl FnOnce(&'a Value) -> Result<T, String>,
    ) -> Result<Option<T>, ReplayError> {
        self.map
            .get(k)
            .map(|v| f(v).map_err(|reason| self.err(k, reason)))
            .transpose()
    }

    /// Like [`Obj::get`], for a key every record of this kind has.
    pub(super) fn need<T>(
        &self,
        k: &str,
        f: impl FnOnce(&'a Value) -> Result<T, String>,
    ) -> Result<T, ReplayError> {
        self.get(k, f)?.ok_or_else(|| self.err(k, "missing"))
    }

    pub(super) fn obj(&self, k: &str) -> Result<Option<Obj<'a>>, ReplayError> {
        Ok(self.get(k, object)?.map(|map| Obj {
            map,
            path: self.key(k),
        }))
    }

    pub(super) fn need_obj(&self, k: &str) -> Result<Obj<'a>, ReplayError> {
        self.obj(k)?.ok_or_else(|| self.err(k, "missing"))
    }

    /// An array, each element converted by `f`; errors name the element.
    pub(super) fn list<T>(
        &self,
        k: &str,
        f: impl Fn(&'a Value) -> Result<T, String>,
    ) -> Result<Option<Vec<T>>, ReplayError> {
        let Some(items) = self.get(k, array)? else {
            return Ok(None);
        };
        let at = |i: usize, reason| ReplayError::new(format!("{}[{i}]", self.key(k)), reason);
        items
            .iter()
            .enumerate()
            .map(|(i, v)| f(v).map_err(|r| at(i, r)))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// `{"id": "1000"}` under `k` (ECS ids are decimal strings).
    pub(super) fn id(&self, k: &str) -> Result<Option<u32>, ReplayError> {
        self.obj(k)?.map(|o| o.need("id", decimal_id)).transpose()
    }
}

/// What a value is, for "expected X, found Y".
pub(super) fn found(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

pub(super) fn object(v: &Value) -> Result<&Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("expected an object, found {}", found(v)))
}

pub(super) fn array(v: &Value) -> Result<&Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("expected an array, found {}", found(v)))
}

pub(super) fn string(v: &Value) -> Result<&str, String> {
    v.as_str()
        .ok_or_else(|| format!("expected a string, found {}", found(v)))
}

pub(super) fn owned(v: &Value) -> Result<String, String> {
    string(v).map(str::to_string)
}

pub(super) fn boolean(v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, found {}", found(v)))
}

pub(super) fn unsigned<T: TryFrom<u64>>(v: &Value) -> Result<T, String> {
    v.as_u64().and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
        let ty = std::any::type_name::<T>();
        format!("expected an integer ({ty}), found {}", found(v))
    })
}

pub(super) fn signed<T: TryFrom<i64>>(v: &Value) -> Result<T, String> {
    v.as_i64().and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
        let ty = std::any::type_name::<T>();
        format!("expected an integer ({ty}), found {}", found(v))
    })
}

/// An id as the writer spells it: decimal, no sign, no leading zeros.
pub(super) fn decimal_id(v: &Value) -> Result<u32, String> {
    let s = string(v)
        .map_err(|_| format!("expected an id string such as \"1000\", found {}", found(v)))?;
    s.parse::<u32>()
        .ok()
        .filter(|n| n.to_string() == s)
        .ok_or_else(|| format!("expected a decimal id from 0 to {}, found {s:?}", u32::MAX))
}

pub(super) fn timestamp(v: &Value) -> Result<u64, String> {
    string(v).and_then(|s| {
        clock::parse_rfc3339(s).ok_or_else(|| {
            format!(
                "expected an RFC 3339 UTC time such as \"{}\", found {s:?}",
                Rfc3339(0)
            )
        })
    })
}

/// `file.mode`: the four octal digits the writer uses.
pub(super) fn octal_mode(v: &Value) -> Result<u32, String> {
    let s = string(v)?;
    (s.len() == 4 && s.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        .then(|| u32::from_str_radix(s, 8).ok())
        .flatten()
        .ok_or_else(|| format!("expected four octal digits such as \"0644\", found {s:?}"))
}

/// One of `names`, as `(value, name)` pairs.
pub(super) fn one_of<T: Copy>(v: &Value, names: &[(T, &str)]) -> Result<T, String> {
    let s = string(v)?;
    names
        .iter()
        .find(|(_, n)| *n == s)
        .map(|(t, _)| *t)
        .ok_or_else(|| {
            let known: Vec<&str> = names.iter().map(|(_, n)| *n).collect();
            format!("unknown value `{s}`; known: {}", known.join(", "))
        })
}

/// A syscall name the agent writes (`&'static str` in events): one the
/// kernel programs hook, or `unknown`, which the normalizer writes for a
/// number it does not know.
pub(super) fn syscall(v: &Value, hooked: &[(u16, &'static str)]) -> Result<&'static str, String> {
    let s = string(v)?;
    hooked
        .iter()
        .map(|(_, n)| *n)
        .chain(["unknown"])
        .find(|n| *n == s)
        .ok_or_else(|| format!("`{s}` is not a syscall this agent hooks"))
}
