//! Signature schemes: ed25519, ECDSA P-256 and secp256k1.

pub mod ed25519;
pub mod p256;
pub mod secp256k1;
