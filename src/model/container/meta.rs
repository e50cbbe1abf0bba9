//! A container id → its name and image name, from the runtime's files.
//!
//! The files are untrusted input (anyone who can start a container
//! shapes them): each is read up to a size cap, parsed with serde into
//! only the members we use, and any failure is an error the caller
//! counts; the container then has no name, never a crash.
//!
//! - podman and CRI-O (containers/storage):
//!   `<storage>/overlay-containers/containers.json` (id → names, image id,
//!   and `image-name` inside the `metadata` string) and, when the
//!   metadata has no image name, `<storage>/overlay-images/images.json`
//!   (image id → names).
//! - Docker: `<docker>/containers/<id>/config.v2.json` (`Name`,
//!   `Config.Image`).
//! - containerd keeps its metadata in a bolt database: no name.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Runtime;

/// Largest containers.json / images.json read (a host with a thousand
/// containers writes about 2 MiB).
pub const STORE_CAP: u64 = 16 << 20;
/// Largest config.v2.json read (one container; a few KiB normally).
pub const DOCKER_CAP: u64 = 1 << 20;

/// Where the runtimes keep their metadata (the host's paths; a
/// containerized agent needs them mounted at the same place).
#[derive(Debug, Clone)]
pub struct MetaRoots {
    pub storage: PathBuf,
    pub docker: PathBuf,
}

impl Default for MetaRoots {
    fn default() -> Self {
        MetaRoots {
            storage: PathBuf::from("/var/lib/containers/storage"),
            docker: PathBuf::from("/var/lib/docker"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Names {
    pub name: Option<String>,
    pub image_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: larger than {cap} bytes")]
    TooLarge { path: PathBuf, cap: u64 },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Names of container `id` of `runtime`. Ok(default) when the runtime
/// keeps no readable metadata or does not list the id (a missing file is
/// not an error: that runtime is not installed).
pub fn names(roots: &MetaRoots, runtime: Runtime, id: &str) -> Result<Names, MetaError> {
    match runtime {
        Runtime::Podman | Runtime::CriO => storage_names(&roots.storage, id),
        Runtime::Docker => docker_names(
            &roots
                .docker
                .join("containers")
                .join(id)
                .join("config.v2.json"),
        ),
        Runtime::Containerd => Ok(Names::default()),
    }
}

/// The `upperdir=` of the overlay mounted at `/` in a mountinfo text.
pub fn upper_dir(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if left.split(' ').nth(4)? != "/" {
            return None;
        }
        let mut f = right.split(' ');
        if f.next()? != "overlay" {
            return None;
        }
        let opts = f.nth(1)?;
        let dir = opts.split(',').find_map(|o| o.strip_prefix("upperdir="))?;
        Some(dir.replace("\\040", " "))
    })
}

/// Read at most `cap` bytes; None when the file does not exist.
fn read_capped(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, MetaError> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(MetaError::Read {
                path: path.into(),
                source,
            });
        }
    };
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|source| MetaError::Read {
            path: path.into(),
            source,
        })?;
    if buf.len() as u64 > cap {
        return Err(MetaError::TooLarge {
            path: path.into(),
            cap,
        });
    }
    Ok(Some(buf))
}

fn parse<'a, T: Deserialize<'a>>(path: &Path, bytes: &'a [u8]) -> Result<T, MetaError> {
    serde_json::from_slice(bytes).map_err(|source| MetaError::Parse {
        path: path.into(),
        source,
    })
}

#[derive(Deserialize)]
struct StoredContainer {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    /// A JSON document in a string (podman: `image-name`, `name`, ...).
    #[serde(default)]
    metadata: String,
}

#[derive(Deserialize, Default)]
struct ContainerMetadata {
    #[serde(rename = "image-name", default)]
    image_name: Option<String>,
}

#[derive(Deserialize)]
struct StoredImage {
    id: String,
    #[serde(default)]
    names: Vec<String>,
}

fn storage_names(storage: &Path, id: &str) -> Result<Names, MetaError> {
    let path = storage.join("overlay-containers/containers.json");
    let Some(bytes) = read_capped(&path, STORE_CAP)? else {
        return Ok(Names::default());
    };
    let all: Vec<StoredContainer> = parse(&path, &bytes)?;
    let Some(c) = all.into_iter().find(|c| c.id == id) else {
        return Ok(Names::default());
    };
    let mut image_name = if c.metadata.is_empty() {
        None
    } else {
        parse::<ContainerMetadata>(&path, c.metadata.as_bytes())?.image_name
    };
    if image_name.is_none() && !c.image.is_empty() {
        let path = storage.join("overlay-images/images.json");
        if let Some(bytes) = read_capped(&path, STORE_CAP)? {
            let images: Vec<StoredImage> = parse(&path, &bytes)?;
            image_name = images
                .into_iter()
                .find(|i| i.id == c.image)
                .and_then(|i| i.names.into_iter().next());
        }
    }
    Ok(Names {
        name: c.names.into_iter().next(),
        image_name: image_name.filter(|n| !n.is_empty()),
    })
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Config", default)]
    config: DockerInner,
}

#[derive(Deserialize, Default)]
struct DockerInner {
    #[serde(rename = "Image", default)]
    image: String,
}

fn docker_names(path: &Path) -> Result<Names, MetaError> {
    let Some(bytes) = read_capped(path, DOCKER_CAP)? else {
        return Ok(Names::default());
    };
    let c: DockerConfig = parse(path, &bytes)?;
    // Docker keeps the name with a leading slash (`/web`).
    let name = c.name.trim_start_matches('/');
    Ok(Names {
        name: (!name.is_empty()).then(|| name.to_string()),
        image_name: (!c.config.image.is_empty()).then_some(c.config.image),
    })
}
