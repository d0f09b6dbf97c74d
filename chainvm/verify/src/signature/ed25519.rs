//! ed25519 signatures.
