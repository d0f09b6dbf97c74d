//! Hands the runtime's linker script to the VM binaries: to this package's
//! own `app` directly, and to `netvm` and `chainvm` through the `links`
//! metadata (`DEP_GUEST_RUNTIME_LINKER_SCRIPT`).

use std::path::PathBuf;

fn main() {
    let package = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let script = package.join("link.ld");
    println!("cargo::rerun-if-changed={}", script.display());
    println!("cargo::metadata=linker-script={}", script.display());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo::rustc-link-arg-bins=-T{}", script.display());
    }
}
