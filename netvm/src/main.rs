//! The network VM, as a skeleton: it boots on the guest runtime, lists its
//! channels and answers every ping with a pong, forever.
//!
//! The NIC driver, the network stack, the libp2p node and the virtio-net
//! backend for Linux come later (see the README).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

/// netvm's RAM: 32 MiB, as the system manifests give it.
#[cfg(target_os = "none")]
const MEMORY_SIZE: u64 = 32 << 20;

#[cfg(target_os = "none")]
guest_runtime::entry!(main, memory_size = MEMORY_SIZE);

#[cfg(target_os = "none")]
fn main() -> ! {
    guest_runtime::service::run(&mut guest_runtime::service::AnswerPings)
}

/// Host stand-in: netvm runs only inside an Elastos VM.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "netvm is an Elastos VM image: build it with --target aarch64-unknown-none-softfloat"
    );
    std::process::exit(2);
}
