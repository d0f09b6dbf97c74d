//! Hands the runtime's linker script to the VM binaries built on it
//! (`app`, `netvm`, `chainvm`) through the `links`
//! metadata (`DEP_GUEST_RUNTIME_LINKER_SCRIPT`).

use std::path::PathBuf;

fn main() {
    let package = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let script = package.join("link.ld");
    println!("cargo::rerun-if-changed={}", script.display());
    println!("cargo::metadata=linker-script={}", script.display());
}
