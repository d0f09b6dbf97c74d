//! Property tests: `Package::parse` and `Manifest::decode` on arbitrary and
//! mutated input never panic and never accept a modified package; every
//! valid manifest round-trips through its encoding.

mod common;

use common::{manifest, package, MODULE, SECRET};
use elastos_package::{
    pack, Approval, Capabilities, Limits, Manifest, Package, RestartPolicy, SignKeys, SignPolicy,
    Version, FORMAT_VERSION, MAGIC,
};
use proptest::prelude::*;

/// One change to a package's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Xor(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    Append(Vec<u8>),
    Splice(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set(at, value)),
        (any::<usize>(), 1..=255u8).prop_map(|(at, value)| Mutation::Xor(at, value)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Insert(at, value)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
        proptest::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Splice(at, bytes)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let length = bytes.len();
    match mutation {
        Mutation::Set(at, value) => bytes[at % length] = *value,
        Mutation::Xor(at, value) => bytes[at % length] ^= *value,
        Mutation::Insert(at, value) => bytes.insert(at % (length + 1), *value),
        Mutation::Remove(at) => {
            bytes.remove(at % length);
        }
        Mutation::Truncate(at) => bytes.truncate(at % length),
        Mutation::Append(tail) => bytes.extend_from_slice(tail),
        Mutation::Splice(at, replacement) => {
            let start = at % length;
            let end = (start + replacement.len()).min(length);
            bytes.splice(start..end, replacement.iter().copied());
        }
    }
}

fn sign_policy() -> impl Strategy<Value = Option<SignPolicy>> {
    proptest::option::of(
        (
            (any::<bool>(), any::<bool>()).prop_filter("a key", |(node, dapp)| *node || *dapp),
            proptest::collection::btree_set("[!-~]{1,32}", 1..=16),
            1..=6000u32,
            any::<bool>(),
        )
            .prop_map(|((node, dapp), kinds, per_minute, always)| SignPolicy {
                keys: SignKeys { node, dapp },
                payload_kinds: kinds.into_iter().collect(),
                per_minute,
                approval: if always { Approval::Always } else { Approval::Never },
            }),
    )
}

fn valid_manifest() -> impl Strategy<Value = Manifest> {
    let limits = (1..=1024u32, 1_000..=100_000_000u64, 0..=60_000u32, 0..=(256u64 << 20))
        .prop_flat_map(|(memory_pages, fuel_per_slice, messages_per_minute, storage_quota)| {
            (fuel_per_slice..=1_000_000_000_000u64, 0..=60_000u32).prop_map(
                move |(cpu_budget, storage_writes_per_minute)| Limits {
                    memory_pages,
                    fuel_per_slice,
                    cpu_budget,
                    messages_per_minute,
                    storage_quota,
                    storage_writes_per_minute,
                },
            )
        });
    let restart = prop_oneof![
        Just(RestartPolicy::Stop),
        proptest::option::of(1..=u32::MAX).prop_map(|limit| RestartPolicy::Restart { limit }),
    ];
    (
        "[a-z][a-z0-9-]{0,31}",
        any::<(u32, u32, u32)>(),
        "[^\\p{Cc}]{0,200}",
        any::<[u8; 32]>(),
        "[A-Za-z_][A-Za-z0-9_]{0,63}",
        restart,
        0..=0b11_1111u32,
        limits,
        sign_policy(),
    )
        .prop_map(
            |(
                name,
                (major, minor, patch),
                description,
                key,
                entry,
                restart,
                bits,
                limits,
                sign,
            )| {
                let mut capabilities =
                    Capabilities::from_bits(bits).expect("bits of the first six capabilities");
                if sign.is_some() {
                    capabilities = capabilities.with(elastos_package::Capability::Sign);
                }
                Manifest {
                    name,
                    version: Version::new(major, minor, patch),
                    description,
                    publisher: elastos_package::PublisherKey::from_bytes(key),
                    entry,
                    restart,
                    capabilities,
                    limits,
                    sign,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(Package::parse(&bytes).is_err());
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_are_refused(
        lengths in (0..512u32, 0..512u32),
        body in proptest::collection::vec(any::<u8>(), 160..1200),
    ) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&lengths.0.to_le_bytes());
        bytes.extend_from_slice(&lengths.1.to_le_bytes());
        bytes.extend_from_slice(&body);
        prop_assert!(Package::parse(&bytes).is_err());
    }

    #[test]
    fn mutated_packages_are_refused(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let original = package();
        let mut bytes = original.clone();
        for mutation in &mutations {
            if bytes.is_empty() {
                break;
            }
            apply(&mut bytes, mutation);
        }
        let result = Package::parse(&bytes);
        if bytes == original {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(result.is_err(), "a modified package was accepted");
        }
    }

    #[test]
    fn arbitrary_manifest_encodings_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(manifest) = Manifest::decode(&bytes) {
            prop_assert_eq!(manifest.encode().expect("a decoded manifest is valid"), bytes);
        }
    }

    #[test]
    fn mutated_manifest_encodings_decode_canonically(
        at in any::<usize>(),
        value in any::<u8>(),
    ) {
        let mut bytes = manifest().encode().expect("valid");
        let index = at % bytes.len();
        bytes[index] = value;
        if let Ok(decoded) = Manifest::decode(&bytes) {
            prop_assert_eq!(decoded.encode().expect("valid"), bytes);
        }
    }

    #[test]
    fn valid_manifests_round_trip(manifest in valid_manifest()) {
        prop_assert_eq!(manifest.validate(), Ok(()));
        let encoded = manifest.encode().expect("valid");
        prop_assert_eq!(Manifest::decode(&encoded), Ok(manifest));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn packages_of_valid_manifests_round_trip(
        manifest in valid_manifest(),
        extra in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let manifest = Manifest {
            publisher: elastos_package::PublisherKey::from_secret_key(&SECRET),
            ..manifest
        };
        let module = [MODULE, &extra].concat();
        let bytes = pack(&manifest, &module, &SECRET).expect("valid");
        let parsed = Package::parse(&bytes).expect("valid");
        prop_assert_eq!(parsed.manifest(), &manifest);
        prop_assert_eq!(parsed.module(), &module[..]);
    }
}
