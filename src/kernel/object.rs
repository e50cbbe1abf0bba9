//! The BPF object: where it comes from (built in, or `EDR_EBPF_OBJECT`),
//! and the ABI check that refuses one built from other sources before
//! anything is loaded.

use std::borrow::Cow;
use std::ops::Range;
use std::path::PathBuf;

use libbpf_rs::btf::{Btf, types as btf_types};
use libbpf_rs::{ObjectBuilder, OpenObject};

use crate::kernel::KernelError;
use crate::kernel::abi;

/// Environment variable naming an external BPF object to load instead of
/// the one built into the binary (the packages install it as
/// /usr/local/lib/rand-guard/edr-ebpf).
pub const ENV_OBJECT: &str = "EDR_EBPF_OBJECT";

/// The object build.rs linked, built into the binary.
pub(super) static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/edr.bpf.o"));

/// Where the BPF object comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectSource {
    Embedded,
    File(PathBuf),
}

impl ObjectSource {
    /// `EDR_EBPF_OBJECT` if set (and not empty), else the embedded object.
    pub fn from_env() -> Self {
        match std::env::var_os(ENV_OBJECT) {
            Some(p) if !p.is_empty() => ObjectSource::File(PathBuf::from(p)),
            _ => ObjectSource::Embedded,
        }
    }

    /// The object's bytes, read once: every open of one load uses them, so
    /// a retry loads the very object that was checked.
    pub(super) fn bytes(&self) -> Result<Cow<'static, [u8]>, KernelError> {
        match self {
            ObjectSource::Embedded => Ok(Cow::Borrowed(EMBEDDED)),
            ObjectSource::File(p) => {
                std::fs::read(p)
                    .map(Cow::Owned)
                    .map_err(|source| KernelError::ObjectRead {
                        path: p.clone(),
                        source,
                    })
            }
        }
    }
}

impl std::fmt::Display for ObjectSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectSource::Embedded => f.write_str("built-in BPF object"),
            ObjectSource::File(p) => write!(f, "BPF object {}", p.display()),
        }
    }
}

/// Where the rodata variables the agent sets live, from the object's BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RodataLayout {
    pub(super) abi_version: Range<usize>,
    pub(super) cfg: Range<usize>,
    pub(super) sysmap: Range<usize>,
    pub(super) net_sysmap: Range<usize>,
}

/// Find the agent's rodata variables in `bytes` (an ELF object) and check
/// their sizes against this binary's ABI, so an object built from other
/// sources is refused before it is loaded.
fn rodata_layout(source: &ObjectSource, bytes: &[u8]) -> Result<RodataLayout, KernelError> {
    let bad = |why: String| KernelError::ObjectAbi {
        object: source.to_string(),
        why,
    };
    let btf = Btf::from_raw("edr_bpf", bytes)
        .map_err(|e| bad(format!("cannot read its BTF: {e}")))?
        .ok_or_else(|| bad("it has no BTF".into()))?;
    let sec: btf_types::DataSec<'_> = btf
        .type_by_name(".rodata")
        .ok_or_else(|| bad("it has no .rodata section".into()))?;
    let var = |name: &str, size: usize| -> Result<Range<usize>, KernelError> {
        let info = sec
            .iter()
            .find(|v| {
                btf.type_by_id::<btf_types::Var<'_>>(v.ty)
                    .and_then(|t| t.name())
                    .is_some_and(|n| n == name)
            })
            .ok_or_else(|| bad(format!("it has no `{name}` (not a rand-guard object?)")))?;
        if info.size != size {
            return Err(bad(format!(
                "`{name}` is {} bytes, this agent expects {size}",
                info.size
            )));
        }
        let start = info.offset as usize;
        Ok(start..start + size)
    };
    Ok(RodataLayout {
        abi_version: var("edr_abi_version", 4)?,
        cfg: var("edr_cfg", size_of::<abi::Config>())?,
        sysmap: var("edr_file_sysmap", abi::SYSCALL_MAP)?,
        net_sysmap: var("edr_net_sysmap", abi::SYSCALL_MAP)?,
    })
}

/// Run `f` on the initial image of the object's .rodata.
pub(super) fn with_rodata<T>(
    open: &mut OpenObject,
    source: &ObjectSource,
    f: impl FnOnce(&mut [u8]) -> Result<T, KernelError>,
) -> Result<T, KernelError> {
    let bad = |why: &str| KernelError::ObjectAbi {
        object: source.to_string(),
        why: why.into(),
    };
    let mut map = open
        .maps_mut()
        .find(|m| m.name().to_string_lossy().ends_with(".rodata"))
        .ok_or_else(|| bad("it has no .rodata map"))?;
    let data = map
        .initial_value_mut()
        .ok_or_else(|| bad(".rodata has no initial value"))?;
    f(data)
}

/// Open the object (parsing only: no privileges needed) and refuse it
/// unless it was built for this agent's ABI.
pub(super) fn open_checked(
    source: &ObjectSource,
    bytes: &[u8],
) -> Result<(OpenObject, RodataLayout), KernelError> {
    let layout = rodata_layout(source, bytes)?;
    let mut open = ObjectBuilder::default()
        .name("edr_bpf")
        .map_err(KernelError::Open)?
        .open_memory(bytes)
        .map_err(KernelError::Open)?;
    let version = with_rodata(&mut open, source, |data| {
        Ok(data
            .get(layout.abi_version.clone())
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes))
    })?;
    if version != Some(u32::from(abi::ABI_VERSION)) {
        return Err(KernelError::ObjectAbi {
            object: source.to_string(),
            why: format!(
                "it was built for ABI version {}, this agent speaks version {}",
                version.map_or("?".into(), |v| v.to_string()),
                abi::ABI_VERSION
            ),
        });
    }
    Ok((open, layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &ObjectSource) -> Result<(OpenObject, RodataLayout), KernelError> {
        let bytes = source.bytes()?;
        open_checked(source, &bytes)
    }

    /// Patch the 4 bytes of `edr_abi_version` in a copy of the object.
    fn with_abi_version(version: u32) -> Vec<u8> {
        let mut elf = EMBEDDED.to_vec();
        let u16_at =
            |b: &[u8], o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap()) as usize;
        let u32_at =
            |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
        let u64_at =
            |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
        // ELF64 little-endian: section headers, then the .rodata section.
        let (shoff, shentsize, shnum, shstrndx) = (
            u64_at(&elf, 0x28),
            u16_at(&elf, 0x3a),
            u16_at(&elf, 0x3c),
            u16_at(&elf, 0x3e),
        );
        let sh = |i: usize| shoff + i * shentsize;
        let strtab = u64_at(&elf, sh(shstrndx) + 0x18);
        let rodata = (0..shnum)
            .find(|&i| {
                let name = strtab + u32_at(&elf, sh(i));
                elf[name..].starts_with(b".rodata\0")
            })
            .expect(".rodata section");
        let base = u64_at(&elf, sh(rodata) + 0x18);
        let layout = rodata_layout(&ObjectSource::Embedded, EMBEDDED).unwrap();
        let at = base + layout.abi_version.start;
        assert_eq!(
            u32_at(&elf, at),
            abi::ABI_VERSION as usize,
            "found the version"
        );
        elf[at..at + 4].copy_from_slice(&version.to_le_bytes());
        elf
    }

    #[test]
    fn read_watch_map_has_the_abi_size() {
        let open = ObjectBuilder::default().open_memory(EMBEDDED).unwrap();
        let map = open
            .maps()
            .find(|m| m.name() == "edr_read_watch")
            .expect("edr_read_watch");
        assert_eq!(map.max_entries() as usize, abi::READ_WATCH_MAX);
        assert_eq!(map.key_size() as usize, size_of::<abi::InodeKey>());
        assert_eq!(map.value_size(), 4);
    }

    #[test]
    fn prefix_trie_has_the_abi_size() {
        let open = ObjectBuilder::default().open_memory(EMBEDDED).unwrap();
        let map = open
            .maps()
            .find(|m| m.name() == "edr_prefixes")
            .expect("edr_prefixes");
        assert_eq!(map.max_entries() as usize, abi::PREFIX_ENTRIES);
    }

    #[test]
    fn embedded_object_passes_the_abi_check() {
        let (_, layout) = check(&ObjectSource::Embedded).unwrap();
        assert_eq!(layout.cfg.len(), size_of::<abi::Config>());
        assert_eq!(layout.sysmap.len(), abi::SYSCALL_MAP);
    }

    #[test]
    fn external_objects_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        // The same object from a file is accepted.
        let same = dir.path().join("edr-ebpf");
        std::fs::write(&same, EMBEDDED).unwrap();
        assert!(check(&ObjectSource::File(same.clone())).is_ok());
        // Another ABI version is refused, saying which.
        let other = dir.path().join("edr-ebpf-v99");
        std::fs::write(&other, with_abi_version(99)).unwrap();
        let e = check(&ObjectSource::File(other.clone())).err().unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "refusing BPF object {}: it was built for ABI version 99, this agent speaks version {}",
                other.display(),
                abi::ABI_VERSION
            )
        );
        // A file that is not a BPF object, and a missing file.
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not an ELF file").unwrap();
        let e = check(&ObjectSource::File(junk.clone())).err().unwrap();
        assert!(
            e.to_string()
                .starts_with(&format!("refusing BPF object {}", junk.display())),
            "{e}"
        );
        let missing = dir.path().join("missing");
        let e = check(&ObjectSource::File(missing.clone())).err().unwrap();
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read the BPF object {}", missing.display())),
            "{e}"
        );
    }
}
