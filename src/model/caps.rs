//! File capabilities: the `security.capability` extended attribute's
//! value decoded, and the capability names `getcap` prints.

/// File capabilities, decoded from a `security.capability` value
/// (`struct vfs_ns_cap_data`, include/uapi/linux/capability.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCaps {
    /// Bit n: capability n (`cap_setuid` is 7).
    pub permitted: u64,
    pub inheritable: u64,
    /// The effective bit: the permitted set is raised at exec.
    pub effective: bool,
    /// Version 3: the user namespace root these apply to (a container's
    /// root, 0 on the host's own).
    pub root_uid: Option<u32>,
}

/// Capability names by number, as `getcap` spells them.
pub const CAP_NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

impl FileCaps {
    /// Decode a value: revision 1 (one 32-bit set pair), 2 or 3 (two
    /// pairs, 3 with the root uid). None for anything else.
    pub fn parse(v: &[u8]) -> Option<FileCaps> {
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(
                v.get(i * 4..i * 4 + 4)?.try_into().ok()?,
            ))
        };
        let magic = word(0)?;
        let (pairs, root) = match (magic & 0xff00_0000, v.len()) {
            (0x0100_0000, 12..) => (1, false),
            (0x0200_0000, 20..) => (2, false),
            (0x0300_0000, 24..) => (2, true),
            _ => return None,
        };
        let mut caps = FileCaps {
            permitted: 0,
            inheritable: 0,
            effective: magic & 1 != 0,
            root_uid: if root { word(5) } else { None },
        };
        for i in 0..pairs {
            caps.permitted |= u64::from(word(1 + 2 * i)?) << (32 * i);
            caps.inheritable |= u64::from(word(2 + 2 * i)?) << (32 * i);
        }
        Some(caps)
    }

    /// The names of a set's capabilities (`cap_<n>` past the table).
    pub fn names(set: u64) -> impl Iterator<Item = std::borrow::Cow<'static, str>> {
        (0..64).filter(move |n| set >> n & 1 != 0).map(|n| {
            CAP_NAMES
                .get(n)
                .map(|s| std::borrow::Cow::Borrowed(*s))
                .unwrap_or_else(|| format!("cap_{n}").into())
        })
    }

    /// `getcap`'s text: `cap_net_raw,cap_setuid=ep`, and the inheritable
    /// set after it as `+i` where it differs.
    pub fn text(&self) -> String {
        let list = |set| FileCaps::names(set).collect::<Vec<_>>().join(",");
        let mut t = String::new();
        if self.permitted != 0 || self.inheritable == 0 {
            t = format!(
                "{}={}p",
                list(self.permitted),
                if self.effective { "e" } else { "" }
            );
            if self.permitted == self.inheritable {
                t.push('i');
                return t;
            }
        }
        if self.inheritable != 0 {
            if !t.is_empty() {
                t.push(' ');
            }
            t.push_str(&list(self.inheritable));
            t.push_str("+i");
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn revisions_decode_and_print_as_getcap_does() {
        // setcap cap_setuid+ep (revision 2, effective)
        let c = FileCaps::parse(&value(&[0x0200_0001, 0x80, 0, 0, 0])).unwrap();
        assert_eq!((c.permitted, c.inheritable, c.effective), (0x80, 0, true));
        assert_eq!(c.root_uid, None);
        assert_eq!(c.text(), "cap_setuid=ep");
        // revision 3: the namespace root; the high word's capabilities
        let c = FileCaps::parse(&value(&[0x0300_0000, 1 << 13, 0, 1 << 7, 0, 100_000])).unwrap();
        assert_eq!(c.permitted, 1 << 13 | 1 << 39);
        assert_eq!(c.root_uid, Some(100_000));
        assert_eq!(c.text(), "cap_net_raw,cap_bpf=p");
        // revision 1: one 32-bit pair; inheritable alike and different
        let c = FileCaps::parse(&value(&[0x0100_0000, 1, 1])).unwrap();
        assert_eq!(c.text(), "cap_chown=pi");
        let c = FileCaps::parse(&value(&[0x0200_0000, 1, 2, 0, 0])).unwrap();
        assert_eq!(c.text(), "cap_chown=p cap_dac_override+i");
        let c = FileCaps::parse(&value(&[0x0200_0000, 0, 2, 0, 0])).unwrap();
        assert_eq!(c.text(), "cap_dac_override+i");
        // past the named ones
        assert_eq!(FileCaps::names(1 << 50).collect::<Vec<_>>(), ["cap_50"]);
    }

    #[test]
    fn what_is_no_capability_value_is_none() {
        for bad in [
            vec![],
            value(&[0x0200_0001, 0x80]),          // cut
            value(&[0x0300_0001, 0x80, 0, 0, 0]), // revision 3 without the uid
            value(&[0x0400_0001, 0x80, 0, 0, 0, 0]),
            b"junk".to_vec(),
        ] {
            assert_eq!(FileCaps::parse(&bad), None, "{bad:?}");
        }
    }
}
