//! p256 signatures.
