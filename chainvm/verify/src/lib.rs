//! Verification of chain data, signatures and DIDs, without I/O: shared by chainvm and `cargo xtask chain check`
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]
