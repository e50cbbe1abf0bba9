//! `rand_guard.stdio` of an exec record back into the exec body's
//! [`StdioWiring`], so a replay follows relays as the agent did
//! (`rg-reverse-shell`, docs/detections.md).

use std::net::{IpAddr, SocketAddr};

use super::ReplayError;
use super::json::*;
use crate::model::event::{FdType, ParentSocket, StdioFd, StdioWiring};

const FD_TYPES: [(FdType, &str); 8] = [
    (FdType::Closed, "closed"),
    (FdType::Pipe, "pipe"),
    (FdType::Fifo, "fifo"),
    (FdType::Unix, "unix"),
    (FdType::Inet, "inet"),
    (FdType::Tty, "tty"),
    (FdType::File, "file"),
    (FdType::Other, "other"),
];

/// The wiring under `rg` (`rand_guard`); the default (nothing to show,
/// as the writer leaves it out) when absent.
pub(super) fn stdio_wiring(rg: &Obj<'_>) -> Result<StdioWiring, ReplayError> {
    let Some(s) = rg.obj("stdio")? else {
        return Ok(StdioWiring::default());
    };
    let fd = |name: &str| -> Result<StdioFd, ReplayError> {
        let f = s.need_obj(name)?;
        Ok(StdioFd {
            kind: f.need("type", |v| one_of(v, &FD_TYPES))?,
            inode: f.get("inode", unsigned::<u64>)?.unwrap_or(0),
            peer_inode: f.get("peer_inode", unsigned::<u64>)?.unwrap_or(0),
        })
    };
    let holds = s.list("parent_holds", |v| {
        one_of(v, &[(1u8, "stdin"), (2, "stdout"), (4, "stderr")])
    })?;
    let parent_socket = match s.obj("parent_socket")? {
        None => None,
        Some(p) => {
            let ip = p.get("remote_ip", |v| {
                string(v)?
                    .parse::<IpAddr>()
                    .map_err(|e| format!("not an IP address: {e}"))
            })?;
            let port = p.get("remote_port", unsigned::<u16>)?;
            Some(ParentSocket {
                inode: p.need("inode", unsigned::<u64>)?,
                local_port: p.need("local_port", unsigned::<u16>)?,
                remote: ip.zip(port).map(|(ip, port)| SocketAddr::new(ip, port)),
            })
        }
    };
    Ok(StdioWiring {
        fds: [fd("stdin")?, fd("stdout")?, fd("stderr")?],
        scanned: holds.is_some(),
        parent_holds: holds.map_or(0, |h| h.into_iter().fold(0, |m, b| m | b)),
        parent_socket,
    })
}
