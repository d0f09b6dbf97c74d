//! Runs one WebAssembly dapp with wasmi under its manifest's limits and capabilities
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]
