//! The chain VM's library: everything chainvm is made of but its entry.
//!
//! chainvm keeps the Elastos side's state and decides what runs:
//!
//! - [`registry`]: the installed dapps and their storage, in the crash-safe
//!   store (`elastos-store`) on the disk only chainvm owns; packages are
//!   verified here (`elastos-package`) before anything is written.
//! - [`supervisor`]: the app VM slots, which dapp runs where, the module
//!   transfer, restarts after faults and the dapps' log lines.
//! - [`control`]: the answers to the `elastos` command in Linux, which
//!   reaches chainvm over virtio-vsock (`elastos-control`).
//! - [`storage`]: the dapps' storage requests, within their quotas.
//! - [`keys`]: the node's ed25519 key, kept in the store, and the keys it
//!   derives for dapps; nothing secret leaves chainvm.
//! - [`signing`]: the dapps' signing requests under their manifests'
//!   policies, approvals from Linux, and the audit log.
//!
//! The pure parts build and test on the host (`cargo test -p chainvm`); the
//! devices and the serving loop are in `main.rs`.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod control;
pub mod keys;
pub mod registry;
pub mod signing;
pub mod storage;
pub mod supervisor;
