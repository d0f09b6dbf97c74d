//! The compute example dapp: a deterministic CPU workload. It hashes a seed
//! with SHA-256 [`ROUNDS`] times over and logs
//! `compute: result=<hex> in <nanoseconds>ns`, then returns.
//!
//! The workload is a plain function, [`workload`], so a benchmark can run
//! it natively, and the module also exports it as
//! `compute_workload(rounds: i32) -> i64` (the first 8 bytes of the result,
//! little-endian) so wasmi can run it without the host API.
#![deny(unsafe_code)]

use elastos_sdk::{clock, info};
use sha2::{Digest, Sha256};

/// How many times the entry hashes.
pub const ROUNDS: u32 = 20_000;
/// What the first round hashes.
pub const SEED: &[u8] = b"elastos compute";

/// SHA-256 of `SEED`, then of that digest, `rounds` times in all (the seed
/// itself for 0 rounds is not a digest: 0 rounds gives all zeros).
pub fn workload(rounds: u32) -> [u8; 32] {
    let mut digest = [0u8; 32];
    for round in 0..rounds {
        let input: &[u8] = if round == 0 { SEED } else { &digest };
        digest = Sha256::digest(input).into();
    }
    digest
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// [`workload`] for wasmi: the first 8 bytes of the result.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn compute_workload(rounds: i32) -> i64 {
    let digest = workload(rounds.max(0) as u32);
    i64::from_le_bytes(digest[..8].try_into().expect("a digest has 32 bytes"))
}

fn main() {
    let start = clock::monotonic().unwrap_or_default();
    let result = workload(ROUNDS);
    let elapsed = clock::monotonic().unwrap_or_default().saturating_sub(start);
    info!("compute: result={} in {}ns", hex(&result), elapsed.as_nanos());
}

elastos_sdk::main!(main);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_chains_sha256() {
        assert_eq!(workload(0), [0; 32]);
        // SHA-256("elastos compute"), then of its digest.
        let first: [u8; 32] = Sha256::digest(SEED).into();
        assert_eq!(workload(1), first);
        let second: [u8; 32] = Sha256::digest(first).into();
        assert_eq!(workload(2), second);
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(compute_workload(2), i64::from_le_bytes(second[..8].try_into().unwrap()));
    }
}
