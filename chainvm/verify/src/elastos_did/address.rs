//! The DID of a key: an Elastos address of a P-256 public key.
//!
//! `base58(0x67 || ripemd160(sha256(0x21 || key || 0xAD)) || checksum)`, where
//! the key is the 33-byte compressed point and the checksum is the first four
//! bytes of `sha256(sha256(the first 21 bytes))`. `0x21 ... 0xAD` is the
//! single-signature redeem script (push 33 bytes, `CHECKSIG`), and `0x67` the
//! version byte of DID addresses (they all start with `i`).

use crate::encoding;
use alloc::string::String;
use alloc::vec::Vec;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// The method prefix of Elastos DIDs.
pub const METHOD_PREFIX: &str = "did:elastos:";
/// The version byte of DID addresses.
pub const DID_VERSION: u8 = 0x67;

/// The method-specific id of the normal DID of a compressed public key.
pub fn method_specific_id(public_key: &[u8; 33]) -> String {
    let mut script = Vec::with_capacity(35);
    script.push(0x21);
    script.extend_from_slice(public_key);
    script.push(0xad);
    let mut address = Vec::with_capacity(25);
    address.push(DID_VERSION);
    address.extend_from_slice(&Ripemd160::digest(Sha256::digest(&script)));
    let checksum = Sha256::digest(Sha256::digest(&address));
    address.extend_from_slice(&checksum[..4]);
    encoding::encode_base58(&address)
}

/// The normal DID (`did:elastos:i...`) of a compressed public key.
pub fn did_of_key(public_key: &[u8; 33]) -> String {
    let mut did = String::from(METHOD_PREFIX);
    did.push_str(&method_specific_id(public_key));
    did
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_user1s_did() {
        let key = encoding::decode_base58("vMYSz32qbWsNeDJpKsuuMaFsiApuZMz9XVy9DmEwysWg")
            .expect("valid base58");
        let key: [u8; 33] = key.try_into().expect("a compressed key");
        assert_eq!(did_of_key(&key), "did:elastos:iXcRhYB38gMt1phi5JXJMjeXL2TL8cg58y");
        let mut other = key;
        other[5] ^= 1;
        assert_ne!(did_of_key(&other), "did:elastos:iXcRhYB38gMt1phi5JXJMjeXL2TL8cg58y");
    }
}
