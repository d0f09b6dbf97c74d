//! The default Linux guest's initramfs: busybox, the kernel's virtio and vsock
//! modules, the `elastos` command (`/usr/bin/elastos`, built by `cargo xtask
//! build`) and an `/init` script, in a cpio "newc" archive written here.
//!
//! The archive is left uncompressed: the kernel unpacks an uncompressed cpio as
//! it is, the guest spends no boot time inflating it, and the staging region
//! has room for its few MiB. Modules that the package ships compressed
//! (`.ko.xz`, `.ko.gz`) are stored decompressed, because busybox's `insmod`
//! passes the file to `init_module` as it is.
//!
//! The modules to load come from `modules.dep` when the package has one, and
//! otherwise (Debian's packages leave it to `depmod` at install time) from the
//! `depends=` field of each module's `.modinfo` section. Modules the kernel has
//! built in, listed in `modules.builtin`, are skipped.

use crate::linux::LinuxError;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

/// The modules the guest loads, by name; their dependencies come along
/// (`vmw_vsock_virtio_transport` brings `vsock` and
/// `vmw_vsock_virtio_transport_common`: AF_VSOCK for the `elastos` command).
pub const MODULES: [&str; 3] = ["virtio_mmio", "virtio_net", "vmw_vsock_virtio_transport"];

/// The file that lists the modules `/init` loads, in order, one path a line.
pub const MODULES_LOAD: &str = "etc/modules-load";

/// The guest's `/init`, run by busybox's shell.
pub const INIT_SCRIPT: &str = r#"#!/bin/sh
# /init of the Elastos Linux guest, written by `cargo xtask` (tools/xtask/src/initramfs.rs).
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r module; do
    [ -n "$module" ] || continue
    insmod "$module" || echo "elastos: could not load $module"
done < /etc/modules-load
cpus=$(nproc 2>/dev/null) || cpus=$(grep -c '^processor' /proc/cpuinfo)
echo "elastos: userspace ready on $cpus CPUs"
case "$(cat /proc/cmdline)" in
*elastos.benchmark*)
    echo "elastos: uptime $(cat /proc/uptime)"
    poweroff -f
    ;;
esac
ip link set lo up
# The download benchmark: get a lease in the foreground, fetch the URL once,
# report the bytes and the seconds it took, power off.
for word in $(cat /proc/cmdline); do
    case "$word" in
    elastos.download=*)
        url="${word#elastos.download=}"
        udhcpc -i eth0 -n -q -t 30 -T 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1
        start=$(cut -d' ' -f1 /proc/uptime)
        bytes=$(wget -q -O - "$url" 2>/tmp/wget.errors | wc -c)
        end=$(cut -d' ' -f1 /proc/uptime)
        echo "elastos: download bytes=$bytes start=$start end=$end"
        [ -s /tmp/wget.errors ] && echo "elastos: wget said: $(cat /tmp/wget.errors)"
        ip addr show eth0 | grep inet
        poweroff -f
        ;;
    esac
done
# The network: eth0 is the virtio-net device whose backend is netvm. The
# DHCP client runs beside the shell, retrying until netvm answers; the lease
# is announced on the console.
if [ -e /sys/class/net/eth0 ]; then
    udhcpc -i eth0 -f -T 2 -A 2 -S -s /usr/share/udhcpc/default.script >/dev/null 2>&1 &
fi
cd /root
export PS1='elastos# '
# A new session whose controlling terminal is the console: job control works.
setsid cttyhack sh
poweroff -f
"#;

/// Where busybox's udhcpc looks for the script that applies a lease.
pub const DHCP_SCRIPT_PATH: &str = "usr/share/udhcpc/default.script";

/// The DHCP client's script: applies the lease to the interface, the
/// default route and /etc/resolv.conf, and says so on the console.
pub const DHCP_SCRIPT: &str = r#"#!/bin/sh
# udhcpc's hook in the Elastos Linux guest, written by `cargo xtask`.
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for gateway in $router; do
        ip route replace default via "$gateway" dev "$interface"
        break
    done
    : > /etc/resolv.conf
    for server in $dns; do
        echo "nameserver $server" >> /etc/resolv.conf
    done
    echo "elastos: $interface has $ip/${mask:-24} via $router" > /dev/console
    ;;
esac
"#;

/// Raised when the layout of the archive changes, so cached archives are rebuilt.
const LAYOUT_VERSION: u32 = 3;

/// Where the `elastos` command goes in the archive.
pub const ELASTOS_COMMAND_PATH: &str = "usr/bin/elastos";

/// A fingerprint of what goes into the archive besides the packages: the init
/// script, the module list, the layout and the `elastos` command. A cached
/// archive with another fingerprint is rebuilt.
pub fn recipe() -> String {
    let mut hasher = Sha256::new();
    hasher.update(LAYOUT_VERSION.to_le_bytes());
    // A command not built yet hashes as empty; building the archive then
    // says it is missing.
    hasher.update(std::fs::read(crate::build::linux_command_path()).unwrap_or_default());
    hasher.update(INIT_SCRIPT);
    hasher.update(DHCP_SCRIPT);
    for module in MODULES {
        hasher.update([0]);
        hasher.update(module);
    }
    hexadecimal(&hasher.finalize())
}

/// Lower-case hexadecimal digits of `bytes`.
pub fn hexadecimal(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

const FILE_TYPE_DIRECTORY: u32 = 0o040_000;
const FILE_TYPE_REGULAR: u32 = 0o100_000;
const FILE_TYPE_SYMBOLIC_LINK: u32 = 0o120_000;
const FILE_TYPE_CHARACTER_DEVICE: u32 = 0o020_000;
const NEWC_MAGIC: &str = "070701";
const HEADER_LENGTH: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// Writes a cpio archive in the "newc" format the kernel unpacks: for each
/// entry a 110-byte header of ASCII hexadecimal fields, the NUL-terminated
/// name padded to 4 bytes, then the data padded to 4 bytes; a `TRAILER!!!`
/// entry ends it. Every entry is owned by root with time 0, so the same inputs
/// give the same bytes. Missing parent folders are added before an entry.
pub struct CpioWriter<W: Write> {
    output: W,
    written: u64,
    next_inode: u32,
    directories: BTreeSet<String>,
}

struct Header<'a> {
    name: &'a str,
    inode: u32,
    mode: u32,
    links: u32,
    file_size: u32,
    device: (u32, u32),
}

impl<W: Write> CpioWriter<W> {
    /// Starts an archive.
    pub fn new(output: W) -> Self {
        Self { output, written: 0, next_inode: 1, directories: BTreeSet::new() }
    }

    /// Adds a folder (and its missing parents, with permissions 0755).
    pub fn directory(&mut self, path: &str, permissions: u32) -> io::Result<()> {
        let path = relative(path);
        self.parents(path)?;
        if self.directories.insert(path.to_string()) {
            self.entry(path, FILE_TYPE_DIRECTORY | permissions, 2, (0, 0), &[])?;
        }
        Ok(())
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, permissions: u32, data: &[u8]) -> io::Result<()> {
        let path = relative(path);
        self.parents(path)?;
        self.entry(path, FILE_TYPE_REGULAR | permissions, 1, (0, 0), data)
    }

    /// Adds a symbolic link to `target`.
    pub fn symbolic_link(&mut self, path: &str, target: &str) -> io::Result<()> {
        let path = relative(path);
        self.parents(path)?;
        self.entry(path, FILE_TYPE_SYMBOLIC_LINK | 0o777, 1, (0, 0), target.as_bytes())
    }

    /// Adds a character device node with the given major and minor numbers.
    pub fn character_device(
        &mut self,
        path: &str,
        permissions: u32,
        major: u32,
        minor: u32,
    ) -> io::Result<()> {
        let path = relative(path);
        self.parents(path)?;
        self.entry(path, FILE_TYPE_CHARACTER_DEVICE | permissions, 1, (major, minor), &[])
    }

    /// Writes the trailer and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_header(&Header {
            name: TRAILER,
            inode: 0,
            mode: 0,
            links: 1,
            file_size: 0,
            device: (0, 0),
        })?;
        self.output.flush()?;
        Ok(self.output)
    }

    fn parents(&mut self, path: &str) -> io::Result<()> {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            let parent = &path[..end];
            if !parent.is_empty() && self.directories.insert(parent.to_string()) {
                self.entry(parent, FILE_TYPE_DIRECTORY | 0o755, 2, (0, 0), &[])?;
            }
            end += 1;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        links: u32,
        device: (u32, u32),
        data: &[u8],
    ) -> io::Result<()> {
        let file_size = u32::try_from(data.len()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{name} is over 4 GiB"))
        })?;
        let inode = self.next_inode;
        self.next_inode += 1;
        self.write_header(&Header { name, inode, mode, links, file_size, device })?;
        self.write(data)?;
        self.pad()
    }

    fn write_header(&mut self, header: &Header) -> io::Result<()> {
        let name_size = header.name.len() + 1;
        let fields = [
            header.inode,
            header.mode,
            0, // user
            0, // group
            header.links,
            0, // modification time
            header.file_size,
            0, // major number of the device holding the file
            0, // minor number of the device holding the file
            header.device.0,
            header.device.1,
            name_size as u32,
            0, // checksum, unused by "newc"
        ];
        let mut text = String::with_capacity(HEADER_LENGTH + name_size);
        text.push_str(NEWC_MAGIC);
        for field in fields {
            text.push_str(&format!("{field:08X}"));
        }
        text.push_str(header.name);
        text.push('\0');
        self.write(text.as_bytes())?;
        self.pad()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.output.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let padding = (4 - self.written % 4) % 4;
        self.write(&[0; 3][..padding as usize])
    }
}

fn relative(path: &str) -> &str {
    path.trim_start_matches('/')
}

/// A module's name: its file name without `.ko` and compression suffix, with
/// `-` read as `_` as the kernel does.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.find(".ko").map_or(file, |end| &file[..end]);
    stem.replace('-', "_")
}

/// `path` without the compression suffix of a compressed module.
fn uncompressed_path(path: &str) -> &str {
    [".xz", ".gz", ".zst"].iter().find_map(|suffix| path.strip_suffix(suffix)).unwrap_or(path)
}

/// Reads `modules.dep`: for each module name, its path and the names of the
/// modules it needs.
pub fn parse_modules_dep(text: &str) -> BTreeMap<String, (String, Vec<String>)> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(path, dependencies)| {
            let names = dependencies.split_whitespace().map(module_name).collect();
            (module_name(path), (path.trim().to_string(), names))
        })
        .collect()
}

/// A module's dependencies by name, or `None` for a module that does not exist.
pub type Dependencies = Result<Option<Vec<String>>, LinuxError>;

/// The modules to load, dependencies first, so that `wanted` load: each
/// module's dependencies come from `dependencies_of`, which returns `None` for
/// a module it does not know. Modules in `builtin` are skipped, as is a module
/// already listed.
pub fn load_order(
    wanted: &[&str],
    builtin: &BTreeSet<String>,
    mut dependencies_of: impl FnMut(&str) -> Dependencies,
) -> Result<Vec<String>, LinuxError> {
    fn visit(
        name: &str,
        builtin: &BTreeSet<String>,
        dependencies_of: &mut dyn FnMut(&str) -> Dependencies,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) -> Result<(), LinuxError> {
        if builtin.contains(name) || !seen.insert(name.to_string()) {
            return Ok(());
        }
        let dependencies = dependencies_of(name)?
            .ok_or_else(|| LinuxError::MissingModule { name: name.to_string() })?;
        for dependency in &dependencies {
            visit(dependency, builtin, dependencies_of, seen, order)?;
        }
        order.push(name.to_string());
        Ok(())
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for name in wanted {
        visit(&module_name(name), builtin, &mut dependencies_of, &mut seen, &mut order)?;
    }
    Ok(order)
}

/// The modules of one kernel: `lib/modules/<version>` of its package.
pub struct ModuleTree<'a> {
    root: &'a Path,
    /// Each module's path below `root`, by name.
    paths: BTreeMap<String, String>,
    /// The dependencies `modules.dep` gives, if the package has the file.
    dependencies: Option<BTreeMap<String, Vec<String>>>,
    /// The names of the modules built into the kernel.
    builtin: BTreeSet<String>,
}

impl<'a> ModuleTree<'a> {
    /// Reads the module folder `root` (`lib/modules/<version>`).
    pub fn open(root: &'a Path) -> Result<Self, LinuxError> {
        let builtin_path = root.join("modules.builtin");
        let builtin = match std::fs::read_to_string(&builtin_path) {
            Ok(text) => text.lines().filter(|line| !line.is_empty()).map(module_name).collect(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => BTreeSet::new(),
            Err(source) => return Err(LinuxError::file(&builtin_path, source)),
        };
        let dependency_path = root.join("modules.dep");
        let (paths, dependencies) = match std::fs::read_to_string(&dependency_path) {
            Ok(text) => {
                let parsed = parse_modules_dep(&text);
                let paths = parsed.iter().map(|(name, (path, _))| (name.clone(), path.clone()));
                let dependencies =
                    parsed.iter().map(|(name, (_, names))| (name.clone(), names.clone()));
                (paths.collect(), Some(dependencies.collect()))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let mut paths = BTreeMap::new();
                find_modules(root, root, &mut paths)?;
                (paths, None)
            }
            Err(source) => return Err(LinuxError::file(&dependency_path, source)),
        };
        Ok(Self { root, paths, dependencies, builtin })
    }

    /// The module's path below the tree's root, if the package has it.
    pub fn path(&self, name: &str) -> Option<&str> {
        self.paths.get(name).map(String::as_str)
    }

    /// The names of the modules `name` needs, or `None` if there is no such module.
    pub fn dependencies_of(&self, name: &str) -> Dependencies {
        if let Some(dependencies) = &self.dependencies {
            return Ok(dependencies.get(name).cloned());
        }
        let Some(path) = self.paths.get(name) else {
            return Ok(None);
        };
        let path = self.root.join(path);
        let module = read_module(&path)?;
        modinfo_dependencies(&module)
            .map(Some)
            .map_err(|reason| LinuxError::BadModule { path: path.display().to_string(), reason })
    }

    /// The modules `wanted` needs, dependencies first, as paths below the root.
    pub fn load_order(&self, wanted: &[&str]) -> Result<Vec<String>, LinuxError> {
        let names = load_order(wanted, &self.builtin, |name| self.dependencies_of(name))?;
        Ok(names.iter().filter_map(|name| self.path(name).map(String::from)).collect())
    }
}

fn find_modules(
    root: &Path,
    folder: &Path,
    paths: &mut BTreeMap<String, String>,
) -> Result<(), LinuxError> {
    let entries = std::fs::read_dir(folder).map_err(|source| LinuxError::file(folder, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| LinuxError::file(folder, source))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|source| LinuxError::file(&path, source))?;
        if file_type.is_dir() {
            find_modules(root, &path, paths)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative = relative.to_string_lossy();
            if uncompressed_path(&relative).ends_with(".ko") {
                paths.insert(module_name(&relative), relative.into_owned());
            }
        }
    }
    Ok(())
}

/// The names in the `depends=` field of a module's `.modinfo` section.
pub fn modinfo_dependencies(module: &[u8]) -> Result<Vec<String>, String> {
    use object::{Object, ObjectSection};
    let elf = object::File::parse(module).map_err(|error| error.to_string())?;
    let section =
        elf.section_by_name(".modinfo").ok_or_else(|| "no .modinfo section".to_string())?;
    let data = section.data().map_err(|error| error.to_string())?;
    Ok(data
        .split(|&byte| byte == 0)
        .filter_map(|field| field.strip_prefix(b"depends="))
        .flat_map(|list| list.split(|&byte| byte == b','))
        .filter(|name| !name.is_empty())
        .map(|name| module_name(&String::from_utf8_lossy(name)))
        .collect())
}

/// A module file's contents, decompressed if its name says it is compressed.
pub fn read_module(path: &Path) -> Result<Vec<u8>, LinuxError> {
    let bytes = std::fs::read(path).map_err(|source| LinuxError::file(path, source))?;
    let bad = |reason: String| LinuxError::BadModule { path: path.display().to_string(), reason };
    let name = path.to_string_lossy();
    if name.ends_with(".xz") {
        let mut output = Vec::new();
        lzma_rs::xz_decompress(&mut &bytes[..], &mut output)
            .map_err(|error| bad(format!("cannot decompress xz: {error}")))?;
        Ok(output)
    } else if name.ends_with(".gz") {
        let mut output = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut output)
            .map_err(|error| bad(format!("cannot decompress gzip: {error}")))?;
        Ok(output)
    } else if name.ends_with(".zst") {
        Err(bad("zstd-compressed modules are not supported; use a Debian kernel package".into()))
    } else {
        Ok(bytes)
    }
}

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const ELF_MACHINE_AARCH64: u16 = 183;

/// Builds the initramfs at `output` from the extracted kernel package
/// (`kernel_root`, with `lib/modules/<version>`) and busybox package
/// (`busybox_root`, with `bin/busybox`), with the `elastos` command that
/// `cargo xtask build` left at `target/elastos/elastos`.
pub fn build_initramfs(
    kernel_root: &Path,
    busybox_root: &Path,
    version: &str,
    output: &Path,
) -> Result<(), LinuxError> {
    let command = crate::build::linux_command_path();
    build_initramfs_with(kernel_root, busybox_root, &command, version, output)
}

/// [`build_initramfs`] with the `elastos` command taken from `command`.
pub fn build_initramfs_with(
    kernel_root: &Path,
    busybox_root: &Path,
    command: &Path,
    version: &str,
    output: &Path,
) -> Result<(), LinuxError> {
    let elastos = std::fs::read(command).map_err(|source| {
        let reason = format!("the elastos command is missing ({source}); run cargo xtask build");
        LinuxError::BadPackage { package: command.display().to_string(), reason }
    })?;
    if !elastos.starts_with(ELF_MAGIC)
        || elastos.get(18..20) != Some(&ELF_MACHINE_AARCH64.to_le_bytes()[..])
    {
        return Err(LinuxError::BadPackage {
            package: command.display().to_string(),
            reason: "the elastos command is not an arm64 ELF program".into(),
        });
    }
    let busybox_path = busybox_root.join("bin/busybox");
    let busybox =
        std::fs::read(&busybox_path).map_err(|source| LinuxError::file(&busybox_path, source))?;
    let machine = busybox.get(18..20).map(|bytes| u16::from_le_bytes([bytes[0], bytes[1]]));
    if !busybox.starts_with(ELF_MAGIC) || machine != Some(ELF_MACHINE_AARCH64) {
        return Err(LinuxError::BadPackage {
            package: busybox_root.display().to_string(),
            reason: format!("{} is not an arm64 ELF program", busybox_path.display()),
        });
    }
    let modules_root = kernel_root.join("lib/modules").join(version);
    let tree = ModuleTree::open(&modules_root)?;
    let order = tree.load_order(&MODULES)?;

    let mut modules = Vec::new();
    for module in &order {
        let path = format!("lib/modules/{version}/{}", uncompressed_path(module));
        modules.push((path, read_module(&modules_root.join(module))?));
    }

    let partial = output.with_extension("partial");
    let file = File::create(&partial).map_err(|source| LinuxError::file(&partial, source))?;
    write_archive(BufWriter::new(file), &busybox, &elastos, version, &modules)
        .map_err(|source| LinuxError::file(&partial, source))?;
    std::fs::rename(&partial, output).map_err(|source| LinuxError::file(output, source))
}

/// Writes the archive: folders, device nodes, busybox, the `elastos` command,
/// the `modules` (archive path and contents, in load order) with their list,
/// and `/init`.
fn write_archive(
    output: impl Write,
    busybox: &[u8],
    elastos: &[u8],
    version: &str,
    modules: &[(String, Vec<u8>)],
) -> io::Result<()> {
    let mut archive = CpioWriter::new(output);
    for folder in ["bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "etc", "root"] {
        archive.directory(folder, 0o755)?;
    }
    archive.directory("tmp", 0o1777)?;
    archive.directory(&format!("lib/modules/{version}"), 0o755)?;
    archive.directory("dev", 0o755)?;
    archive.character_device("dev/console", 0o600, 5, 1)?;
    archive.character_device("dev/null", 0o666, 1, 3)?;
    archive.file("bin/busybox", 0o755, busybox)?;
    archive.symbolic_link("bin/sh", "busybox")?;
    archive.file(ELASTOS_COMMAND_PATH, 0o755, elastos)?;
    let mut load_list = String::new();
    for (path, bytes) in modules {
        archive.file(path, 0o644, bytes)?;
        load_list.push_str(&format!("/{path}\n"));
    }
    archive.file(MODULES_LOAD, 0o644, load_list.as_bytes())?;
    archive.file("init", 0o755, INIT_SCRIPT.as_bytes())?;
    archive.file(DHCP_SCRIPT_PATH, 0o755, DHCP_SCRIPT.as_bytes())?;
    archive.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One entry read back from an archive.
    #[derive(Debug, PartialEq)]
    struct Entry {
        name: String,
        mode: u32,
        links: u32,
        device: (u32, u32),
        data: Vec<u8>,
    }

    /// A small "newc" reader that checks the padding and the trailer.
    fn read_archive(bytes: &[u8]) -> Vec<Entry> {
        let mut entries = Vec::new();
        let mut offset = 0;
        let aligned = |offset: usize| offset.next_multiple_of(4);
        loop {
            let header = std::str::from_utf8(&bytes[offset..offset + HEADER_LENGTH]).unwrap();
            assert_eq!(&header[..6], NEWC_MAGIC);
            let field = |index: usize| {
                u32::from_str_radix(&header[6 + 8 * index..14 + 8 * index], 16).unwrap()
            };
            let name_size = field(11) as usize;
            let name_start = offset + HEADER_LENGTH;
            assert_eq!(bytes[name_start + name_size - 1], 0, "name is NUL-terminated");
            let name = std::str::from_utf8(&bytes[name_start..name_start + name_size - 1]).unwrap();
            let data_start = aligned(name_start + name_size);
            assert!(bytes[name_start + name_size..data_start].iter().all(|&byte| byte == 0));
            let data_end = data_start + field(6) as usize;
            if name == TRAILER {
                assert_eq!(aligned(data_end), bytes.len(), "nothing after the trailer");
                return entries;
            }
            assert_eq!((field(2), field(3), field(5)), (0, 0, 0), "root-owned, time 0");
            entries.push(Entry {
                name: name.to_string(),
                mode: field(1),
                links: field(4),
                device: (field(9), field(10)),
                data: bytes[data_start..data_end].to_vec(),
            });
            offset = aligned(data_end);
        }
    }

    #[test]
    fn tiny_archive_is_byte_exact() {
        let mut archive = CpioWriter::new(Vec::new());
        archive.file("/a", 0o644, b"hello").unwrap();
        let bytes = archive.finish().unwrap();
        // Magic, inode, mode, user, group, links, time, size, device major and minor,
        // rdev major and minor, name size, checksum; then the name and padding.
        let expected = [
            "070701",
            "00000001",
            "000081A4",
            "00000000",
            "00000000",
            "00000001",
            "00000000",
            "00000005",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000002",
            "00000000",
            "a\0",
            "hello\0\0\0", // 110 + 2 bytes are aligned; 5 bytes of data take 3 more
            "070701",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000001",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "0000000B",
            "00000000",
            "TRAILER!!!\0\0\0\0",
        ]
        .concat();
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn archive_reads_back_with_parents_and_devices() {
        let mut archive = CpioWriter::new(Vec::new());
        archive.directory("/bin", 0o755).unwrap();
        archive.file("/bin/busybox", 0o755, &[1, 2, 3]).unwrap();
        archive.symbolic_link("/bin/sh", "busybox").unwrap();
        archive.character_device("/dev/console", 0o600, 5, 1).unwrap();
        archive.file("/lib/modules/6.1/kernel/a.ko", 0o644, b"module").unwrap();
        archive.directory("/lib/modules/6.1", 0o755).unwrap();
        let entries = read_archive(&archive.finish().unwrap());
        let names: Vec<_> = entries.iter().map(|entry| entry.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/busybox",
                "bin/sh",
                "dev",
                "dev/console",
                "lib",
                "lib/modules",
                "lib/modules/6.1",
                "lib/modules/6.1/kernel",
                "lib/modules/6.1/kernel/a.ko"
            ]
        );
        assert_eq!(entries[0].mode, 0o040_755);
        assert_eq!(entries[0].links, 2);
        assert_eq!(entries[1].data, [1, 2, 3]);
        assert_eq!(entries[2].mode, 0o120_777);
        assert_eq!(entries[2].data, b"busybox");
        assert_eq!(entries[4].mode, 0o020_600);
        assert_eq!(entries[4].device, (5, 1));
        assert_eq!(entries[9].data, b"module");
    }

    #[test]
    fn module_names_drop_suffixes_and_dashes() {
        assert_eq!(module_name("kernel/drivers/char/hw_random/virtio-rng.ko"), "virtio_rng");
        assert_eq!(module_name("kernel/net/vmw_vsock/vsock.ko.xz"), "vsock");
        assert_eq!(module_name("virtio_net"), "virtio_net");
        assert_eq!(uncompressed_path("kernel/a.ko.xz"), "kernel/a.ko");
        assert_eq!(uncompressed_path("kernel/a.ko"), "kernel/a.ko");
    }

    const MODULES_DEP: &str = "\
kernel/drivers/virtio/virtio_mmio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz \
kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/virtio/virtio_ring.ko.xz: kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/virtio/virtio.ko.xz:
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz \
kernel/net/core/failover.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
kernel/net/core/failover.ko.xz:
kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz: \
kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz kernel/net/vmw_vsock/vsock.ko.xz
kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz: kernel/net/vmw_vsock/vsock.ko.xz
kernel/net/vmw_vsock/vsock.ko.xz:
";

    fn order_from(dependencies: &str, builtin: &[&str]) -> Result<Vec<String>, LinuxError> {
        let parsed = parse_modules_dep(dependencies);
        let builtin = builtin.iter().map(|name| name.to_string()).collect();
        load_order(&MODULES, &builtin, |name| {
            Ok(parsed.get(name).map(|(_, dependencies)| dependencies.clone()))
        })
    }

    #[test]
    fn dependencies_load_first() {
        let order = order_from(MODULES_DEP, &[]).unwrap();
        assert_eq!(
            order,
            [
                "virtio",
                "virtio_ring",
                "virtio_mmio",
                "failover",
                "net_failover",
                "virtio_net",
                "vsock",
                "vmw_vsock_virtio_transport_common",
                "vmw_vsock_virtio_transport"
            ]
        );
        let parsed = parse_modules_dep(MODULES_DEP);
        assert_eq!(parsed["vsock"].0, "kernel/net/vmw_vsock/vsock.ko.xz");
    }

    #[test]
    fn builtin_modules_are_skipped() {
        let without_virtio: String = MODULES_DEP
            .lines()
            .filter(|line| !line.starts_with("kernel/drivers/virtio/virtio"))
            .map(|line| format!("{line}\n"))
            .collect();
        let order = order_from(&without_virtio, &["virtio_mmio", "virtio", "virtio_ring"]);
        assert_eq!(order.unwrap()[..3], ["failover", "net_failover", "virtio_net"]);
        let missing = order_from(&without_virtio, &["virtio", "virtio_ring"]);
        assert!(
            matches!(missing, Err(LinuxError::MissingModule { name }) if name == "virtio_mmio")
        );
    }

    /// A minimal little-endian ELF64 relocatable file with one `.modinfo` section.
    fn module_with_modinfo(modinfo: &[u8]) -> Vec<u8> {
        let names = b"\0.modinfo\0.shstrtab\0";
        let modinfo_offset = 64;
        let names_offset = modinfo_offset + modinfo.len();
        let sections_offset = (names_offset + names.len()).next_multiple_of(8);
        let mut elf = vec![0u8; sections_offset + 3 * 64];
        elf[..16].copy_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        elf[16..18].copy_from_slice(&1u16.to_le_bytes()); // relocatable
        elf[18..20].copy_from_slice(&ELF_MACHINE_AARCH64.to_le_bytes());
        elf[20..24].copy_from_slice(&1u32.to_le_bytes());
        elf[40..48].copy_from_slice(&(sections_offset as u64).to_le_bytes());
        elf[52..54].copy_from_slice(&64u16.to_le_bytes()); // header size
        elf[58..60].copy_from_slice(&64u16.to_le_bytes()); // section header size
        elf[60..62].copy_from_slice(&3u16.to_le_bytes()); // section count
        elf[62..64].copy_from_slice(&2u16.to_le_bytes()); // section names index
        elf[modinfo_offset..names_offset].copy_from_slice(modinfo);
        elf[names_offset..names_offset + names.len()].copy_from_slice(names);
        let mut section = |index: usize, name: u32, kind: u32, offset: usize, size: usize| {
            let header = &mut elf[sections_offset + 64 * index..][..64];
            header[0..4].copy_from_slice(&name.to_le_bytes());
            header[4..8].copy_from_slice(&kind.to_le_bytes());
            header[24..32].copy_from_slice(&(offset as u64).to_le_bytes());
            header[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            header[48..56].copy_from_slice(&1u64.to_le_bytes());
        };
        section(1, 1, 1, modinfo_offset, modinfo.len()); // .modinfo, PROGBITS
        section(2, 10, 3, names_offset, names.len()); // .shstrtab, STRTAB
        elf
    }

    #[test]
    fn modinfo_gives_dependencies() {
        let module = module_with_modinfo(b"license=GPL\0depends=virtio_ring,net-failover\0");
        assert_eq!(modinfo_dependencies(&module).unwrap(), ["virtio_ring", "net_failover"]);
        let module = module_with_modinfo(b"depends=\0name=vsock\0");
        assert!(modinfo_dependencies(&module).unwrap().is_empty());
        assert!(modinfo_dependencies(b"not an ELF file").is_err());
    }

    fn temporary_folder(name: &str) -> std::path::PathBuf {
        let folder = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    #[test]
    fn initramfs_from_a_package_without_modules_dep() {
        let folder = temporary_folder("initramfs");
        let modules = folder.join("kernel/lib/modules/9.9-arm64");
        let module = |path: &str, modinfo: &[u8]| {
            let path = modules.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, module_with_modinfo(modinfo)).unwrap();
        };
        module("kernel/drivers/virtio/virtio_mmio.ko", b"depends=virtio,virtio_ring\0");
        module("kernel/drivers/net/virtio_net.ko", b"depends=net_failover,virtio_ring\0");
        module("kernel/drivers/net/net_failover.ko", b"depends=failover\0");
        module("kernel/net/core/failover.ko", b"depends=\0");
        module("kernel/net/vmw_vsock/vsock.ko", b"depends=\0");
        module("kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko", b"depends=vsock\0");
        // A compressed module is stored decompressed.
        let mut compressed = Vec::new();
        let plain = module_with_modinfo(b"depends=virtio_mmio\0");
        lzma_rs::xz_compress(&mut &plain[..], &mut compressed).unwrap();
        std::fs::write(modules.join("kernel/drivers/net/unused.ko.xz"), &compressed).unwrap();
        assert_eq!(read_module(&modules.join("kernel/drivers/net/unused.ko.xz")).unwrap(), plain);
        std::fs::write(
            modules.join("modules.builtin"),
            "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n",
        )
        .unwrap();
        let busybox = folder.join("busybox/bin/busybox");
        std::fs::create_dir_all(busybox.parent().unwrap()).unwrap();
        std::fs::write(&busybox, module_with_modinfo(b"")).unwrap();

        let command = folder.join("elastos");
        std::fs::write(&command, module_with_modinfo(b"")).unwrap();

        let output = folder.join("initramfs.cpio");
        let kernel = folder.join("kernel");
        build_initramfs_with(&kernel, &folder.join("busybox"), &command, "9.9-arm64", &output)
            .unwrap();
        let entries = read_archive(&std::fs::read(&output).unwrap());
        let find = |name: &str| entries.iter().find(|entry| entry.name == name).unwrap();
        assert_eq!(find("init").mode, 0o100_755);
        assert_eq!(find("init").data, INIT_SCRIPT.as_bytes());
        assert_eq!(find(DHCP_SCRIPT_PATH).mode, 0o100_755);
        assert_eq!(find(DHCP_SCRIPT_PATH).data, DHCP_SCRIPT.as_bytes());
        assert_eq!(find("dev/console").device, (5, 1));
        assert_eq!(find("dev/null").device, (1, 3));
        assert_eq!(find("tmp").mode, 0o041_777);
        assert_eq!(find("bin/sh").data, b"busybox");
        assert_eq!(find(ELASTOS_COMMAND_PATH).mode, 0o100_755);
        assert_eq!(find(ELASTOS_COMMAND_PATH).data, module_with_modinfo(b""));
        let load = String::from_utf8(find("etc/modules-load").data.clone()).unwrap();
        let prefix = "/lib/modules/9.9-arm64/kernel";
        assert_eq!(
            load.lines().collect::<Vec<_>>(),
            [
                format!("{prefix}/drivers/virtio/virtio_mmio.ko"),
                format!("{prefix}/net/core/failover.ko"),
                format!("{prefix}/drivers/net/net_failover.ko"),
                format!("{prefix}/drivers/net/virtio_net.ko"),
                format!("{prefix}/net/vmw_vsock/vsock.ko"),
                format!("{prefix}/net/vmw_vsock/vmw_vsock_virtio_transport.ko"),
            ]
        );
        for path in load.lines() {
            find(path.trim_start_matches('/'));
        }
        assert!(entries.iter().all(|entry| !entry.name.contains("unused")));

        // A busybox for another machine is refused.
        std::fs::write(&busybox, b"\x7fELF not arm64").unwrap();
        let error =
            build_initramfs_with(&kernel, &folder.join("busybox"), &command, "9.9", &output);
        assert!(matches!(error, Err(LinuxError::BadPackage { .. })));
        // So is a missing or foreign elastos command.
        std::fs::write(&busybox, module_with_modinfo(b"")).unwrap();
        std::fs::write(&command, b"#!/bin/sh\n").unwrap();
        let error =
            build_initramfs_with(&kernel, &folder.join("busybox"), &command, "9.9-arm64", &output);
        assert!(matches!(error, Err(LinuxError::BadPackage { .. })));
        let missing = folder.join("missing");
        let error =
            build_initramfs_with(&kernel, &folder.join("busybox"), &missing, "9.9-arm64", &output);
        assert!(matches!(error, Err(LinuxError::BadPackage { .. })));
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[test]
    fn recipe_is_stable() {
        assert_eq!(recipe(), recipe());
        assert_eq!(recipe().len(), 64);
    }
}
