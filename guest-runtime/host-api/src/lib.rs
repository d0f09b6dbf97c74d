//! The host API dapps import: function names, signatures, status codes and capabilities, shared by the runtime and the SDK
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]
