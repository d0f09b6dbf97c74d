//! The Elastos side's crash-safe key-value store on a block device
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]
