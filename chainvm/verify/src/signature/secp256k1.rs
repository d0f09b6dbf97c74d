//! secp256k1 signatures.
