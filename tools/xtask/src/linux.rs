//! The default Linux guest: Debian's stock arm64 kernel and busybox, fetched
//! with the machine's own apt into a private cache, and the check that a
//! kernel is an arm64 Linux Image.
//!
//! apt runs with its own lists, archive cache and an empty status file under
//! `target/elastos/linux/apt/`, and with arm64 as its only architecture, so
//! the machine's package configuration is read (its sources in `/etc/apt`)
//! but never changed. `apt-get download` checks each package against the
//! signed index; the SHA-256 of every package used is also recorded in a stamp
//! file and checked again whenever the cache is reused, so a damaged cache is
//! fetched anew. With a good cache nothing touches the network.

use crate::build::workspace_root;
use crate::environment::step;
use crate::initramfs::{self, hexadecimal};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The Debian metapackage that depends on the current arm64 kernel package.
pub const KERNEL_METAPACKAGE: &str = "linux-image-arm64";
/// The Debian package with a statically linked busybox.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

/// "ARM\x64", little-endian, at offset 0x38 of an arm64 Image.
const ARM64_IMAGE_MAGIC: u32 = 0x644d_5241;
const ARM64_MAGIC_OFFSET: usize = 0x38;
const ARM64_HEADER_LENGTH: usize = 64;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// An EFI zboot image: a PE stub ("MZ") with "zimg" at offset 4, then the
/// payload's offset and size (u32 each) and the compression's name at 24.
const ZBOOT_MAGIC: &[u8; 4] = b"zimg";

/// The stamp file's name, in the cache folder.
const STAMP: &str = "packages.stamp";
/// Written into an extraction folder when `dpkg-deb` has finished.
const EXTRACTED_MARKER: &str = ".extracted";

/// What went wrong fetching, unpacking or checking the Linux guest.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    /// A program of Debian's package tools is not installed.
    #[error(
        "`{program}` is missing: the default Linux guest is fetched with the machine's apt \
         (Debian or Ubuntu); install {package}, or pass --kernel PATH and --initrd PATH"
    )]
    ToolMissing {
        /// The program.
        program: String,
        /// The package that has it.
        package: &'static str,
    },
    /// A command could not be started.
    #[error("could not start `{command}`: {source}")]
    CouldNotStart {
        /// The command line.
        command: String,
        /// Why.
        source: io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed with {status}; {advice}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// What to do about it.
        advice: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// A kernel is not an arm64 Linux Image.
    #[error(
        "{path} is not an arm64 Linux Image ({reason}); pass an uncompressed Image, e.g. \
         arch/arm64/boot/Image of a kernel build or Debian's /boot/vmlinuz-*-arm64"
    )]
    NotAnImage {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A kernel is compressed.
    #[error(
        "{path} is a {format}-compressed kernel, not an Image; decompress it first \
         (e.g. `{command}`) and pass the resulting Image"
    )]
    CompressedImage {
        /// The file.
        path: String,
        /// The compression.
        format: String,
        /// A command that decompresses it.
        command: String,
    },
    /// apt does not know a package.
    #[error(
        "apt has no arm64 package {package} ({detail}); the machine's sources in /etc/apt \
         must list a Debian suite with the main component, or pass --kernel PATH and --initrd PATH"
    )]
    NoPackage {
        /// The package.
        package: String,
        /// What apt said.
        detail: String,
    },
    /// A downloaded package is not the one the index describes.
    #[error(
        "{file} has SHA-256 {actual}, but apt's signed index says {expected}; \
         delete {cache} and try again"
    )]
    ChecksumMismatch {
        /// The package file.
        file: String,
        /// Its SHA-256.
        actual: String,
        /// The SHA-256 the index gives.
        expected: String,
        /// The cache folder.
        cache: String,
    },
    /// A package does not hold what it should.
    #[error("{package}: {reason}; delete the cache in target/elastos/linux and try again")]
    BadPackage {
        /// The package (or its extraction folder).
        package: String,
        /// What is wrong.
        reason: String,
    },
    /// A module the guest needs is not in the kernel package.
    #[error(
        "kernel module {name} is neither a module of the kernel package nor listed in its \
         modules.builtin; the guest needs it for virtio and vsock: use a kernel that has it"
    )]
    MissingModule {
        /// The module's name.
        name: String,
    },
    /// A kernel module file cannot be read.
    #[error("kernel module {path}: {reason}")]
    BadModule {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl LinuxError {
    /// A file error for `path`.
    pub fn file(path: &Path, source: io::Error) -> Self {
        Self::File { path: path.display().to_string(), source }
    }
}

impl From<LinuxError> for crate::Error {
    fn from(error: LinuxError) -> Self {
        match error {
            LinuxError::File { path, source } => crate::Error::File { path, source },
            LinuxError::CouldNotStart { command, source } => {
                crate::Error::CouldNotStart { command, source }
            }
            other => crate::Error::Usage(other.to_string()),
        }
    }
}

/// The fields of an arm64 Image header (Documentation/arch/arm64/booting.rst).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// Where the image goes above a 2 MiB aligned base.
    pub text_offset: u64,
    /// The memory the image takes, bss included (0 for kernels before 3.17).
    pub image_size: u64,
    /// Endianness, page size and placement flags.
    pub flags: u64,
}

impl fmt::Display for ImageHeader {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(
            formatter,
            "{} KiB in memory, text offset {:#x}, flags {:#x}",
            self.image_size >> 10,
            self.text_offset,
            self.flags
        )
    }
}

/// What the default Linux guest boots.
#[derive(Clone, Debug)]
pub struct LinuxArtifacts {
    /// The uncompressed arm64 Image.
    pub image: PathBuf,
    /// The initramfs (an uncompressed cpio archive).
    pub initramfs: PathBuf,
    /// The kernel's release, e.g. `6.1.0-56-arm64`.
    pub kernel_version: String,
}

impl fmt::Display for LinuxArtifacts {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(
            formatter,
            "Linux {}: {} and {}",
            self.kernel_version,
            self.image.display(),
            self.initramfs.display()
        )
    }
}

fn header_field(header: &[u8], offset: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&header[offset..offset + 8]);
    u64::from_le_bytes(bytes)
}

/// Reads the arm64 Image header at the start of `bytes`; `path` names it in errors.
pub fn parse_arm64_header(path: &Path, bytes: &[u8]) -> Result<ImageHeader, LinuxError> {
    let shown = path.display().to_string();
    if bytes.starts_with(&GZIP_MAGIC) {
        return Err(LinuxError::CompressedImage {
            format: "gzip".into(),
            command: format!("zcat {shown} > Image"),
            path: shown,
        });
    }
    if bytes.starts_with(b"MZ") && bytes.get(4..8) == Some(ZBOOT_MAGIC) {
        return Err(LinuxError::CompressedImage {
            format: "EFI zboot".into(),
            command: "the kernel build's arch/arm64/boot/Image".into(),
            path: shown,
        });
    }
    if bytes.len() < ARM64_HEADER_LENGTH {
        let reason = format!("{} bytes, shorter than the 64-byte header", bytes.len());
        return Err(LinuxError::NotAnImage { path: shown, reason });
    }
    let mut magic = [0; 4];
    magic.copy_from_slice(&bytes[ARM64_MAGIC_OFFSET..ARM64_MAGIC_OFFSET + 4]);
    if u32::from_le_bytes(magic) != ARM64_IMAGE_MAGIC {
        let reason = "no ARM\\x64 magic at 0x38".to_string();
        return Err(LinuxError::NotAnImage { path: shown, reason });
    }
    let header = ImageHeader {
        text_offset: header_field(bytes, 8),
        image_size: header_field(bytes, 16),
        flags: header_field(bytes, 24),
    };
    if header.flags & 1 != 0 {
        let reason = "a big-endian kernel (flags bit 0)".to_string();
        return Err(LinuxError::NotAnImage { path: shown, reason });
    }
    Ok(header)
}

/// Checks that `path` is an uncompressed arm64 Linux Image and returns its header.
pub fn check_arm64_image(path: &Path) -> Result<ImageHeader, LinuxError> {
    let mut file = File::open(path).map_err(|source| LinuxError::file(path, source))?;
    let mut header = Vec::with_capacity(ARM64_HEADER_LENGTH);
    file.by_ref()
        .take(ARM64_HEADER_LENGTH as u64)
        .read_to_end(&mut header)
        .map_err(|source| LinuxError::file(path, source))?;
    parse_arm64_header(path, &header)
}

/// The Image inside a kernel file as a package ships it: the file itself if it
/// is an Image, or its decompressed contents if it is gzip or gzip zboot.
pub fn decompress_kernel(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, LinuxError> {
    let gunzip = |compressed: &[u8]| {
        let mut image = Vec::new();
        flate2::read::MultiGzDecoder::new(compressed)
            .read_to_end(&mut image)
            .map(|_| image)
            .map_err(|error| LinuxError::NotAnImage {
                path: path.display().to_string(),
                reason: format!("its gzip data is damaged: {error}"),
            })
    };
    let image = if bytes.starts_with(&GZIP_MAGIC) {
        gunzip(&bytes)?
    } else if bytes.starts_with(b"MZ") && bytes.get(4..8) == Some(ZBOOT_MAGIC) {
        let word = |offset: usize| {
            bytes
                .get(offset..offset + 4)
                .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize)
        };
        let compression = bytes.get(24..32).unwrap_or_default();
        let payload = word(8)
            .zip(word(12))
            .and_then(|(offset, size)| bytes.get(offset..offset.checked_add(size)?));
        match payload {
            Some(payload) if compression.starts_with(b"gzip") => gunzip(payload)?,
            _ => {
                let name = String::from_utf8_lossy(compression);
                let reason = format!("an EFI zboot image compressed with {}", name.trim_end());
                let path = path.display().to_string();
                return Err(LinuxError::NotAnImage { path, reason });
            }
        }
    } else {
        bytes
    };
    parse_arm64_header(path, &image)?;
    Ok(image)
}

/// One Debian package of the guest, as recorded in the stamp file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// What it is for: `kernel` or `busybox`.
    pub role: String,
    /// Its name, e.g. `linux-image-6.1.0-56-arm64`.
    pub name: String,
    /// Its version, e.g. `6.1.192-2`.
    pub version: String,
    /// The SHA-256 of its `.deb` file.
    pub sha256: String,
    /// The `.deb` file's name in the cache's `packages/` folder.
    pub file: String,
}

/// Writes the stamp file's text.
pub fn format_stamp(packages: &[Package]) -> String {
    let mut text = String::from(
        "# The Debian packages of the default Linux guest, written by cargo xtask.\n\
         # role package version sha256 file\n",
    );
    for package in packages {
        let Package { role, name, version, sha256, file } = package;
        text.push_str(&format!("{role} {name} {version} {sha256} {file}\n"));
    }
    text
}

/// Reads the stamp file's text; `None` if it is malformed or lacks a role.
pub fn parse_stamp(text: &str) -> Option<Vec<Package>> {
    let mut packages = Vec::new();
    for line in text.lines().filter(|line| !line.starts_with('#') && !line.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [role, name, version, sha256, file] = fields[..] else {
            return None;
        };
        if file.contains('/') || sha256.len() != 64 {
            return None;
        }
        packages.push(Package {
            role: role.into(),
            name: name.into(),
            version: version.into(),
            sha256: sha256.into(),
            file: file.into(),
        });
    }
    let has = |role: &str| packages.iter().any(|package| package.role == role);
    (has("kernel") && has("busybox")).then_some(packages)
}

/// The value of `field` in one stanza of `apt-cache show`.
pub fn stanza_field<'a>(stanza: &'a str, field: &str) -> Option<&'a str> {
    stanza.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == field).then(|| value.trim())
    })
}

/// The concrete kernel package a `linux-image-arm64` stanza depends on.
pub fn kernel_dependency(stanza: &str) -> Option<String> {
    stanza_field(stanza, "Depends")?
        .split([',', '|'])
        .map(|item| item.split_whitespace().next().unwrap_or_default())
        .find(|name| name.starts_with("linux-image-") && *name != KERNEL_METAPACKAGE)
        .map(String::from)
}

/// The SHA-256 of a file, in hexadecimal.
pub fn sha256_of_file(path: &Path) -> Result<String, LinuxError> {
    let mut file = File::open(path).map_err(|source| LinuxError::file(path, source))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|source| LinuxError::file(path, source))?;
    Ok(hexadecimal(&hasher.finalize()))
}

fn start_error(command: &Command, source: io::Error) -> LinuxError {
    if source.kind() == io::ErrorKind::NotFound {
        let program = command.get_program().to_string_lossy().into_owned();
        let package = if program.starts_with("dpkg") { "dpkg" } else { "apt" };
        LinuxError::ToolMissing { program, package }
    } else {
        LinuxError::CouldNotStart { command: crate::environment::display(command), source }
    }
}

/// Runs `command` with its output on the terminal.
fn run(command: &mut Command, advice: &str) -> Result<(), LinuxError> {
    let status = command.status().map_err(|source| start_error(command, source))?;
    if status.success() {
        Ok(())
    } else {
        Err(LinuxError::CommandFailed {
            command: crate::environment::display(command),
            status,
            advice: advice.into(),
        })
    }
}

/// Runs `command` and returns its standard output, or what it said on failure.
fn output(command: &mut Command) -> Result<Result<String, String>, LinuxError> {
    let output =
        command.stdin(Stdio::null()).output().map_err(|source| start_error(command, source))?;
    if output.status.success() {
        Ok(Ok(String::from_utf8_lossy(&output.stdout).into_owned()))
    } else {
        Ok(Err(String::from_utf8_lossy(&output.stderr).trim().to_string()))
    }
}

fn create_folder(path: &Path) -> Result<(), LinuxError> {
    std::fs::create_dir_all(path).map_err(|source| LinuxError::file(path, source))
}

fn remove_folder(path: &Path) -> Result<(), LinuxError> {
    match std::fs::remove_dir_all(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(LinuxError::file(path, error)),
        _ => Ok(()),
    }
}

/// The cache folder of the default Linux guest and the apt that fills it.
struct Cache {
    root: PathBuf,
}

impl Cache {
    fn stamp(&self) -> PathBuf {
        self.root.join(STAMP)
    }

    fn packages(&self) -> PathBuf {
        self.root.join("packages")
    }

    fn extracted(&self, package: &Package) -> PathBuf {
        self.root.join("extracted").join(format!("{}-{}", package.name, &package.sha256[..16]))
    }

    /// `program` (apt-get or apt-cache) with private state and arm64 only.
    fn apt(&self, program: &str) -> Command {
        let apt = self.root.join("apt");
        let mut command = Command::new(program);
        for option in [
            format!("Dir::State::Lists={}", apt.join("lists").display()),
            format!("Dir::Cache={}", apt.join("cache").display()),
            "Dir::State::status=/dev/null".into(),
            "APT::Architecture=arm64".into(),
            "APT::Architectures::=arm64".into(),
            "Debug::NoLocking=1".into(),
            "Acquire::Languages=none".into(),
        ] {
            command.arg("-o").arg(option);
        }
        command
    }

    /// The packages of the stamp file if every `.deb` is there with its SHA-256.
    fn verified_packages(&self) -> Result<Option<Vec<Package>>, LinuxError> {
        let Ok(text) = std::fs::read_to_string(self.stamp()) else {
            return Ok(None);
        };
        let Some(packages) = parse_stamp(&text) else {
            step(&format!("{} is malformed; fetching the packages again", self.stamp().display()));
            return Ok(None);
        };
        for package in &packages {
            let path = self.packages().join(&package.file);
            if !path.is_file() {
                step(&format!("{} is missing; fetching the packages again", path.display()));
                return Ok(None);
            }
            let actual = sha256_of_file(&path)?;
            if actual != package.sha256 {
                step(&format!(
                    "{} has SHA-256 {actual}, not {} as when it was fetched; fetching again",
                    path.display(),
                    package.sha256
                ));
                return Ok(None);
            }
        }
        Ok(Some(packages))
    }

    /// The candidate stanza of `package` in apt's index.
    fn show(&self, package: &str) -> Result<String, LinuxError> {
        let mut command = self.apt("apt-cache");
        command.args(["show", "--no-all-versions", package]);
        match output(&mut command)? {
            Ok(stanza) if stanza_field(&stanza, "Version").is_some() => Ok(stanza),
            Ok(stanza) => Err(LinuxError::NoPackage { package: package.into(), detail: stanza }),
            Err(detail) => Err(LinuxError::NoPackage { package: package.into(), detail }),
        }
    }

    /// Downloads the candidate of `name` into the packages folder.
    fn download(&self, role: &str, name: &str) -> Result<Package, LinuxError> {
        let stanza = self.show(name)?;
        let field = |field: &str| {
            stanza_field(&stanza, field).map(String::from).ok_or_else(|| LinuxError::NoPackage {
                package: name.into(),
                detail: format!("its index entry has no {field} field"),
            })
        };
        let version = field("Version")?;
        let expected = field("SHA256")?;
        let filename = field("Filename")?;
        let file = filename.rsplit('/').next().unwrap_or(&filename).to_string();
        let download = self.root.join("download");
        remove_folder(&download)?;
        create_folder(&download)?;
        step(&format!("downloading {name} {version} (arm64)"));
        let mut command = self.apt("apt-get");
        // Run as root, apt would hand the download to its `_apt` user, which cannot
        // write into the cache; it then downloads as root anyway, with a warning.
        // Saying so up front keeps the output clean; other users are not affected.
        command.args(["-o", "APT::Sandbox::User=root"]);
        command.current_dir(&download).args(["download", &format!("{name}={version}")]);
        run(
            &mut command,
            "check the network and the machine's apt sources (/etc/apt), or pass --kernel PATH \
             and --initrd PATH",
        )?;
        let entries = std::fs::read_dir(&download)
            .map_err(|source| LinuxError::file(&download, source))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "deb"));
        let downloaded: Vec<PathBuf> = entries.collect();
        let [deb] = &downloaded[..] else {
            return Err(LinuxError::BadPackage {
                package: name.into(),
                reason: format!("apt-get download left {} .deb files", downloaded.len()),
            });
        };
        let actual = sha256_of_file(deb)?;
        if actual != expected {
            return Err(LinuxError::ChecksumMismatch {
                file: deb.display().to_string(),
                actual,
                expected,
                cache: self.root.display().to_string(),
            });
        }
        let destination = self.packages().join(&file);
        std::fs::rename(deb, &destination)
            .map_err(|source| LinuxError::file(&destination, source))?;
        remove_folder(&download)?;
        Ok(Package { role: role.into(), name: name.into(), version, sha256: actual, file })
    }

    /// Fetches the current kernel and busybox packages and writes the stamp.
    fn fetch(&self) -> Result<Vec<Package>, LinuxError> {
        let stamp = self.stamp();
        if let Err(error) = std::fs::remove_file(&stamp) {
            if error.kind() != io::ErrorKind::NotFound {
                return Err(LinuxError::file(&stamp, error));
            }
        }
        let apt = self.root.join("apt");
        for folder in ["lists/partial", "cache/archives/partial"] {
            create_folder(&apt.join(folder))?;
        }
        step(&format!("updating apt's arm64 package lists (private state in {})", apt.display()));
        run(
            self.apt("apt-get").arg("update"),
            "check the network and the machine's apt sources (/etc/apt)",
        )?;
        let metapackage = self.show(KERNEL_METAPACKAGE)?;
        let kernel = kernel_dependency(&metapackage).ok_or_else(|| LinuxError::NoPackage {
            package: KERNEL_METAPACKAGE.into(),
            detail: "it depends on no linux-image-* package".into(),
        })?;
        remove_folder(&self.packages())?;
        create_folder(&self.packages())?;
        let packages =
            vec![self.download("kernel", &kernel)?, self.download("busybox", BUSYBOX_PACKAGE)?];
        remove_folder(&self.root.join("extracted"))?;
        std::fs::write(&stamp, format_stamp(&packages))
            .map_err(|source| LinuxError::file(&stamp, source))?;
        Ok(packages)
    }

    /// The package's files, unpacked with `dpkg-deb -x` unless they already are.
    fn extract(&self, package: &Package) -> Result<PathBuf, LinuxError> {
        let folder = self.extracted(package);
        if folder.join(EXTRACTED_MARKER).is_file() {
            return Ok(folder);
        }
        remove_folder(&folder)?;
        create_folder(&folder)?;
        step(&format!("unpacking {} {}", package.name, package.version));
        let mut command = Command::new("dpkg-deb");
        command.arg("-x").arg(self.packages().join(&package.file)).arg(&folder);
        run(&mut command, "delete the cache in target/elastos/linux and try again")?;
        let marker = folder.join(EXTRACTED_MARKER);
        std::fs::write(&marker, "").map_err(|source| LinuxError::file(&marker, source))?;
        Ok(folder)
    }
}

/// Whether `output` exists and is no older than any of `inputs`.
fn is_fresh(output: &Path, inputs: &[&Path]) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|metadata| metadata.modified());
    let Ok(output_time) = modified(output) else {
        return false;
    };
    inputs.iter().all(|input| modified(input).is_ok_and(|input_time| input_time <= output_time))
}

/// The kernel release of an extracted kernel package, from `boot/vmlinuz-<release>`.
fn kernel_version(kernel_root: &Path, package: &str) -> Result<String, LinuxError> {
    let boot = kernel_root.join("boot");
    let entries = std::fs::read_dir(&boot).map_err(|source| LinuxError::file(&boot, source))?;
    let versions: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_prefix("vmlinuz-").map(String::from)
        })
        .collect();
    match &versions[..] {
        [version] if kernel_root.join("lib/modules").join(version).is_dir() => Ok(version.clone()),
        _ => Err(LinuxError::BadPackage {
            package: package.into(),
            reason: format!(
                "expected one boot/vmlinuz-VERSION with lib/modules/VERSION, found {versions:?}"
            ),
        }),
    }
}

/// Writes `bytes` to `path` through a temporary file, so that an interrupted
/// write leaves no file that looks complete.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LinuxError> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(|source| LinuxError::file(&partial, source))?;
    std::fs::rename(&partial, path).map_err(|source| LinuxError::file(path, source))
}

/// The cache folder of the default Linux guest.
pub fn cache_folder() -> PathBuf {
    workspace_root().join("target/elastos/linux")
}

/// The default Linux guest: Debian's current arm64 kernel as an Image and an
/// initramfs with busybox and the virtio and vsock modules. Fetches the
/// packages when the cache lacks them or fails its checks, and rebuilds the
/// Image and the initramfs when they are missing or older than their inputs.
pub fn default_linux() -> Result<LinuxArtifacts, LinuxError> {
    let cache = Cache { root: cache_folder() };
    create_folder(&cache.root)?;
    let packages = match cache.verified_packages()? {
        Some(packages) => packages,
        None => cache.fetch()?,
    };
    let package = |role: &str| {
        // parse_stamp and fetch both give a kernel and a busybox package.
        packages.iter().find(|package| package.role == role).expect("the stamp has every role")
    };
    let (kernel, busybox) = (package("kernel"), package("busybox"));
    let kernel_root = cache.extract(kernel)?;
    let busybox_root = cache.extract(busybox)?;
    let kernel_marker = kernel_root.join(EXTRACTED_MARKER);
    let busybox_marker = busybox_root.join(EXTRACTED_MARKER);
    let kernel_version = kernel_version(&kernel_root, &kernel.name)?;

    let image = cache.root.join("Image");
    if !is_fresh(&image, &[&kernel_marker]) {
        let vmlinuz = kernel_root.join("boot").join(format!("vmlinuz-{kernel_version}"));
        step(&format!("writing {} from {}", image.display(), vmlinuz.display()));
        let bytes = std::fs::read(&vmlinuz).map_err(|source| LinuxError::file(&vmlinuz, source))?;
        write_atomically(&image, &decompress_kernel(&vmlinuz, bytes)?)?;
    }
    let header = check_arm64_image(&image)?;

    let recipe_path = cache.root.join("initramfs.recipe");
    let recipe = initramfs::recipe();
    if std::fs::read_to_string(&recipe_path).ok().as_deref() != Some(recipe.as_str()) {
        std::fs::write(&recipe_path, &recipe)
            .map_err(|source| LinuxError::file(&recipe_path, source))?;
    }
    let initramfs_path = cache.root.join("initramfs.cpio");
    if !is_fresh(&initramfs_path, &[&kernel_marker, &busybox_marker, &recipe_path]) {
        step(&format!("building {}", initramfs_path.display()));
        initramfs::build_initramfs(&kernel_root, &busybox_root, &kernel_version, &initramfs_path)?;
    }
    let artifacts = LinuxArtifacts { image, initramfs: initramfs_path, kernel_version };
    step(&format!(
        "{artifacts} ({} {}, {} {}; Image: {header})",
        kernel.name, kernel.version, busybox.name, busybox.version
    ));
    Ok(artifacts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn image_header(magic: u32) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[..2].copy_from_slice(b"MZ");
        header[8..16].copy_from_slice(&0x8_0000u64.to_le_bytes());
        header[16..24].copy_from_slice(&0x201_0000u64.to_le_bytes());
        header[24..32].copy_from_slice(&0xau64.to_le_bytes());
        header[0x38..0x3c].copy_from_slice(&magic.to_le_bytes());
        header
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn image_headers_are_checked() {
        let path = Path::new("Image");
        let good = image_header(ARM64_IMAGE_MAGIC);
        let header = parse_arm64_header(path, &good).unwrap();
        assert_eq!(
            header,
            ImageHeader { text_offset: 0x8_0000, image_size: 0x201_0000, flags: 10 }
        );

        let error = parse_arm64_header(path, &image_header(0x1234_5678)).unwrap_err();
        assert!(error.to_string().contains("no ARM\\x64 magic at 0x38"), "{error}");
        assert!(error.to_string().starts_with("Image is not an arm64 Linux Image"), "{error}");

        let error = parse_arm64_header(path, &gzip(&good)).unwrap_err();
        assert!(matches!(error, LinuxError::CompressedImage { .. }), "{error}");
        assert!(error.to_string().contains("zcat Image > Image"), "{error}");

        assert!(parse_arm64_header(path, &good[..40]).is_err());
        let mut big_endian = good.clone();
        big_endian[24] |= 1;
        assert!(parse_arm64_header(path, &big_endian).is_err());
    }

    #[test]
    fn check_reads_only_the_header_of_a_file() {
        let path = std::env::temp_dir().join(format!("xtask-image-{}", std::process::id()));
        let mut image = image_header(ARM64_IMAGE_MAGIC);
        image.extend_from_slice(&[0x55; 4096]);
        std::fs::write(&path, &image).unwrap();
        assert_eq!(check_arm64_image(&path).unwrap().image_size, 0x201_0000);
        std::fs::write(&path, gzip(&image)).unwrap();
        assert!(matches!(check_arm64_image(&path), Err(LinuxError::CompressedImage { .. })));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(check_arm64_image(&path), Err(LinuxError::File { .. })));
    }

    #[test]
    fn kernels_are_decompressed() {
        let path = Path::new("vmlinuz");
        let mut image = image_header(ARM64_IMAGE_MAGIC);
        image.extend_from_slice(&[7; 1000]);
        assert_eq!(decompress_kernel(path, image.clone()).unwrap(), image);
        assert_eq!(decompress_kernel(path, gzip(&image)).unwrap(), image);

        let payload = gzip(&image);
        let mut zboot = vec![0u8; 64];
        zboot[..2].copy_from_slice(b"MZ");
        zboot[4..8].copy_from_slice(ZBOOT_MAGIC);
        zboot[8..12].copy_from_slice(&64u32.to_le_bytes());
        zboot[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        zboot[24..28].copy_from_slice(b"gzip");
        zboot.extend_from_slice(&payload);
        assert_eq!(decompress_kernel(path, zboot.clone()).unwrap(), image);
        zboot[24..28].copy_from_slice(b"zstd");
        assert!(decompress_kernel(path, zboot).is_err());

        assert!(decompress_kernel(path, gzip(b"not a kernel")).is_err());
    }

    #[test]
    fn stamp_round_trips() {
        let packages = vec![
            Package {
                role: "kernel".into(),
                name: "linux-image-6.1.0-56-arm64".into(),
                version: "6.1.192-2".into(),
                sha256: "a".repeat(64),
                file: "linux-image-6.1.0-56-arm64_6.1.192-2_arm64.deb".into(),
            },
            Package {
                role: "busybox".into(),
                name: "busybox-static".into(),
                version: "1:1.35.0-4+deb12u1+b1".into(),
                sha256: "b".repeat(64),
                file: "busybox-static_1.35.0-4+deb12u1+b1_arm64.deb".into(),
            },
        ];
        assert_eq!(parse_stamp(&format_stamp(&packages)), Some(packages.clone()));
        assert_eq!(parse_stamp(&format_stamp(&packages[..1])), None, "busybox is missing");
        assert_eq!(parse_stamp("kernel linux-image 1 short file.deb\n"), None);
    }

    #[test]
    fn apt_stanzas_name_the_kernel_package() {
        let stanza = "Package: linux-image-arm64\nSource: linux-signed-arm64 (6.1.192+2)\n\
            Version: 6.1.192-2\nDepends: linux-image-6.1.0-56-arm64 (= 6.1.192-2)\n\
            SHA256: 0123\nFilename: pool/main/l/linux-signed-arm64/linux-image-arm64.deb\n";
        assert_eq!(stanza_field(stanza, "Version"), Some("6.1.192-2"));
        assert_eq!(stanza_field(stanza, "Missing"), None);
        assert_eq!(kernel_dependency(stanza).as_deref(), Some("linux-image-6.1.0-56-arm64"));
        let unsigned = "Depends: initramfs-tools, linux-image-6.1.0-56-arm64-unsigned (= 1)\n";
        assert_eq!(
            kernel_dependency(unsigned).as_deref(),
            Some("linux-image-6.1.0-56-arm64-unsigned")
        );
        assert_eq!(kernel_dependency("Depends: busybox\n"), None);
    }

    #[test]
    fn freshness_compares_times() {
        let folder = std::env::temp_dir().join(format!("xtask-fresh-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let (input, output) = (folder.join("input"), folder.join("output"));
        std::fs::write(&input, "").unwrap();
        assert!(!is_fresh(&output, &[&input]), "a missing output is stale");
        std::fs::write(&output, "").unwrap();
        let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        File::options().write(true).open(&output).unwrap().set_modified(earlier).unwrap();
        assert!(!is_fresh(&output, &[&input]));
        File::options().write(true).open(&input).unwrap().set_modified(earlier).unwrap();
        assert!(is_fresh(&output, &[&input]));
        std::fs::remove_dir_all(folder).unwrap();
    }
}
