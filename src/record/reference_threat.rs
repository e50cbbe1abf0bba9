//! The serde form of `rule` and `threat` (tactics, techniques and
//! sub-techniques, the IOC feed), part of the tests' oracle in
//! `reference.rs` (a file of its own to keep that one short).

use serde::Serialize;

use crate::model::alert::Technique;

#[derive(Serialize)]
pub(super) struct RuleDoc<'a> {
    pub(super) id: &'a str,
    pub(super) name: &'a str,
    pub(super) description: &'a str,
    /// Where the rule comes from: `builtin` or its rule file.
    pub(super) ruleset: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reference: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) author: Option<&'a [String]>,
}

#[derive(Serialize)]
pub(super) struct ThreatDoc<'a> {
    pub(super) framework: &'static str,
    pub(super) tactic: TacticDoc<'a>,
    pub(super) technique: TechniqueDoc,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) feed: Option<FeedDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) indicator: Option<IndicatorDoc<'a>>,
}

#[derive(Serialize)]
pub(super) struct FeedDoc<'a> {
    pub(super) name: &'a str,
}

#[derive(Serialize)]
pub(super) struct IndicatorDoc<'a> {
    #[serde(rename = "type")]
    pub(super) type_: &'static str,
    pub(super) name: &'a str,
}

#[derive(Serialize)]
pub(super) struct TacticDoc<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Vec<&'static str>>,
    name: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<Vec<String>>,
}

impl<'a> TacticDoc<'a> {
    pub(super) fn of(names: &'a [String]) -> Self {
        let ids: Option<Vec<&'static str>> = names
            .iter()
            .map(|n| crate::model::alert::tactic_id(n))
            .collect();
        TacticDoc {
            reference: ids.as_ref().map(|ids| {
                ids.iter()
                    .map(|id| format!("https://attack.mitre.org/tactics/{id}/"))
                    .collect()
            }),
            id: ids,
            name: names,
        }
    }
}

/// Techniques (parents of sub-techniques, once) and sub-techniques.
#[derive(Serialize)]
pub(super) struct TechniqueDoc {
    #[serde(flatten)]
    columns: Columns,
    #[serde(skip_serializing_if = "Option::is_none")]
    subtechnique: Option<Columns>,
}

/// Ids, names when all are known (so the arrays align), references.
#[derive(Serialize)]
struct Columns {
    id: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<Vec<String>>,
    reference: Vec<String>,
}

impl Columns {
    pub(super) fn of(items: Vec<(String, Option<String>)>) -> Self {
        Columns {
            reference: items
                .iter()
                .map(|(id, _)| {
                    format!(
                        "https://attack.mitre.org/techniques/{}/",
                        id.replace('.', "/")
                    )
                })
                .collect(),
            name: items.iter().map(|(_, n)| n.clone()).collect(),
            id: items.into_iter().map(|(id, _)| id).collect(),
        }
    }
}

impl TechniqueDoc {
    pub(super) fn of(ts: &[Technique]) -> Self {
        let mut parents: Vec<(String, Option<String>)> = Vec::new();
        for t in ts {
            let id = t.parent_id().0.to_string();
            let name = t.names().0.map(str::to_string);
            if let Some(p) = parents.iter_mut().find(|(p, _)| *p == id) {
                if p.1.is_none() {
                    p.1 = name;
                }
            } else {
                parents.push((id, name));
            }
        }
        let subs: Vec<_> = ts
            .iter()
            .filter(|t| t.parent_id().1)
            .map(|t| (t.id.clone(), t.names().1.map(str::to_string)))
            .collect();
        TechniqueDoc {
            columns: Columns::of(parents),
            subtechnique: (!subs.is_empty()).then(|| Columns::of(subs)),
        }
    }
}
