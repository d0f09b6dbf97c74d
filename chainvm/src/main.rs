//! The chain VM, as a skeleton: it boots on the guest runtime, lists its
//! channels and answers every ping with a pong, forever.
//!
//! Keys, light-client verification, DIDs and the signing service come later
//! (see the README).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
guest_runtime::entry!(main);

#[cfg(target_os = "none")]
fn main() -> ! {
    guest_runtime::service::run(&mut guest_runtime::service::AnswerPings)
}

/// Host stand-in: chainvm runs only inside an Elastos VM.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "chainvm is an Elastos VM image: build it with --target aarch64-unknown-none-softfloat"
    );
    std::process::exit(2);
}
