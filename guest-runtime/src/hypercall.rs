//! The Elastos hypercalls, as safe functions returning `Result<_, Status>`.
//!
//! Calls are `HVC #0` following the SMC Calling Convention (see the
//! `hypercall-abi` crate): the function identifier in `x0`, arguments in `x1`
//! onwards, results in `x0` to `x3`, where a negative `x0` is an error
//! [`Status`]. Addresses passed to the hypervisor are guest-physical; the
//! runtime's identity map makes them equal to the pointers Rust sees.
//!
//! On the host (unit tests) there is no hypervisor: console writes go to
//! standard error and every other call answers [`Status::NotSupported`].

use hypercall_abi::{call, stop_code, ChannelInfo, Status, CHANNEL_INFO_SIZE, CONSOLE_WRITE_MAX};

/// What `VM_INFO` tells a VM about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineInfo {
    /// The VM's index in the system (what other VMs see as a channel's peer).
    pub index: u32,
    /// How many times the VM has been started, 1 on its first boot.
    pub start_count: u64,
    /// The number of channels the VM has.
    pub channel_count: usize,
}

/// The registers `x0` to `x3` after a call.
type Results = [u64; 4];

/// Makes hypercall `function` with arguments `x1` to `x3`.
#[cfg(target_os = "none")]
fn hypercall(function: u32, arguments: [u64; 3]) -> Results {
    let (x0, x1, x2, x3);
    // SAFETY: HVC #0 traps to the hypervisor, which follows SMCCC: it changes
    // only x0 to x3 (declared as outputs). Memory may change only where the
    // call's documentation says, at an address passed in an argument, so the
    // block is not marked `nomem`: the compiler keeps pending stores before it
    // and reloads memory after it.
    unsafe {
        core::arch::asm!(
            "hvc #0",
            inout("x0") u64::from(function) => x0,
            inout("x1") arguments[0] => x1,
            inout("x2") arguments[1] => x2,
            inout("x3") arguments[2] => x3,
            options(nostack),
        );
    }
    [x0, x1, x2, x3]
}

/// Host stand-in: there is no hypervisor to call.
#[cfg(not(target_os = "none"))]
fn hypercall(function: u32, arguments: [u64; 3]) -> Results {
    if function == call::CONSOLE_WRITE {
        use std::io::Write;
        // SAFETY: on the host, `console_write` passes the address and length of
        // a live byte slice.
        let bytes = unsafe {
            core::slice::from_raw_parts(arguments[0] as *const u8, arguments[1] as usize)
        };
        // Test output is best effort: a closed standard error loses it.
        let _ = std::io::stderr().write_all(bytes);
        return [arguments[1], 0, 0, 0];
    }
    [Status::NotSupported.as_register(), 0, 0, 0]
}

/// Splits `x0` into a successful value or an error status. An error code
/// this ABI version does not know reads as [`Status::NotSupported`].
fn check(x0: u64) -> Result<u64, Status> {
    if (x0 as i64) < 0 {
        Err(Status::from_register(x0).unwrap_or(Status::NotSupported))
    } else {
        Ok(x0)
    }
}

/// `VERSION()`: the hypercall ABI version as `(major, minor)`.
pub fn version() -> Result<(u16, u16), Status> {
    let version = check(hypercall(call::VERSION, [0; 3])[0])?;
    Ok(((version >> 16) as u16, version as u16))
}

/// `VM_INFO()`: who this VM is, how often it has started and how many
/// channels it has.
pub fn machine_info() -> Result<MachineInfo, Status> {
    let [x0, index, start_count, channel_count] = hypercall(call::VM_INFO, [0; 3]);
    check(x0)?;
    Ok(MachineInfo { index: index as u32, start_count, channel_count: channel_count as usize })
}

/// `CHANNEL_INFO(index)`: the description of this VM's channel number `index`.
pub fn channel_info(index: usize) -> Result<ChannelInfo, Status> {
    let mut record = [0u8; CHANNEL_INFO_SIZE];
    // The hypervisor writes the record into `record`, at its guest-physical
    // address (identity-mapped). The call is not `nomem`, so the compiler reads
    // the bytes after it.
    let x0 = hypercall(call::CHANNEL_INFO, [index as u64, record.as_mut_ptr() as u64, 0])[0];
    check(x0)?;
    Ok(ChannelInfo::from_bytes(&record))
}

/// `CHANNEL_NOTIFY(id)`: rings the doorbell of the other end of channel `id`.
/// [`Status::Unavailable`] means the peer is not running.
pub fn channel_notify(id: u32) -> Result<(), Status> {
    check(hypercall(call::CHANNEL_NOTIFY, [u64::from(id), 0, 0])[0]).map(|_| ())
}

/// `CONSOLE_WRITE`: writes `bytes` to the console, in calls of at most
/// [`CONSOLE_WRITE_MAX`] bytes. The hypervisor tags each line with the VM's
/// name. Returns the number of bytes written.
pub fn console_write(bytes: &[u8]) -> Result<usize, Status> {
    write_in_pieces(bytes, |piece| {
        hypercall(call::CONSOLE_WRITE, [piece.as_ptr() as u64, piece.len() as u64, 0])[0]
    })
}

/// Hands `bytes` to `write` in pieces of at most [`CONSOLE_WRITE_MAX`] bytes;
/// `write` returns `x0` of its call. Stops at the first error.
fn write_in_pieces(bytes: &[u8], mut write: impl FnMut(&[u8]) -> u64) -> Result<usize, Status> {
    let mut written = 0;
    for piece in bytes.chunks(CONSOLE_WRITE_MAX as usize) {
        written += check(write(piece))? as usize;
    }
    Ok(written)
}

/// `VM_STOP(code)`: stops this VM; `code` is one of
/// [`stop_code`](hypercall_abi::stop_code) (`FAILED` lets the hypervisor's
/// restart policy apply).
pub fn stop(code: u64) -> ! {
    hypercall(call::VM_STOP, [code, 0, 0]);
    // VM_STOP does not return; if it did, nothing is left to do but spin.
    loop {
        core::hint::spin_loop();
    }
}

/// Stops this VM as failed, so the hypervisor's restart policy applies.
pub fn stop_failed() -> ! {
    stop(stop_code::FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_results_are_statuses() {
        assert_eq!(check(0), Ok(0));
        assert_eq!(check(56), Ok(56));
        assert_eq!(check(Status::Denied.as_register()), Err(Status::Denied));
        assert_eq!(check(Status::Unavailable.as_register()), Err(Status::Unavailable));
        // A code this ABI does not know is still an error.
        assert_eq!(check(-77i64 as u64), Err(Status::NotSupported));
    }

    #[test]
    fn host_calls_answer_not_supported() {
        assert_eq!(machine_info(), Err(Status::NotSupported));
        assert_eq!(channel_info(0), Err(Status::NotSupported));
        assert_eq!(channel_notify(3), Err(Status::NotSupported));
    }

    #[test]
    fn console_writes_are_split_into_allowed_pieces() {
        let long = [b'x'; CONSOLE_WRITE_MAX as usize * 2 + 10];
        let mut pieces = Vec::new();
        let written = write_in_pieces(&long, |piece| {
            pieces.push(piece.len());
            piece.len() as u64
        });
        assert_eq!(written, Ok(long.len()));
        assert_eq!(pieces, [256, 256, 10]);
        assert_eq!(write_in_pieces(&[], |_| unreachable!("nothing to write")), Ok(0));
    }

    #[test]
    fn console_writes_stop_at_the_first_error() {
        let long = [b'x'; CONSOLE_WRITE_MAX as usize * 3];
        let mut calls = 0;
        let written = write_in_pieces(&long, |_| {
            calls += 1;
            Status::InvalidParameter.as_register()
        });
        assert_eq!(written, Err(Status::InvalidParameter));
        assert_eq!(calls, 1);
    }
}
