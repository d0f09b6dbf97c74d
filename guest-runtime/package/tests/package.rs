//! Packing and parsing packages: the round trip, each refusal, every byte
//! flip and every truncation of a small package.

mod common;

use common::{assemble, manifest, manifest_for, package, MODULE, OTHER_SECRET, SECRET};
use elastos_package::{
    pack, Approval, Capabilities, Capability, Field, Installed, Limits, Manifest, ManifestError,
    Package, PackageError, PublisherKey, Refusal, RestartPolicy, SignKey, SignKeys, SignPolicy,
    SystemPolicy, Version, HEADER_SIZE, MAXIMUM_MODULE_SIZE, MAXIMUM_PACKAGE_SIZE,
};
use sha2::{Digest, Sha256};

/// A manifest with every optional part present.
fn full_manifest() -> Manifest {
    Manifest {
        description: "Chat with peers — über alles".into(),
        restart: RestartPolicy::Restart { limit: Some(3) },
        capabilities: Capabilities::ALL,
        sign: Some(SignPolicy {
            keys: SignKeys { node: true, dapp: true },
            payload_kinds: vec!["message".into(), "vote.v1".into()],
            per_minute: 60,
            approval: Approval::Always,
        }),
        ..manifest()
    }
}

#[test]
fn a_packed_package_parses_back() {
    let bytes = package();
    let parsed = Package::parse(&bytes).expect("a packed package is valid");
    assert_eq!(parsed.manifest(), &manifest());
    assert_eq!(parsed.module(), MODULE);
    assert_eq!(parsed.publisher(), PublisherKey::from_secret_key(&SECRET));
    assert_eq!(parsed.module_digest(), <[u8; 32]>::from(Sha256::digest(MODULE)));
    assert_eq!(parsed.manifest_digest(), <[u8; 32]>::from(Sha256::digest(parsed.manifest_bytes())));
    assert_eq!(parsed.digest(), <[u8; 32]>::from(Sha256::digest(&bytes)));
    assert_eq!(parsed.bytes().len(), HEADER_SIZE + parsed.manifest_bytes().len() + MODULE.len());
    // Signing is deterministic.
    assert_eq!(package(), bytes);
}

#[test]
fn a_manifest_with_every_field_round_trips() {
    let manifest = full_manifest();
    let bytes = pack(&manifest, MODULE, &SECRET).expect("valid");
    let parsed = Package::parse(&bytes).expect("valid");
    assert_eq!(parsed.manifest(), &manifest);
    assert_eq!(parsed.manifest().encode().expect("valid"), parsed.manifest_bytes());
    for restart in [RestartPolicy::Stop, RestartPolicy::Restart { limit: None }] {
        let manifest = Manifest { restart, ..full_manifest() };
        let encoded = manifest.encode().expect("valid");
        assert_eq!(Manifest::decode(&encoded), Ok(manifest));
    }
}

#[test]
fn pack_refuses_what_parse_would_refuse() {
    let other = manifest_for(&OTHER_SECRET);
    assert_eq!(pack(&other, MODULE, &SECRET), Err(PackageError::SignerNotPublisher));
    assert_eq!(pack(&manifest(), b"not wasm", &SECRET), Err(PackageError::ModuleNotWasm));
    let mut huge = MODULE.to_vec();
    huge.resize(MAXIMUM_MODULE_SIZE + 1, 0);
    assert_eq!(pack(&manifest(), &huge, &SECRET), Err(PackageError::ModuleTooLarge));
    let unnamed = Manifest { name: String::new(), ..manifest() };
    assert_eq!(
        pack(&unnamed, MODULE, &SECRET),
        Err(PackageError::Manifest(ManifestError::Empty(Field::Name)))
    );
}

/// The package with `edit` applied to its bytes.
fn edited(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = package();
    edit(&mut bytes);
    bytes
}

fn parse_error(bytes: &[u8]) -> PackageError {
    Package::parse(bytes).expect_err("the package must be refused")
}

#[test]
fn each_kind_of_damage_has_its_own_error() {
    let manifest_length = manifest().encode().expect("valid").len();
    let mut oversized = package();
    oversized.resize(MAXIMUM_PACKAGE_SIZE + 1, 0);
    assert_eq!(parse_error(&oversized), PackageError::TooLarge);
    assert_eq!(parse_error(b"\x7fELF\x02\x01\x01"), PackageError::NotAPackage);
    assert_eq!(parse_error(&edited(|bytes| bytes[0] = b'X')), PackageError::NotAPackage);
    assert_eq!(
        parse_error(&edited(|bytes| bytes.truncate(bytes.len() - 1))),
        PackageError::Truncated
    );
    assert_eq!(parse_error(&edited(|bytes| bytes.push(0))), PackageError::TrailingBytes);
    assert_eq!(parse_error(&edited(|bytes| bytes[8] = 2)), PackageError::UnsupportedVersion(2));
    assert_eq!(parse_error(&edited(|bytes| bytes[11] = 0x80)), PackageError::UnknownFlags(0x8000));
    assert_eq!(
        parse_error(&edited(|bytes| bytes[12..16].copy_from_slice(&(1u32 << 20).to_le_bytes()))),
        PackageError::ManifestTooLarge
    );
    assert_eq!(
        parse_error(&edited(|bytes| bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes()))),
        PackageError::ModuleTooLarge
    );
    assert_eq!(parse_error(&edited(|bytes| bytes[116..180].fill(0))), PackageError::Unsigned);
    assert_eq!(
        parse_error(&edited(|bytes| bytes[HEADER_SIZE] ^= 1)),
        PackageError::ManifestModified
    );
    let module_start = HEADER_SIZE + manifest_length;
    assert_eq!(
        parse_error(&edited(|bytes| bytes[module_start + 9] ^= 1)),
        PackageError::ModuleModified
    );
    assert_eq!(parse_error(&edited(|bytes| bytes[150] ^= 4)), PackageError::BadSignature);
    assert_eq!(parse_error(&edited(|bytes| bytes[60] ^= 4)), PackageError::ManifestModified);
    assert_eq!(parse_error(&edited(|bytes| bytes[90] ^= 4)), PackageError::ModuleModified);
}

#[test]
fn a_key_that_is_no_curve_point_is_refused_as_such() {
    let not_a_point = (0u8..=255)
        .map(|byte| [byte; 32])
        .find(|candidate| ed25519_dalek::VerifyingKey::from_bytes(candidate).is_err())
        .expect("some repeated byte is no point's encoding");
    let bytes = edited(|bytes| bytes[20..52].copy_from_slice(&not_a_point));
    assert_eq!(parse_error(&bytes), PackageError::InvalidPublicKey);
}

#[test]
fn a_package_re_signed_by_another_key_is_refused() {
    // The same manifest and module, signed by someone else who put their own
    // key in the header: the signature is fine, the publisher is not theirs.
    let manifest_bytes = manifest().encode().expect("valid");
    let re_signed = assemble(&manifest_bytes, MODULE, &OTHER_SECRET);
    assert_eq!(parse_error(&re_signed), PackageError::SignerNotPublisher);
    // Their signature under the original key does not verify.
    let mut swapped = package();
    swapped[116..180].copy_from_slice(&re_signed[116..180]);
    assert_eq!(parse_error(&swapped), PackageError::BadSignature);
}

#[test]
fn a_signed_but_malformed_manifest_or_module_is_refused() {
    let mut manifest_bytes = manifest().encode().expect("valid");
    manifest_bytes.extend_from_slice(&[42, 0, 0]);
    assert_eq!(
        parse_error(&assemble(&manifest_bytes, MODULE, &SECRET)),
        PackageError::Manifest(ManifestError::UnknownField(42))
    );
    let valid = manifest().encode().expect("valid");
    assert_eq!(
        parse_error(&assemble(&valid, b"\0asm\x02\0\0\0", &SECRET)),
        PackageError::ModuleNotWasm
    );
    assert_eq!(parse_error(&assemble(&valid, b"", &SECRET)), PackageError::ModuleNotWasm);
    assert_eq!(
        parse_error(&assemble(b"", MODULE, &SECRET)),
        PackageError::Manifest(ManifestError::Missing(Field::Name))
    );
    assert!(Package::parse(&assemble(&valid, MODULE, &SECRET)).is_ok());
}

#[test]
fn every_single_byte_change_is_refused() {
    let original = package();
    let mut copy = original.clone();
    for index in 0..original.len() {
        for value in 0..=255u8 {
            if value == original[index] {
                continue;
            }
            copy[index] = value;
            let result = Package::parse(&copy);
            assert!(result.is_err(), "byte {index} set to {value:#04x} was accepted");
        }
        copy[index] = original[index];
    }
}

#[test]
fn every_truncation_is_refused() {
    let original = package();
    for length in 0..original.len() {
        assert_eq!(
            Package::parse(&original[..length]).map(|_| ()),
            Err(PackageError::Truncated),
            "{length} bytes"
        );
    }
}

#[test]
fn every_error_reads_as_one_line() {
    let errors = [
        PackageError::TooLarge,
        PackageError::NotAPackage,
        PackageError::Truncated,
        PackageError::TrailingBytes,
        PackageError::UnsupportedVersion(7),
        PackageError::UnknownFlags(1),
        PackageError::ManifestTooLarge,
        PackageError::ModuleTooLarge,
        PackageError::Unsigned,
        PackageError::ManifestModified,
        PackageError::ModuleModified,
        PackageError::InvalidPublicKey,
        PackageError::BadSignature,
        PackageError::SignerNotPublisher,
        PackageError::Manifest(ManifestError::OverMaximum {
            field: Field::MemoryPages,
            value: 5000,
            maximum: 1024,
        }),
        PackageError::ModuleNotWasm,
    ];
    let mut lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for line in &lines {
        assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
    }
    assert!(lines[14].ends_with("limits.memory-pages: 5000 is over the maximum 1024"));
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), errors.len(), "two errors read the same");
}

fn installed(version: Version) -> Installed {
    Installed { publisher: PublisherKey::from_secret_key(&SECRET), version }
}

#[test]
fn installs_and_updates_are_checked() {
    let bytes = package();
    let parsed = Package::parse(&bytes).expect("valid");
    let policy = SystemPolicy::FORMAT_MAXIMA;
    assert_eq!(parsed.check_install(None, &policy), Ok(()));
    assert_eq!(parsed.check_install(Some(&installed(Version::new(1, 1, 9))), &policy), Ok(()));
    assert_eq!(
        parsed.check_install(Some(&installed(Version::new(1, 2, 0))), &policy),
        Err(Refusal::SameVersion(Version::new(1, 2, 0)))
    );
    assert_eq!(
        parsed.check_install(Some(&installed(Version::new(1, 10, 0))), &policy),
        Err(Refusal::Downgrade {
            installed: Version::new(1, 10, 0),
            offered: Version::new(1, 2, 0)
        })
    );
    let by_other = Installed {
        publisher: PublisherKey::from_secret_key(&OTHER_SECRET),
        version: Version::new(0, 1, 0),
    };
    assert_eq!(parsed.check_install(Some(&by_other), &policy), Err(Refusal::PublisherChanged));
    let no_messages =
        SystemPolicy { capabilities: Capabilities::ALL.without(Capability::Message), ..policy };
    assert_eq!(
        parsed.check_install(None, &no_messages),
        Err(Refusal::CapabilityNotAllowed(Capability::Message))
    );
    let small = SystemPolicy { limits: Limits { memory_pages: 8, ..Limits::MAXIMUM }, ..policy };
    assert_eq!(
        parsed.check_install(None, &small),
        Err(Refusal::LimitOverMaximum { field: Field::MemoryPages, value: 16, maximum: 8 })
    );
}

#[test]
fn signing_policies_are_checked_at_install() {
    let mut manifest = full_manifest();
    let policy = SystemPolicy::FORMAT_MAXIMA;
    assert_eq!(manifest.check_install(None, &policy), Ok(()));
    let dapp_keys_only = SystemPolicy { sign_keys: SignKeys { node: false, dapp: true }, ..policy };
    assert_eq!(
        manifest.check_install(None, &dapp_keys_only),
        Err(Refusal::SignKeyNotAllowed(SignKey::Node))
    );
    let slow = SystemPolicy { sign_per_minute: 10, ..policy };
    assert_eq!(
        manifest.check_install(None, &slow),
        Err(Refusal::LimitOverMaximum { field: Field::SignPerMinute, value: 60, maximum: 10 })
    );
    let attended = SystemPolicy { unattended_signing: false, ..policy };
    assert_eq!(manifest.check_install(None, &attended), Ok(()));
    if let Some(sign) = &mut manifest.sign {
        sign.approval = Approval::Never;
    }
    assert_eq!(manifest.check_install(None, &attended), Err(Refusal::ApprovalRequired));
}

#[test]
fn refusals_read_as_one_line() {
    let refusals = [
        Refusal::PublisherChanged,
        Refusal::Downgrade { installed: Version::new(2, 0, 0), offered: Version::new(1, 0, 0) },
        Refusal::SameVersion(Version::new(1, 0, 0)),
        Refusal::CapabilityNotAllowed(Capability::Sign),
        Refusal::LimitOverMaximum { field: Field::CpuBudget, value: 9, maximum: 8 },
        Refusal::SignKeyNotAllowed(SignKey::Node),
        Refusal::ApprovalRequired,
    ];
    for refusal in refusals {
        let line = refusal.to_string();
        assert!(line.starts_with("refused: ") && !line.contains('\n'), "{line:?}");
    }
    assert_eq!(
        refusals[1].to_string(),
        "refused: version 1.0.0 is older than the installed version 2.0.0"
    );
}
