//! The app VM: runs the one dapp chainvm assigns it.
//!
//! At every start, and after each run, it tells chainvm it is idle. chainvm
//! answers with an assignment (the dapp's manifest, its module's length and
//! digest, a seed and the time) and the module in chunks
//! (`guest_runtime::supervision`); the VM checks the module against the
//! digest, loads it with the runtime (`elastos-dapp-runtime`, on wasmi) under
//! the manifest's capabilities and limits, registers the dapp's name with
//! netvm and runs it in slices of fuel between serving its channels: the
//! dapp's messages go to netvm (`guest_runtime::messaging`), its storage
//! requests to chainvm, its log lines to chainvm (and warnings and faults to
//! the console). When the dapp finishes or is stopped, the VM reports how,
//! forgets it and is idle again; the VM itself runs on.
//!
//! With word 0 of its parameter page set to 1, it measures its channels
//! instead ([`benchmark`]).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(target_os = "none"),
    allow(dead_code, reason = "on the host the program is built only for its unit tests")
)]

extern crate alloc;

/// The app VM's RAM, as the system manifests give it.
#[cfg(target_os = "none")]
const MEMORY_SIZE: u64 = 64 << 20;

#[cfg(target_os = "none")]
guest_runtime::entry!(main, memory_size = MEMORY_SIZE);

#[cfg(target_os = "none")]
mod benchmark;
mod run;

#[cfg(target_os = "none")]
fn main() -> ! {
    match guest_runtime::parameters::word(0) {
        benchmark::BENCHMARK => benchmark::run(),
        benchmark::HOST_CALL => benchmark::host_call(),
        _ => {}
    }
    guest_runtime::heap::init();
    guest_runtime::service::run(&mut run::AppVm::new())
}

/// Host stand-in: the app VM runs only inside an Elastos VM.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("app is an Elastos VM image: build it with --target aarch64-unknown-none-softfloat");
    std::process::exit(2);
}
