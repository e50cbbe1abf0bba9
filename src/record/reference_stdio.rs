//! The serde form of an exec event's `rand_guard.stdio` (the relay
//! evidence), for the tests' oracle (reference.rs).

use serde::Serialize;

use crate::model::event::StdioWiring;

/// `rand_guard.stdio` of an exec event.
#[derive(Serialize)]
pub(super) struct StdioDoc {
    stdin: FdDoc,
    stdout: FdDoc,
    stderr: FdDoc,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_holds: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_socket: Option<ParentSocketDoc>,
}

#[derive(Serialize)]
struct FdDoc {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    inode: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_inode: Option<u64>,
}

#[derive(Serialize)]
struct ParentSocketDoc {
    inode: u64,
    local_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_port: Option<u16>,
}

impl StdioDoc {
    pub(super) fn new(s: &StdioWiring) -> Self {
        let fd = |n: usize| FdDoc {
            kind: s.fds[n].kind.as_str(),
            inode: (s.fds[n].inode != 0).then_some(s.fds[n].inode),
            peer_inode: (s.fds[n].peer_inode != 0).then_some(s.fds[n].peer_inode),
        };
        let names = ["stdin", "stdout", "stderr"];
        StdioDoc {
            stdin: fd(0),
            stdout: fd(1),
            stderr: fd(2),
            parent_holds: s.scanned.then(|| {
                (0..3)
                    .filter(|n| s.parent_holds & (1 << n) != 0)
                    .map(|n| names[n])
                    .collect()
            }),
            parent_socket: s.parent_socket.map(|p| ParentSocketDoc {
                inode: p.inode,
                local_port: p.local_port,
                remote_ip: p.remote.map(|r| r.ip().to_string()),
                remote_port: p.remote.map(|r| r.port()),
            }),
        }
    }
}

/// Bits 0..2 of a stdio-socket event, written as the list of fd numbers.
#[derive(Clone, Copy)]
pub(super) struct StdioFds(pub(super) u8);

impl Serialize for StdioFds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some((self.0 & 7).count_ones() as usize))?;
        for fd in (0..3u8).filter(|fd| self.0 & (1 << fd) != 0) {
            seq.serialize_element(&fd)?;
        }
        seq.end()
    }
}
