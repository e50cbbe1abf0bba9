//! `rand_guard.stdio` of exec events (the relay evidence), as the schema
//! spells it.

use super::*;

#[test]
fn exec_stdio_is_spelled_as_the_schema_says() {
    let stdio_of = |n: u8| -> serde_json::Value {
        let mut ev = events().remove(0);
        let Body::Exec(x) = &mut ev.body else {
            panic!("the first body is an exec")
        };
        x.stdio = wiring(n);
        let mut out = Vec::new();
        LineWriter::new()
            .write_line(&Record::Event(ev), &contexts()[0], &mut out)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        v["rand_guard"]["stdio"].clone()
    };
    // Terminals only: nothing to show.
    assert_eq!(stdio_of(0), serde_json::Value::Null);
    assert_eq!(
        stdio_of(1),
        serde_json::json!({
            "stdin": {"type": "pipe", "inode": 10},
            "stdout": {"type": "pipe", "inode": 11},
            "stderr": {"type": "pipe", "inode": 11},
            "parent_holds": ["stdin", "stdout", "stderr"],
            "parent_socket": {
                "inode": 12, "local_port": 40000, "remote_ip": "127.0.0.1", "remote_port": 4444
            }
        })
    );
    assert_eq!(
        stdio_of(2),
        serde_json::json!({
            "stdin": {"type": "unix", "inode": 20, "peer_inode": 21},
            "stdout": {"type": "unix", "inode": 20, "peer_inode": 21},
            "stderr": {"type": "closed"},
            "parent_holds": ["stdin", "stdout"],
            "parent_socket": {"inode": 22, "local_port": 9001}
        })
    );
    // Not looked behind: no parent_holds.
    assert_eq!(
        stdio_of(3),
        serde_json::json!({
            "stdin": {"type": "fifo", "inode": 30},
            "stdout": {"type": "file", "inode": 31},
            "stderr": {"type": "other", "inode": 32}
        })
    );
}
