//! The serde form of a file event's `rand_guard.file.xattr`, for the
//! tests' oracle (reference.rs).

use serde::Serialize;

use crate::model::event::{FileCaps, Xattr};

#[derive(Serialize)]
pub(super) struct XattrDoc<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<CapsDoc>,
}

#[derive(Serialize)]
struct CapsDoc {
    permitted: Vec<String>,
    inheritable: Vec<String>,
    effective: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_uid: Option<u32>,
}

impl<'a> XattrDoc<'a> {
    pub(super) fn of(x: &'a Xattr) -> Self {
        let names = |set| FileCaps::names(set).map(|n| n.into_owned()).collect();
        XattrDoc {
            name: &x.name,
            size: x.size,
            capabilities: x.caps.map(|c| CapsDoc {
                permitted: names(c.permitted),
                inheritable: names(c.inheritable),
                effective: c.effective,
                root_uid: c.root_uid,
            }),
        }
    }
}
