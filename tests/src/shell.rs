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
    qemu.wait_for_console(READY, BOOT_TIMEOUT)?;
    qemu.wait_for_console(PROMPT, COMMAND_TIMEOUT)?;
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
    let console = qemu.wait_for_console(&end, COMMAND_TIMEOUT)?;
    let start = console.rfind(&begin).expect("the begin marker precedes the end marker");
    let stop = console.rfind(&end).expect("waited for it");
    // Drop the console's `[linux] ` tags so the output reads as the guest wrote it.
    let output = &console[start + begin.len()..stop];
    Ok(output
        .lines()
        .map(|line| line.strip_prefix("[linux] ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n"))
}
