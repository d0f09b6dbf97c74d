//! Opening the vsock stream socket to the Elastos side.
//!
//! std has no vsock sockets, so the socket is made with `libc` and then
//! handed to std as a [`UnixStream`]: every method used on it (read, write,
//! timeouts, shutdown) is a plain socket call that works the same on any
//! stream socket; the address methods are never called.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// `AF_VSOCK` from Linux's `include/linux/socket.h` (musl's headers, and so
/// the `libc` crate for musl, do not name it).
const AF_VSOCK: libc::c_int = 40;

/// `SO_VM_SOCKETS_CONNECT_TIMEOUT` (the `struct timeval` form) from
/// `include/uapi/linux/vm_sockets.h`; its level is `AF_VSOCK`.
const SO_VM_SOCKETS_CONNECT_TIMEOUT: libc::c_int = 6;

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Connects a vsock stream to `cid`:`port`, giving up after `timeout`, and
/// sets `timeout` for every read and write after it.
pub fn connect(cid: u32, port: u32, timeout: Duration) -> io::Result<UnixStream> {
    // SAFETY: socket() takes no pointers; its result is checked below.
    let descriptor =
        check(unsafe { libc::socket(AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `descriptor` is a socket this function just opened and owns
    // alone; OwnedFd closes it on every path from here.
    let socket = unsafe { OwnedFd::from_raw_fd(descriptor) };
    let limit = libc::timeval { tv_sec: timeout.as_secs().min(i32::MAX as u64) as _, tv_usec: 0 };
    // SAFETY: the option value points at `limit`, which lives across the
    // call, with its exact size.
    check(unsafe {
        libc::setsockopt(
            descriptor,
            AF_VSOCK,
            SO_VM_SOCKETS_CONNECT_TIMEOUT,
            (&limit as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    let address = libc::sockaddr_vm {
        svm_family: AF_VSOCK as libc::sa_family_t,
        svm_reserved1: 0,
        svm_port: port,
        svm_cid: cid,
        svm_zero: [0; 4],
    };
    // SAFETY: the address points at `address`, which lives across the call,
    // with its exact size.
    check(unsafe {
        libc::connect(
            descriptor,
            (&address as *const libc::sockaddr_vm).cast(),
            std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t,
        )
    })?;
    let stream = UnixStream::from(socket);
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}
