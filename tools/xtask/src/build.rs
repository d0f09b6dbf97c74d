//! Building the images, and the test command.

use crate::environment::{run_checked, step, TARGET};
use crate::{machine, Error, Result};
use object::{Object, ObjectSegment};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that build for the bare-metal target, not the host.
const TARGET_CRATES: [&str; 6] =
    ["elastos-hypervisor", "test-guest", "guest-runtime", "app-vm", "netvm", "chainvm"];

/// Bare-metal crates with no host build (their code is all EL1 or EL2).
/// `guest-runtime`, `netvm` and `chainvm` are bare-metal too, but their pure parts test
/// on the host.
const TARGET_ONLY_CRATES: [&str; 2] = ["elastos-hypervisor", "test-guest"];

/// The flat guest images the build makes, by the image name the manifests use.
pub const GUEST_IMAGES: [&str; 4] = ["test-guest", "netvm", "chainvm", "app"];

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| {
        // The manifest folder exists while cargo runs xtask; fall back to it as given.
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    })
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// The files a build produces.
pub struct Images {
    /// The hypervisor's ELF for the default system (QEMU loads it with `-kernel`).
    pub hypervisor: PathBuf,
    /// The hypervisor's ELF for the integration tests' system (`test.toml`).
    pub test_hypervisor: PathBuf,
    /// The folder of the flat guest images, `<image name>.bin`.
    pub guests: PathBuf,
}

impl Images {
    /// Where a build puts the images.
    pub fn expected() -> Self {
        let output = release_folder();
        Self {
            hypervisor: output.join("elastos-hypervisor-system"),
            test_hypervisor: output.join("elastos-hypervisor-test"),
            guests: output,
        }
    }

    /// The hypervisor built for the system called `name`.
    pub fn hypervisor_for(&self, name: &str) -> Result<&Path> {
        match name {
            "system" => Ok(&self.hypervisor),
            "test" => Ok(&self.test_hypervisor),
            _ => Err(Error::Usage(format!("there is no system {name}; use system or test"))),
        }
    }

    /// The flat image called `name` (`test-guest`, `netvm`, ...).
    pub fn guest(&self, name: &str) -> PathBuf {
        self.guests.join(format!("{name}.bin"))
    }
}

fn release_folder() -> PathBuf {
    workspace_root().join("target").join(TARGET).join("release")
}

/// Builds the hypervisor (once per system) and the guests.
pub fn build() -> Result<Images> {
    step(&format!("building the hypervisor and guests for {TARGET}"));
    let mut command = cargo();
    command.args(["build", "--release", "--target", TARGET]);
    for name in TARGET_CRATES {
        command.args(["--package", name]);
    }
    run_checked(&mut command)?;
    let images = Images::expected();
    let built = release_folder().join("elastos-hypervisor");
    copy(&built, &images.hypervisor)?;
    step("building the hypervisor for the test system");
    run_checked(cargo().args([
        "build",
        "--release",
        "--target",
        TARGET,
        "--package",
        "elastos-hypervisor",
        "--features",
        "test-system",
    ]))?;
    copy(&built, &images.test_hypervisor)?;
    for name in GUEST_IMAGES {
        flatten(&release_folder().join(name), &images.guest(name))?;
    }
    linux_command()?;
    Ok(images)
}

/// The target the `elastos` command is built for: Linux's, statically.
pub const LINUX_COMMAND_TARGET: &str = "aarch64-unknown-linux-musl";

/// Where the build leaves the `elastos` command for Linux's initramfs.
pub fn linux_command_path() -> PathBuf {
    workspace_root().join("target").join("elastos").join("elastos")
}

/// Builds the `elastos` command (`tools/elastos`) for Linux, static and
/// small (the `linux-command` profile and the linker in `.cargo/config.toml`),
/// and copies it to [`linux_command_path`].
fn linux_command() -> Result<PathBuf> {
    crate::environment::ensure_rust_target(LINUX_COMMAND_TARGET)?;
    step(&format!("building the elastos command for {LINUX_COMMAND_TARGET}"));
    run_checked(cargo().args([
        "build",
        "--profile",
        "linux-command",
        "--target",
        LINUX_COMMAND_TARGET,
        "--package",
        "elastos-cli",
        "--bin",
        "elastos",
    ]))?;
    let target_folder = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let built = target_folder.join(LINUX_COMMAND_TARGET).join("linux-command").join("elastos");
    let output = linux_command_path();
    if let Some(folder) = output.parent() {
        std::fs::create_dir_all(folder)
            .map_err(|source| Error::File { path: folder.display().to_string(), source })?;
    }
    copy(&built, &output)?;
    Ok(output)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| Error::File { path: from.display().to_string(), source })
}

/// Writes the loadable segments of an ELF as one flat image starting at its
/// lowest physical address.
fn flatten(elf_path: &Path, output: &Path) -> Result<()> {
    let file_error = |source| Error::File { path: elf_path.display().to_string(), source };
    let bytes = std::fs::read(elf_path).map_err(file_error)?;
    let bad = |reason: String| Error::BadImage { path: elf_path.display().to_string(), reason };
    let elf = object::File::parse(&*bytes).map_err(|error| bad(error.to_string()))?;
    let segments: Vec<(u64, &[u8])> = elf
        .segments()
        .filter_map(|segment| {
            let data = segment.data().ok()?;
            (!data.is_empty()).then_some((segment.address(), data))
        })
        .collect();
    let base = segments
        .iter()
        .map(|(address, _)| *address)
        .min()
        .ok_or_else(|| bad("no loadable segment".into()))?;
    if elf.entry() != base {
        return Err(bad(format!("entry {:#x} is not at the image base {base:#x}", elf.entry())));
    }
    let end =
        segments.iter().map(|(address, data)| address + data.len() as u64).max().unwrap_or(base);
    let mut image = vec![0u8; (end - base) as usize];
    for (address, data) in segments {
        let offset = (address - base) as usize;
        image[offset..offset + data.len()].copy_from_slice(data);
    }
    std::fs::write(output, image)
        .map_err(|source| Error::File { path: output.display().to_string(), source })
}

/// `cargo xtask test`: formatting, lints, unit tests, then the QEMU tests.
pub fn test(filter: Option<&str>) -> Result<()> {
    step("checking formatting (cargo fmt)");
    run_checked(cargo().args(["fmt", "--all", "--", "--check"]))?;
    step("linting host crates (cargo clippy)");
    let mut host = cargo();
    host.args(["clippy", "--workspace", "--all-targets"]);
    for name in TARGET_ONLY_CRATES {
        host.args(["--exclude", name]);
    }
    run_checked(host.args(["--", "-D", "warnings"]))?;
    step(&format!("linting {TARGET} crates (cargo clippy)"));
    let mut target = cargo();
    target.args(["clippy", "--release", "--target", TARGET]);
    for name in TARGET_CRATES {
        target.args(["--package", name]);
    }
    run_checked(target.args(["--", "-D", "warnings"]))?;
    let images = build()?;
    let linux = crate::linux::default_linux()?;
    let arguments_file = workspace_root().join("target").join("elastos").join("qemu-arguments");
    let mut arguments =
        machine::machine_arguments("cortex-a53", &images.test_hypervisor)?.join("\n");
    arguments.push('\n');
    machine::write_file(&arguments_file, arguments.as_bytes())?;
    let peer = p2p_peer(false)?;
    step("building and signing the example dapps");
    let dapps = crate::dapp::build_examples()?;
    let vectors = workspace_root().join("../shared/vectors");
    if vectors.is_dir() {
        step(&format!("checking the chain verification vectors ({})", vectors.display()));
        if !crate::chain::check(&[vectors])? {
            return Err(Error::Usage("chain check: a vector got the wrong verdict".into()));
        }
    }
    step("running unit and QEMU tests (cargo test)");
    let mut tests = cargo();
    tests.args(["test", "--workspace"]);
    for name in TARGET_ONLY_CRATES {
        tests.args(["--exclude", name]);
    }
    if let Some(filter) = filter {
        tests.arg(filter);
    }
    tests
        .env("ELASTOS_QEMU_ARGS_FILE", &arguments_file)
        .env("ELASTOS_HYPERVISOR_ELF", &images.test_hypervisor)
        .env("ELASTOS_DEFAULT_HYPERVISOR_ELF", &images.hypervisor)
        .env("ELASTOS_GUEST_IMAGES", &images.guests)
        .env("ELASTOS_LINUX_KERNEL", &linux.image)
        .env("ELASTOS_LINUX_INITRAMFS", &linux.initramfs)
        .env("ELASTOS_P2P_PEER", &peer)
        .env("ELASTOS_DAPPS", &dapps);
    run_checked(&mut tests)
}

/// Builds the host libp2p peer the interop tests and benchmarks talk to
/// (`tools/p2p-peer`), optimised for benchmarks; returns its path.
pub fn p2p_peer(release: bool) -> Result<std::path::PathBuf> {
    step("building the host libp2p peer (tools/p2p-peer)");
    let mut command = cargo();
    command.args(["build", "--package", "p2p-peer"]);
    if release {
        command.arg("--release");
    }
    run_checked(&mut command)?;
    let profile = if release { "release" } else { "debug" };
    Ok(workspace_root().join("target").join(profile).join("p2p-peer"))
}
