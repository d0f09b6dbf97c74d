//! The control protocol between the `elastos` command in Linux and the Elastos side, and the virtio-vsock stream endpoint that carries it
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]
