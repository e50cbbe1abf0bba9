//! The agent as an OCI image: `FROM scratch` with the static binary, the
//! BPF object, the default config and the sample rules of the tarball's
//! staged tree, built with podman (or buildah) and saved as an OCI
//! archive, `dist/rand-guard-<version>-oci.tar`. docs/containers.md says
//! how to run it.

use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode};

use crate::run;

/// The image's file: what `podman build` reads, the tarball's staged tree
/// as its context. One layer; the entry point runs the agent with the
/// installed layout's environment (docs/packaging.md).
pub const CONTAINERFILE: &str = "\
FROM scratch
COPY rand-guard /usr/local/bin/rand-guard
COPY edr-ebpf /usr/local/lib/rand-guard/edr-ebpf
COPY config.toml /etc/rand-guard/config.toml
COPY rules.d/ /etc/rand-guard/rules.d/
ENV EDR_CONFIG=/etc/rand-guard/config.toml \\
    EDR_EBPF_OBJECT=/usr/local/lib/rand-guard/edr-ebpf
ENTRYPOINT [\"/usr/local/bin/rand-guard\", \"run\"]
";

/// The image's name in the local store while it is built and saved.
pub fn image_name(version: &str) -> String {
    format!("localhost/rand-guard:{version}")
}

/// The archive's file name in dist/.
pub fn archive_name(version: &str) -> String {
    format!("rand-guard-{version}-oci.tar")
}

/// podman, else buildah: the first found on PATH.
fn builder() -> Option<&'static str> {
    let path = std::env::var_os("PATH")?;
    ["podman", "buildah"]
        .into_iter()
        .find(|tool| std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
}

/// Build the image from `stage` (the tarball's tree) and save it to
/// `dist`; returns the archive's file name.
pub fn image(version: &str, stage: &Path, dist: &Path) -> Result<String, ExitCode> {
    let step = "package: OCI image";
    let Some(tool) = builder() else {
        eprintln!(
            "xtask: {step}: neither podman nor buildah is installed; \
             install one (apt-get install podman) to build the image"
        );
        return Err(ExitCode::FAILURE);
    };
    // Beside the context, not in it: the staged tree stays the tarball's.
    let file = stage.with_file_name("Containerfile");
    fs::write(&file, CONTAINERFILE).map_err(|e| {
        eprintln!("xtask: {step}: writing {}: {e}", file.display());
        ExitCode::FAILURE
    })?;
    let name = image_name(version);
    let mut build = Command::new(tool);
    // buildah's subcommand is `bud` in older releases, `build` in newer;
    // both take -f and -t. `--timestamp` makes the layer's and the
    // config's times the commit's, not the build's.
    build
        .args(["build", "--timestamp"])
        .arg(crate::package::source_date_epoch())
        .arg("-f")
        .arg(&file)
        .arg("-t")
        .arg(&name)
        .arg(stage);
    run(build)?;
    let archive = archive_name(version);
    let mut save = Command::new(tool);
    if tool == "podman" {
        save.args(["save", "--format", "oci-archive", "-o"])
            .arg(dist.join(&archive))
            .arg(&name);
    } else {
        save.arg("push")
            .arg(&name)
            .arg(format!("oci-archive:{}", dist.join(&archive).display()));
    }
    run(save)?;
    // The archive is the artifact; the copy in the local store would only
    // pile up, one per version built.
    let mut rmi = Command::new(tool);
    rmi.args(["rmi", &name]);
    run(rmi)?;
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the image copies is one the tarball stages.
    #[test]
    fn containerfile_copies_the_staged_files() {
        let copied: Vec<&str> = CONTAINERFILE
            .lines()
            .filter_map(|l| l.strip_prefix("COPY "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            copied,
            ["rand-guard", "edr-ebpf", "config.toml", "rules.d/"]
        );
        assert_eq!(archive_name("1.2.3"), "rand-guard-1.2.3-oci.tar");
    }
}
