//! Links the VM image with the guest runtime's linker script, which the
//! runtime's build script names (`links = "guest-runtime"`).

fn main() {
    let script = std::env::var("DEP_GUEST_RUNTIME_LINKER_SCRIPT")
        .expect("guest-runtime's build script names its linker script");
    println!("cargo::rerun-if-env-changed=DEP_GUEST_RUNTIME_LINKER_SCRIPT");
    println!("cargo::rerun-if-changed={script}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo::rustc-link-arg-bins=-T{script}");
    }
}
