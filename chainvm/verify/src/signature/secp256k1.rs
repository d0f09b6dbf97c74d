//! secp256k1 ECDSA, as Ethereum uses it: verifying a signature over a
//! 32-byte hash with a known key, and recovering the signer's address from
//! `(r, s, v)`. Ethereum accepts only low-s signatures (EIP-2), so a high
//! `s` is refused.

use crate::evm::keccak256;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

/// Why a secp256k1 signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secp256k1Error {
    /// The public key is not a valid SEC1 point on the curve.
    InvalidPublicKey,
    /// `r` or `s` is zero or not below the curve order.
    MalformedSignature,
    /// `s` is above half the curve order (EIP-2).
    HighS,
    /// `v` is none of 0, 1, 27, 28, or `35 + 2 * chain_id + {0, 1}`
    /// (EIP-155).
    InvalidRecoveryId,
    /// The signature does not verify, or no key can be recovered from it.
    InvalidSignature,
}

/// Parses `r || s`, refusing zero, out-of-range and high-s values.
fn signature(r: &[u8; 32], s: &[u8; 32]) -> Result<Signature, Secp256k1Error> {
    let signature =
        Signature::from_scalars(*r, *s).map_err(|_| Secp256k1Error::MalformedSignature)?;
    if signature.normalize_s().is_some() {
        return Err(Secp256k1Error::HighS);
    }
    Ok(signature)
}

/// Verifies the signature `(r, s)` over the 32-byte `hash` by the SEC1
/// public key `public_key` (33 bytes compressed or 65 uncompressed).
pub fn verify_prehash(
    public_key: &[u8],
    hash: &[u8; 32],
    r: &[u8; 32],
    s: &[u8; 32],
) -> Result<(), Secp256k1Error> {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let key =
        VerifyingKey::from_sec1_bytes(public_key).map_err(|_| Secp256k1Error::InvalidPublicKey)?;
    key.verify_prehash(hash, &signature(r, s)?).map_err(|_| Secp256k1Error::InvalidSignature)
}

/// The y-parity (0 or 1) that `v` stands for: a typed transaction's
/// `yParity` (0, 1), a legacy `v` (27, 28) or an EIP-155 `v` (35 + 2 *
/// chain id + parity). `v` above 36 is taken as EIP-155.
pub fn parity_of(v: u64) -> Result<u8, Secp256k1Error> {
    match v {
        0 | 1 => Ok(v as u8),
        27 | 28 => Ok((v - 27) as u8),
        35.. => Ok(((v - 35) % 2) as u8),
        _ => Err(Secp256k1Error::InvalidRecoveryId),
    }
}

/// The Ethereum address of an uncompressed SEC1 key: the last 20 bytes of
/// `keccak256(x || y)`.
pub fn address_of(key: &VerifyingKey) -> [u8; 20] {
    let point = key.to_encoded_point(false);
    // An uncompressed point is 0x04 || x || y: 65 bytes.
    let hash = keccak256(&point.as_bytes()[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    address
}

/// Recovers the public key that signed `hash` with `(r, s, v)`.
pub fn recover_key(
    hash: &[u8; 32],
    r: &[u8; 32],
    s: &[u8; 32],
    v: u64,
) -> Result<VerifyingKey, Secp256k1Error> {
    let signature = signature(r, s)?;
    let parity = parity_of(v)?;
    let recovery = RecoveryId::from_byte(parity).ok_or(Secp256k1Error::InvalidRecoveryId)?;
    VerifyingKey::recover_from_prehash(hash, &signature, recovery)
        .map_err(|_| Secp256k1Error::InvalidSignature)
}

/// Recovers the address that signed `hash` with `(r, s, v)`.
pub fn recover_address(
    hash: &[u8; 32],
    r: &[u8; 32],
    s: &[u8; 32],
    v: u64,
) -> Result<[u8; 20], Secp256k1Error> {
    Ok(address_of(&recover_key(hash, r, s, v)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evm::rlp::{encode_bytes, encode_list, encode_quantity, encode_uint};
    use k256::ecdsa::SigningKey;

    fn hex32(text: &str) -> [u8; 32] {
        let bytes = crate::cometbft::json::hex(text, "test").expect("hex");
        bytes.try_into().expect("32 bytes")
    }

    /// The EIP-155 example transaction: nonce 9, gas price 20 gwei, gas
    /// 21000, to 0x3535...35, value 1 ether, chain id 1, signed with the
    /// key 0x4646...46.
    fn eip155_signing_hash() -> [u8; 32] {
        let fields = [
            encode_uint(9),
            encode_uint(20_000_000_000),
            encode_uint(21_000),
            encode_bytes(&[0x35; 20]),
            encode_quantity(&1_000_000_000_000_000_000u64.to_be_bytes()),
            encode_bytes(&[]),
            encode_uint(1),
            encode_uint(0),
            encode_uint(0),
        ];
        keccak256(&encode_list(&fields))
    }

    #[test]
    fn eip155_example_recovers_its_sender() {
        let hash = eip155_signing_hash();
        assert_eq!(hash, hex32("daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"));
        let r = hex32("28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276");
        let s = hex32("67cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83");
        let sender = recover_address(&hash, &r, &s, 37).expect("recoverable");
        let expected =
            crate::cometbft::json::hex("9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f", "test");
        assert_eq!(Ok(sender.to_vec()), expected);
        // The other parity recovers another key.
        assert_ne!(recover_address(&hash, &r, &s, 38).ok(), Some(sender));
        // The key 0x4646...46 is that sender.
        let key = SigningKey::from_bytes(&[0x46; 32].into()).expect("valid scalar");
        assert_eq!(address_of(key.verifying_key()), sender);
        let public = key.verifying_key().to_encoded_point(true);
        assert_eq!(verify_prehash(public.as_bytes(), &hash, &r, &s), Ok(()));
    }

    #[test]
    fn signatures_made_here_verify_and_recover() {
        let key = SigningKey::from_bytes(&[7u8; 32].into()).expect("valid scalar");
        let hash = keccak256(b"settlement");
        let (signature, recovery) = key.sign_prehash_recoverable(&hash).expect("signs");
        let bytes = signature.to_bytes();
        let (r, s): ([u8; 32], [u8; 32]) =
            (bytes[..32].try_into().expect("r"), bytes[32..].try_into().expect("s"));
        let public = key.verifying_key().to_encoded_point(false);
        assert_eq!(verify_prehash(public.as_bytes(), &hash, &r, &s), Ok(()));
        let v = 27 + u64::from(recovery.to_byte());
        assert_eq!(recover_address(&hash, &r, &s, v), Ok(address_of(key.verifying_key())));
        let other = keccak256(b"another message");
        assert_eq!(
            verify_prehash(public.as_bytes(), &other, &r, &s),
            Err(Secp256k1Error::InvalidSignature)
        );
    }

    #[test]
    fn high_s_and_bad_inputs_are_refused() {
        let hash = eip155_signing_hash();
        let r = hex32("28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276");
        let s = hex32("67cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83");
        // n - s: the same signature with high s, valid ECDSA but not for Ethereum.
        let high = Signature::from_scalars(r, s).expect("valid");
        let (_, low_s) = high.split_scalars();
        let negated = -*low_s.as_ref();
        let high_s: [u8; 32] = negated.to_bytes().into();
        assert_eq!(recover_address(&hash, &r, &high_s, 37), Err(Secp256k1Error::HighS));
        assert_eq!(
            recover_address(&hash, &[0; 32], &s, 37),
            Err(Secp256k1Error::MalformedSignature)
        );
        assert_eq!(recover_address(&hash, &r, &s, 29), Err(Secp256k1Error::InvalidRecoveryId));
        assert_eq!(verify_prehash(&[4; 65], &hash, &r, &s), Err(Secp256k1Error::InvalidPublicKey));
    }
}
