//! Dapps from the Linux shell: the example packages `cargo xtask test` built
//! and signed (`ELASTOS_DAPPS`), served to Linux by a file server on the host,
//! and the `elastos` command run in Linux's shell.

use std::path::PathBuf;
use std::time::Duration;

use file_server::FileServer;

use crate::{Error, Qemu};

/// The variable naming the folder of the built example packages.
pub const DAPPS_VARIABLE: &str = "ELASTOS_DAPPS";
/// The host as Linux sees it through QEMU's user network.
pub const HOST: &str = "10.0.2.2";
/// How long one `elastos` command may take (a start waits for the dapp to run).
pub const ELASTOS_TIMEOUT: Duration = Duration::from_secs(120);

/// The bytes of the example package `name` (`chat`, `notes`, `compute`).
pub fn package(name: &str) -> Result<Vec<u8>, Error> {
    let folder = std::env::var_os(DAPPS_VARIABLE)
        .map(PathBuf::from)
        .ok_or(crate::system::SystemError::MissingVariable(DAPPS_VARIABLE))?;
    let path = folder.join(format!("{name}.elastos"));
    std::fs::read(&path).map_err(|source| crate::system::SystemError::File { path, source }.into())
}

/// A file server on the host holding `files` (path, bytes), each at `/PATH`.
pub fn serve(files: Vec<(String, Vec<u8>)>) -> FileServer {
    FileServer::start(files.into_iter().map(|(name, bytes)| (format!("/{name}"), bytes)))
        .expect("the file server starts on a free port")
}

/// The example packages `names`, served at `/NAME.elastos`.
pub fn serve_packages(names: &[&str]) -> Result<FileServer, Error> {
    let mut files = Vec::new();
    for name in names {
        files.push((format!("{name}.elastos"), package(name)?));
    }
    Ok(serve(files))
}

/// What Linux's DHCP script prints once it applied a lease.
pub const LEASE_LINE: &str = "elastos: eth0 has ";

/// Waits until Linux's network has its lease (after its shell is up).
pub fn wait_for_network(qemu: &Qemu) -> Result<(), Error> {
    qemu.wait_for_source("linux", LEASE_LINE, 1, ELASTOS_TIMEOUT)?;
    Ok(())
}

/// Downloads `/FILE` from `server` into Linux's `/tmp/FILE` with `wget`.
pub fn download(qemu: &Qemu, server: &FileServer, file: &str) -> Result<String, Error> {
    let command =
        format!("wget -q -O /tmp/{file} http://{HOST}:{}/{file}; echo wget=$?", server.port());
    run(qemu, &command, ELASTOS_TIMEOUT)
}

/// Runs `elastos ARGUMENTS` in Linux's shell: its output (standard error
/// too) and its exit status.
pub fn elastos(qemu: &Qemu, arguments: &str) -> Result<(String, i32), Error> {
    let output = run(qemu, &format!("elastos {arguments} 2>&1; echo status=$?"), ELASTOS_TIMEOUT)?;
    let (text, status) = output.rsplit_once("status=").unwrap_or((&output, "-1"));
    let status = status.trim().parse().unwrap_or(-1);
    Ok((text.trim().to_string(), status))
}

/// Runs `command` in Linux's shell, waiting up to `timeout` for it: what it
/// printed between two markers split in the typed text (so that the echo of
/// the command never matches).
pub fn run(qemu: &Qemu, command: &str, timeout: Duration) -> Result<String, Error> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Markers of their own: `shell::shell`'s BEGIN/END must never match them.
    let (begin, end) = (format!("DAPPFROM{number}."), format!("DAPPUPTO{number}."));
    let typed = format!("echo DAPPFROM''{number}.; {command}; echo DAPPUPTO''{number}.\n");
    qemu.write_console(typed.as_bytes())?;
    let text = qemu.wait_for_source("linux", &end, 1, timeout)?;
    let stop = text.rfind(&end).expect("waited for it");
    let start = text[..stop].rfind(&begin).expect("the begin marker precedes the end marker");
    Ok(text[start + begin.len()..stop].trim().to_string())
}
