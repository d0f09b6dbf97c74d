//! The dapp package format: manifest, module, digests and signature; building, signing and verifying
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]
