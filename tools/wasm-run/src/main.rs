//! `wasm-run`: the Linux side of `cargo xtask bench compute` and a timer for
//! `cargo xtask bench dapp-start`, built for `aarch64-unknown-linux-musl`
//! and carried by the benchmark's initramfs.
//!
//! - `wasm-run workload MODULE FUNCTION ARGUMENT` loads the module with
//!   wasmi configured as the app VM's runtime configures it (fuel metering,
//!   eager compilation, strict limits), links every import to a function
//!   that traps, calls `FUNCTION(ARGUMENT: i32) -> i64` and prints
//!   `wasm-run: workload result=R ticks=T frequency=F`, the ticks being the
//!   CPU's virtual counter (CNTVCT_EL0) around the call alone.
//! - `wasm-run time PROGRAM ARGUMENTS...` runs a program and prints
//!   `wasm-run: time status=S ticks=T frequency=F` for it, from spawn to
//!   exit.
//!
//! Under QEMU's `-icount shift=0` a counter tick is 16 guest instructions.

use std::path::PathBuf;
use std::process::ExitCode;
use wasmi::{CompilationMode, Config, EnforcedLimits, Engine, ExternType, Linker, Module, Store};

/// Fuel for the whole workload: the app VM meters fuel, so this side does
/// too, with more than any workload here needs.
const FUEL: u64 = u64::MAX / 2;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(
        "usage: wasm-run workload MODULE FUNCTION ARGUMENT | wasm-run time PROGRAM [ARGUMENTS...]"
    )]
    Usage,
    #[error("cannot read the module {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the argument {0} is not a 32-bit integer")]
    Argument(String),
    #[error("wasmi refused the module: {0}")]
    Module(wasmi::Error),
    #[error("the module cannot be instantiated: {0}")]
    Instantiate(wasmi::Error),
    #[error("the module has no function {0} of type (i32) -> i64")]
    NoFunction(String),
    #[error("the workload trapped: {0}")]
    Trap(wasmi::Error),
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
}

/// The virtual counter and its frequency in Hz.
#[cfg(target_arch = "aarch64")]
fn counter() -> (u64, u64) {
    let (ticks, frequency): (u64, u64);
    // SAFETY: reading CNTVCT_EL0 and CNTFRQ_EL0 has no side effect; Linux
    // lets user space read both (CNTKCTL_EL1.EL0VCTEN). The ISB keeps the
    // read from moving across the code it times.
    unsafe {
        core::arch::asm!(
            "isb",
            "mrs {ticks}, cntvct_el0",
            "mrs {frequency}, cntfrq_el0",
            ticks = out(reg) ticks,
            frequency = out(reg) frequency,
            options(nomem, nostack, preserves_flags),
        );
    }
    (ticks, frequency)
}

/// Elsewhere (the unit tests on the build machine): nanoseconds since the
/// first call, at 1 GHz.
#[cfg(not(target_arch = "aarch64"))]
fn counter() -> (u64, u64) {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    (START.get_or_init(Instant::now).elapsed().as_nanos() as u64, 1_000_000_000)
}

/// The result of one timed workload.
#[derive(Debug, PartialEq, Eq)]
struct Timed {
    result: i64,
    ticks: u64,
    frequency: u64,
}

/// Loads `module` as the app VM would, calls `function(argument)` and times
/// the call alone.
fn run_workload(module: &[u8], function: &str, argument: i32) -> Result<Timed, RunError> {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        .compilation_mode(CompilationMode::Eager)
        .enforced_limits(EnforcedLimits::strict())
        .allow_start_fn(false)
        .wasm_multi_memory(false);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, module).map_err(RunError::Module)?;
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::<()>::new(&engine);
    for import in module.imports() {
        if let ExternType::Func(ty) = import.ty() {
            let name = format!("{}.{}", import.module(), import.name());
            linker
                .func_new(import.module(), import.name(), ty.clone(), move |_, _, _| {
                    Err(wasmi::Error::new(format!("{name} called outside the app VM")))
                })
                .map_err(|error| RunError::Instantiate(error.into()))?;
        }
    }
    let instance =
        linker.instantiate_and_start(&mut store, &module).map_err(RunError::Instantiate)?;
    let workload = instance
        .get_typed_func::<i32, i64>(&store, function)
        .map_err(|_| RunError::NoFunction(function.into()))?;
    // Fuel metering is on (above), so setting fuel cannot fail.
    store.set_fuel(FUEL).map_err(RunError::Trap)?;
    let (start, frequency) = counter();
    let result = workload.call(&mut store, argument);
    let (end, _) = counter();
    Ok(Timed { result: result.map_err(RunError::Trap)?, ticks: end - start, frequency })
}

fn run(arguments: &[String]) -> Result<String, RunError> {
    match arguments {
        [command, module, function, argument] if command == "workload" => {
            let bytes = std::fs::read(module)
                .map_err(|source| RunError::Read { path: module.into(), source })?;
            let argument = argument.parse().map_err(|_| RunError::Argument(argument.clone()))?;
            let timed = run_workload(&bytes, function, argument)?;
            Ok(format!(
                "wasm-run: workload result={} ticks={} frequency={}",
                timed.result, timed.ticks, timed.frequency
            ))
        }
        [command, program, rest @ ..] if command == "time" => {
            let (start, frequency) = counter();
            let status = std::process::Command::new(program)
                .args(rest)
                .status()
                .map_err(|source| RunError::Spawn { program: program.clone(), source })?;
            let (end, _) = counter();
            Ok(format!(
                "wasm-run: time status={} ticks={} frequency={frequency}",
                status.code().unwrap_or(-1),
                end - start
            ))
        }
        _ => Err(RunError::Usage),
    }
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match run(&arguments) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("wasm-run: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module like a dapp: it imports a host function and exports a
    /// workload (the sum 1..=rounds).
    const MODULE: &str = r#"(module
        (import "elastos" "clock_monotonic" (func $clock (result i64)))
        (func (export "sum") (param $rounds i32) (result i64)
            (local $total i64)
            (block (loop
                (br_if 1 (i32.eqz (local.get $rounds)))
                (local.set $total (i64.add (local.get $total) (i64.extend_i32_u (local.get $rounds))))
                (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
                (br 0)))
            (local.get $total))
        (func (export "calls_host") (param i32) (result i64) (call $clock)))"#;

    #[test]
    fn runs_the_workload_with_imports_linked() {
        let module = wat::parse_str(MODULE).unwrap();
        let timed = run_workload(&module, "sum", 1000).unwrap();
        assert_eq!(timed.result, 500_500);
        assert_eq!(timed.frequency, 1_000_000_000);
    }

    #[test]
    fn a_host_call_traps_and_a_missing_function_is_named() {
        let module = wat::parse_str(MODULE).unwrap();
        assert!(matches!(run_workload(&module, "calls_host", 0), Err(RunError::Trap(_))));
        assert!(matches!(run_workload(&module, "absent", 0), Err(RunError::NoFunction(_))));
        assert!(matches!(run_workload(b"not wasm", "sum", 0), Err(RunError::Module(_))));
    }

    #[test]
    fn commands_are_read() {
        let words = |text: &str| text.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(matches!(run(&words("workload")), Err(RunError::Usage)));
        assert!(matches!(run(&words("workload /absent f 1")), Err(RunError::Read { .. })));
        let line = run(&words("time true")).unwrap();
        assert!(line.starts_with("wasm-run: time status=0 ticks="), "{line}");
        assert!(matches!(run(&words("time /absent/program")), Err(RunError::Spawn { .. })));
    }
}
