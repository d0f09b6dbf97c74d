//! The default Linux guest's shell, driven over the serial console.

use std::time::Duration;

use crate::{Error, Qemu};

/// How long the default Linux guest may take to reach its shell.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// How long one shell command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// What the default initramfs prints when userspace is up.
pub const READY: &str = "elastos: userspace ready on 2 CPUs";
/// The default initramfs's shell prompt.
pub const PROMPT: &str = "elastos# ";

/// Waits until Linux has booted to its shell.
pub fn wait_for_shell(qemu: &Qemu) -> Result<(), Error> {
    qemu.wait_for_source("linux", READY, 1, BOOT_TIMEOUT)?;
    qemu.wait_for_source("linux", PROMPT, 1, COMMAND_TIMEOUT)?;
    Ok(())
}

/// Runs `command` in the guest's shell and returns what it printed between
/// two markers. The markers are split in the typed text so that the echo of
/// the command line never matches.
pub fn shell(qemu: &Qemu, command: &str) -> Result<String, Error> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let begin = format!("BEGIN{number}.");
    let end = format!("END{number}.");
    let typed = format!("echo BEGIN''{number}.; {command}; echo END''{number}.\n");
    qemu.write_console(typed.as_bytes())?;
    // Linux's own text, its lines joined again where other VMs' lines cut
    // them, and without the console's tags.
    let text = qemu.wait_for_source("linux", &end, 1, COMMAND_TIMEOUT)?;
    let start = text.rfind(&begin).expect("the begin marker precedes the end marker");
    let stop = text.rfind(&end).expect("waited for it");
    Ok(text[start + begin.len()..stop].to_string())
}
