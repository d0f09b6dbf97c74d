//! The manifest's rules and its canonical encoding.

mod common;

use common::manifest;
use elastos_package::{
    Approval, Capabilities, Capability, DidKeyError, Field, Limits, Manifest, ManifestError,
    RestartPolicy, SignKeys, SignPolicy, Version,
};

fn sign_policy() -> SignPolicy {
    SignPolicy {
        keys: SignKeys { node: false, dapp: true },
        payload_kinds: vec!["message".into()],
        per_minute: 60,
        approval: Approval::Never,
    }
}

fn signing_manifest() -> Manifest {
    Manifest {
        capabilities: manifest().capabilities.with(Capability::Sign),
        sign: Some(sign_policy()),
        ..manifest()
    }
}

fn error_of(manifest: Manifest) -> ManifestError {
    manifest.validate().expect_err("the manifest breaks a rule")
}

#[test]
fn names_are_lowercase_words() {
    for good in ["a", "chat", "notes-2", "a-b-c", &"x".repeat(32)] {
        assert_eq!(Manifest { name: good.into(), ..manifest() }.validate(), Ok(()), "{good}");
    }
    let cases = [
        ("", ManifestError::Empty(Field::Name)),
        ("Chat", ManifestError::BadCharacter(Field::Name)),
        ("2chat", ManifestError::BadCharacter(Field::Name)),
        ("-chat", ManifestError::BadCharacter(Field::Name)),
        ("chat_room", ManifestError::BadCharacter(Field::Name)),
        ("chät", ManifestError::BadCharacter(Field::Name)),
    ];
    for (name, error) in cases {
        assert_eq!(error_of(Manifest { name: name.into(), ..manifest() }), error, "{name}");
    }
    assert_eq!(
        error_of(Manifest { name: "x".repeat(33), ..manifest() }),
        ManifestError::TooLong { field: Field::Name, maximum: 32 }
    );
}

#[test]
fn descriptions_are_short_and_printable() {
    let at_most = Manifest { description: "é".repeat(200), ..manifest() };
    assert_eq!(at_most.validate(), Ok(()));
    assert_eq!(
        error_of(Manifest { description: "é".repeat(201), ..manifest() }),
        ManifestError::TooLong { field: Field::Description, maximum: 200 }
    );
    // An escape sequence could rewrite the terminal of whoever lists dapps.
    assert_eq!(
        error_of(Manifest { description: "hi \u{1b}[2J".into(), ..manifest() }),
        ManifestError::BadCharacter(Field::Description)
    );
}

#[test]
fn entries_are_identifiers() {
    for good in ["elastos_main", "_start", "main2", "M"] {
        assert_eq!(Manifest { entry: good.into(), ..manifest() }.validate(), Ok(()), "{good}");
    }
    for bad in ["2main", "main-loop", "main loop", "mäin"] {
        assert_eq!(
            error_of(Manifest { entry: bad.into(), ..manifest() }),
            ManifestError::BadCharacter(Field::Entry),
            "{bad}"
        );
    }
    assert_eq!(
        error_of(Manifest { entry: String::new(), ..manifest() }),
        ManifestError::Empty(Field::Entry)
    );
    assert_eq!(
        error_of(Manifest { entry: "m".repeat(65), ..manifest() }),
        ManifestError::TooLong { field: Field::Entry, maximum: 64 }
    );
}

#[test]
fn a_restart_limit_is_at_least_one() {
    let zero = Manifest { restart: RestartPolicy::Restart { limit: Some(0) }, ..manifest() };
    assert_eq!(
        error_of(zero),
        ManifestError::BelowMinimum { field: Field::RestartLimit, value: 0, minimum: 1 }
    );
}

#[test]
fn limits_stay_within_the_format_bounds() {
    assert_eq!(Manifest { limits: Limits::MAXIMUM, ..manifest() }.validate(), Ok(()));
    let with = |limits: Limits| error_of(Manifest { limits, ..manifest() });
    assert_eq!(
        with(Limits { memory_pages: 5000, ..Limits::DEFAULT }),
        ManifestError::OverMaximum { field: Field::MemoryPages, value: 5000, maximum: 1024 }
    );
    assert_eq!(
        with(Limits { memory_pages: 0, ..Limits::DEFAULT }),
        ManifestError::BelowMinimum { field: Field::MemoryPages, value: 0, minimum: 1 }
    );
    assert_eq!(
        with(Limits { storage_quota: u64::MAX, ..Limits::DEFAULT }),
        ManifestError::OverMaximum {
            field: Field::StorageQuota,
            value: u64::MAX,
            maximum: 256 << 20
        }
    );
    assert_eq!(
        with(Limits { cpu_budget: 50_000, fuel_per_slice: 100_000, ..Limits::DEFAULT }),
        ManifestError::CpuBudgetBelowSlice
    );
    assert_eq!(
        error_of(Manifest {
            limits: Limits { memory_pages: 5000, ..Limits::DEFAULT },
            ..manifest()
        })
        .to_string(),
        "limits.memory-pages: 5000 is over the maximum 1024"
    );
}

#[test]
fn a_sign_policy_goes_with_the_sign_capability() {
    assert_eq!(signing_manifest().validate(), Ok(()));
    let without_capability = Manifest { sign: Some(sign_policy()), ..manifest() };
    assert_eq!(error_of(without_capability), ManifestError::SignWithoutCapability);
    let without_policy = Manifest { sign: None, ..signing_manifest() };
    assert_eq!(error_of(without_policy), ManifestError::CapabilityWithoutSign);
    let with_policy =
        |policy: SignPolicy| error_of(Manifest { sign: Some(policy), ..signing_manifest() });
    assert_eq!(
        with_policy(SignPolicy { keys: SignKeys::default(), ..sign_policy() }),
        ManifestError::Empty(Field::SignKeys)
    );
    assert_eq!(
        with_policy(SignPolicy { payload_kinds: vec![], ..sign_policy() }),
        ManifestError::Empty(Field::SignPayloadKinds)
    );
    assert_eq!(
        with_policy(SignPolicy { payload_kinds: vec!["a".into(), "a".into()], ..sign_policy() }),
        ManifestError::Duplicate(Field::SignPayloadKinds)
    );
    assert_eq!(
        with_policy(SignPolicy { payload_kinds: vec!["two words".into()], ..sign_policy() }),
        ManifestError::BadCharacter(Field::SignPayloadKinds)
    );
    let many = (0..17).map(|index| format!("kind{index}")).collect();
    assert_eq!(
        with_policy(SignPolicy { payload_kinds: many, ..sign_policy() }),
        ManifestError::TooMany { field: Field::SignPayloadKinds, maximum: 16 }
    );
    assert_eq!(
        with_policy(SignPolicy { per_minute: 0, ..sign_policy() }),
        ManifestError::BelowMinimum { field: Field::SignPerMinute, value: 0, minimum: 1 }
    );
    assert_eq!(
        with_policy(SignPolicy { per_minute: 6001, ..sign_policy() }),
        ManifestError::OverMaximum { field: Field::SignPerMinute, value: 6001, maximum: 6000 }
    );
}

#[test]
fn versions_are_three_plain_numbers() {
    assert_eq!(Version::parse("1.2.0"), Some(Version::new(1, 2, 0)));
    assert_eq!(Version::parse("0.0.0"), Some(Version::new(0, 0, 0)));
    assert_eq!(Version::parse("4294967295.0.10"), Some(Version::new(u32::MAX, 0, 10)));
    for bad in
        ["1.2", "1.2.0.0", "01.2.0", "1.2.0-beta", "+1.2.0", "1..0", "", "4294967296.0.0", "1. 2.0"]
    {
        assert_eq!(Version::parse(bad), None, "{bad}");
    }
    assert!(Version::new(1, 10, 0) > Version::new(1, 9, 9));
    assert!(Version::new(2, 0, 0) > Version::new(1, 99, 99));
    assert_eq!(Version::new(1, 2, 3).to_string(), "1.2.3");
}

#[test]
fn capabilities_are_named_as_in_dapp_toml() {
    let names: Vec<&str> = Capability::ALL.iter().map(|capability| capability.name()).collect();
    assert_eq!(names, ["log", "clock", "random", "message", "storage", "identity", "sign"]);
    for capability in Capability::ALL {
        assert_eq!(Capability::from_name(capability.name()), Some(capability));
    }
    assert_eq!(Capability::from_name("network"), None);
    let mut set = Capabilities::NONE;
    assert!(set.insert(Capability::Storage));
    assert!(!set.insert(Capability::Storage));
    assert_eq!(Capabilities::from_bits(set.bits()), Some(set));
    assert_eq!(Capabilities::from_bits(1 << 7), None);
}

/// The encoding of `manifest()` with its field `tag`'s value replaced.
fn with_field(tag: u8, value: &[u8]) -> Vec<u8> {
    let encoded = manifest().encode().expect("valid");
    let mut output = Vec::new();
    let mut rest = &encoded[..];
    while !rest.is_empty() {
        let length = usize::from(u16::from_le_bytes([rest[1], rest[2]]));
        let (field, after) = rest.split_at(3 + length);
        if field[0] == tag {
            output.push(tag);
            output.extend_from_slice(&(value.len() as u16).to_le_bytes());
            output.extend_from_slice(value);
        } else {
            output.extend_from_slice(field);
        }
        rest = after;
    }
    output
}

#[test]
fn the_encoding_is_strict() {
    let encoded = manifest().encode().expect("valid");
    assert_eq!(Manifest::decode(&encoded), Ok(manifest()));
    assert_eq!(Manifest::decode(&encoded[..encoded.len() - 1]), Err(ManifestError::Truncated));
    // Two fields swapped.
    let name_length = 3 + usize::from(encoded[1]);
    let mut swapped = encoded[name_length..].to_vec();
    let version_length = 3 + 12;
    swapped.splice(version_length..version_length, encoded[..name_length].iter().copied());
    assert_eq!(Manifest::decode(&swapped), Err(ManifestError::FieldOutOfOrder(1)));
    let mut repeated = encoded.clone();
    repeated.extend_from_slice(&encoded[..name_length]);
    assert_eq!(Manifest::decode(&repeated), Err(ManifestError::FieldOutOfOrder(1)));
    assert_eq!(
        Manifest::decode(&with_field(2, &[1, 0, 0, 0, 2, 0, 0, 0])),
        Err(ManifestError::FieldLength(Field::Version))
    );
    assert_eq!(Manifest::decode(&with_field(1, b"\xff")), Err(ManifestError::NotUtf8(Field::Name)));
    assert_eq!(
        Manifest::decode(&with_field(
            4,
            b"did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"
        )),
        Err(ManifestError::Publisher(DidKeyError::NotEd25519))
    );
    assert_eq!(
        Manifest::decode(&with_field(6, &[7])),
        Err(ManifestError::UnknownValue(Field::Restart))
    );
    assert_eq!(
        Manifest::decode(&with_field(7, &(1u32 << 9).to_le_bytes())),
        Err(ManifestError::UnknownValue(Field::Capabilities))
    );
    // A restart limit of 0 decodes but breaks a rule.
    assert_eq!(
        Manifest::decode(&with_field(6, &[2, 0, 0, 0, 0])),
        Err(ManifestError::BelowMinimum { field: Field::RestartLimit, value: 0, minimum: 1 })
    );
    // An empty description is written by leaving the field out.
    let mut empty_description = encoded[..name_length + version_length].to_vec();
    empty_description.extend_from_slice(&[3, 0, 0]);
    empty_description.extend_from_slice(&encoded[name_length + version_length..]);
    assert_eq!(Manifest::decode(&empty_description), Err(ManifestError::NotCanonical));
    let without_entry: Vec<u8> = {
        let entry = with_field(5, b"");
        let position = entry.windows(3).position(|window| window == [5, 0, 0]).expect("present");
        [&entry[..position], &entry[position + 3..]].concat()
    };
    assert_eq!(Manifest::decode(&without_entry), Err(ManifestError::Missing(Field::Entry)));
}
