//! The dapp manifest: what a dapp is called, who publishes it, what it may
//! call and how much it may use. [`Manifest::validate`] holds every rule; the
//! host's packager and chainvm's verifier apply the same ones.

use crate::did_key::{DidKeyError, PublisherKey};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Longest dapp name, in characters.
pub const MAXIMUM_NAME_LENGTH: usize = 32;
/// Longest description, in characters.
pub const MAXIMUM_DESCRIPTION_LENGTH: usize = 200;
/// Longest entry function name, in characters.
pub const MAXIMUM_ENTRY_LENGTH: usize = 64;
/// Most payload kinds a sign policy may list.
pub const MAXIMUM_PAYLOAD_KINDS: usize = 16;
/// Longest payload kind, in characters.
pub const MAXIMUM_PAYLOAD_KIND_LENGTH: usize = 32;
/// The entry function when the manifest names none.
pub const DEFAULT_ENTRY: &str = "elastos_main";

/// A version, `MAJOR.MINOR.PATCH`; ordered as semantic versioning orders
/// release versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Incremented for incompatible changes.
    pub major: u32,
    /// Incremented for added features.
    pub minor: u32,
    /// Incremented for fixes.
    pub patch: u32,
}

impl Version {
    /// The version `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self { major, minor, patch }
    }

    /// Reads `MAJOR.MINOR.PATCH`: three decimal numbers without leading
    /// zeros (semantic versioning's rule), each below 2^32; nothing else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let mut number = || -> Option<u32> {
            let part = parts.next()?;
            let digits_only = !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
            if !digits_only || (part.len() > 1 && part.starts_with('0')) {
                return None;
            }
            part.parse().ok()
        };
        let version = Self::new(number()?, number()?, number()?);
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A part of the host API a dapp may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Capability {
    /// Write lines to the system log.
    Log = 0,
    /// Read the clock.
    Clock = 1,
    /// Draw random bytes.
    Random = 2,
    /// Send and receive peer-to-peer messages.
    Message = 3,
    /// Keep a key-value store.
    Storage = 4,
    /// Learn the node's and its own identity (DIDs).
    Identity = 5,
    /// Ask chainvm to sign, under the manifest's [`SignPolicy`].
    Sign = 6,
}

impl Capability {
    /// Every capability, in the order of their numbers.
    pub const ALL: [Capability; 7] = [
        Self::Log,
        Self::Clock,
        Self::Random,
        Self::Message,
        Self::Storage,
        Self::Identity,
        Self::Sign,
    ];

    /// The capability's name in `dapp.toml` (`"log"`, `"message"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Clock => "clock",
            Self::Random => "random",
            Self::Message => "message",
            Self::Storage => "storage",
            Self::Identity => "identity",
            Self::Sign => "sign",
        }
    }

    /// The capability called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|capability| capability.name() == name)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A set of capabilities.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u32);

impl Capabilities {
    /// No capability.
    pub const NONE: Self = Self(0);
    /// Every capability.
    pub const ALL: Self = Self((1 << Capability::ALL.len()) - 1);

    /// The set of `capabilities`.
    pub fn of(capabilities: &[Capability]) -> Self {
        capabilities.iter().fold(Self::NONE, |set, &capability| set.with(capability))
    }

    /// This set and `capability`.
    #[must_use]
    pub const fn with(self, capability: Capability) -> Self {
        Self(self.0 | capability.bit())
    }

    /// This set less `capability`.
    #[must_use]
    pub const fn without(self, capability: Capability) -> Self {
        Self(self.0 & !capability.bit())
    }

    /// Adds `capability`; false when it was already in the set.
    pub fn insert(&mut self, capability: Capability) -> bool {
        let added = !self.contains(capability);
        self.0 |= capability.bit();
        added
    }

    /// Whether `capability` is in the set.
    pub const fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// The capabilities in the set, in the order of their numbers.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |&capability| self.contains(capability))
    }

    /// The first capability of this set that `allowed` lacks.
    pub fn first_outside(self, allowed: Self) -> Option<Capability> {
        self.iter().find(|&capability| !allowed.contains(capability))
    }

    /// The set as bits: bit *n* for the capability numbered *n*.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The set whose bits are `bits`, or `None` if a bit names no capability.
    pub const fn from_bits(bits: u32) -> Option<Self> {
        if bits & !Self::ALL.0 == 0 {
            Some(Self(bits))
        } else {
            None
        }
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_set().entries(self.iter()).finish()
    }
}

/// What the runtime does when the dapp stops by a fault (a trap, or past its
/// CPU budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestartPolicy {
    /// Leave it stopped.
    Stop,
    /// Start it again, at most `limit` times if a limit is given.
    Restart {
        /// The most restarts (at least 1), or `None` for no limit.
        limit: Option<u32>,
    },
}

/// How much a dapp may use. Each field is checked against the format's
/// bounds ([`Limits::MINIMUM`], [`Limits::MAXIMUM`]) and, at install, the
/// system's own maxima.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest linear memory, in 64 KiB WebAssembly pages.
    pub memory_pages: u32,
    /// wasmi fuel the dapp runs before the runtime preempts it to serve its
    /// channels.
    pub fuel_per_slice: u64,
    /// Most fuel the dapp may burn between two waits for events; past it the
    /// dapp is stopped.
    pub cpu_budget: u64,
    /// Most messages sent per minute.
    pub messages_per_minute: u32,
    /// Most bytes of keys and values in its store.
    pub storage_quota: u64,
    /// Most store writes per minute.
    pub storage_writes_per_minute: u32,
}

impl Limits {
    /// The limits a manifest gets for fields it leaves out.
    pub const DEFAULT: Self = Self {
        memory_pages: 16,
        fuel_per_slice: 100_000,
        cpu_budget: 50_000_000,
        messages_per_minute: 600,
        storage_quota: 1 << 20,
        storage_writes_per_minute: 600,
    };

    /// The smallest value of each field any manifest may give.
    pub const MINIMUM: Self = Self {
        memory_pages: 1,
        fuel_per_slice: 1_000,
        cpu_budget: 1_000,
        messages_per_minute: 0,
        storage_quota: 0,
        storage_writes_per_minute: 0,
    };

    /// The largest value of each field any manifest may give.
    pub const MAXIMUM: Self = Self {
        memory_pages: 1024,
        fuel_per_slice: 100_000_000,
        cpu_budget: 1_000_000_000_000,
        messages_per_minute: 60_000,
        storage_quota: 256 << 20,
        storage_writes_per_minute: 60_000,
    };

    /// Each field with its name and value, for checks and messages.
    pub fn fields(&self) -> [(Field, u64); 6] {
        [
            (Field::MemoryPages, u64::from(self.memory_pages)),
            (Field::FuelPerSlice, self.fuel_per_slice),
            (Field::CpuBudget, self.cpu_budget),
            (Field::MessagesPerMinute, u64::from(self.messages_per_minute)),
            (Field::StorageQuota, self.storage_quota),
            (Field::StorageWritesPerMinute, u64::from(self.storage_writes_per_minute)),
        ]
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A key chainvm may sign with for a dapp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignKey {
    /// The node's own ed25519 identity key.
    Node,
    /// A key chainvm derives for this dapp alone.
    Dapp,
}

impl SignKey {
    /// The key's name in `dapp.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Node => "node",
            Self::Dapp => "dapp",
        }
    }

    /// The key called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Node, Self::Dapp].into_iter().find(|key| key.name() == name)
    }
}

impl fmt::Display for SignKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Which keys a dapp may have chainvm sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SignKeys {
    /// The node's key.
    pub node: bool,
    /// The dapp's derived key.
    pub dapp: bool,
}

impl SignKeys {
    /// Whether `key` is in the set.
    pub const fn contains(self, key: SignKey) -> bool {
        match key {
            SignKey::Node => self.node,
            SignKey::Dapp => self.dapp,
        }
    }

    /// Adds `key`; false when it was already in the set.
    pub fn insert(&mut self, key: SignKey) -> bool {
        let slot = match key {
            SignKey::Node => &mut self.node,
            SignKey::Dapp => &mut self.dapp,
        };
        !core::mem::replace(slot, true)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        !self.node && !self.dapp
    }
}

/// Whether a person approves each signing request in Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Approval {
    /// chainvm signs within the policy's rate without asking.
    Never,
    /// A person approves each request.
    Always,
}

impl Approval {
    /// The value's name in `dapp.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::Always => "always",
        }
    }
}

/// What a dapp with the `sign` capability may have signed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignPolicy {
    /// The keys it may use (at least one).
    pub keys: SignKeys,
    /// The labels its requests may carry (1 to 16 distinct, each 1 to 32
    /// printable ASCII characters without spaces).
    pub payload_kinds: Vec<String>,
    /// Most signatures per minute (1 to [`SignPolicy::MAXIMUM_PER_MINUTE`]).
    pub per_minute: u32,
    /// Whether each request needs a person's approval.
    pub approval: Approval,
}

impl SignPolicy {
    /// The most signatures per minute any manifest may ask for.
    pub const MAXIMUM_PER_MINUTE: u32 = 6_000;
    /// The rate when `dapp.toml` gives none.
    pub const DEFAULT_PER_MINUTE: u32 = 60;
}

/// A dapp's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Manifest {
    /// The dapp's name: 1 to 32 lowercase letters, digits and `-`, starting
    /// with a letter. Installed dapps are known by it.
    pub name: String,
    /// Its version; an update must be newer.
    pub version: Version,
    /// One line for people, at most 200 characters, no control characters;
    /// empty when there is none.
    pub description: String,
    /// The publisher's key; the package must be signed by it.
    pub publisher: PublisherKey,
    /// The exported function the runtime calls: 1 to 64 ASCII letters,
    /// digits and `_`, not starting with a digit.
    pub entry: String,
    /// What happens after a fault.
    pub restart: RestartPolicy,
    /// The host API it may call.
    pub capabilities: Capabilities,
    /// What it may use.
    pub limits: Limits,
    /// What it may have signed: present exactly when `capabilities` has
    /// [`Capability::Sign`].
    pub sign: Option<SignPolicy>,
}

/// A field of the manifest, named as in `dapp.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `dapp.name`
    Name,
    /// `dapp.version`
    Version,
    /// `dapp.description`
    Description,
    /// `dapp.publisher` (from the signing key)
    Publisher,
    /// `dapp.entry`
    Entry,
    /// `dapp.restart`
    Restart,
    /// `dapp.restart-limit`
    RestartLimit,
    /// `dapp.capabilities`
    Capabilities,
    /// `[limits]`
    Limits,
    /// `limits.memory-pages`
    MemoryPages,
    /// `limits.fuel-per-slice`
    FuelPerSlice,
    /// `limits.cpu-budget`
    CpuBudget,
    /// `limits.messages-per-minute`
    MessagesPerMinute,
    /// `limits.storage-quota`
    StorageQuota,
    /// `limits.storage-writes-per-minute`
    StorageWritesPerMinute,
    /// `[sign]`
    Sign,
    /// `sign.keys`
    SignKeys,
    /// `sign.payload-kinds`
    SignPayloadKinds,
    /// `sign.per-minute`
    SignPerMinute,
    /// `sign.approval`
    SignApproval,
}

impl Field {
    /// The field's name in `dapp.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Name => "dapp.name",
            Self::Version => "dapp.version",
            Self::Description => "dapp.description",
            Self::Publisher => "dapp.publisher",
            Self::Entry => "dapp.entry",
            Self::Restart => "dapp.restart",
            Self::RestartLimit => "dapp.restart-limit",
            Self::Capabilities => "dapp.capabilities",
            Self::Limits => "limits",
            Self::MemoryPages => "limits.memory-pages",
            Self::FuelPerSlice => "limits.fuel-per-slice",
            Self::CpuBudget => "limits.cpu-budget",
            Self::MessagesPerMinute => "limits.messages-per-minute",
            Self::StorageQuota => "limits.storage-quota",
            Self::StorageWritesPerMinute => "limits.storage-writes-per-minute",
            Self::Sign => "sign",
            Self::SignKeys => "sign.keys",
            Self::SignPayloadKinds => "sign.payload-kinds",
            Self::SignPerMinute => "sign.per-minute",
            Self::SignApproval => "sign.approval",
        }
    }

    /// What a text field may hold, for messages.
    const fn allowed_characters(self) -> &'static str {
        match self {
            Self::Name => "lowercase letters, digits and '-', starting with a letter",
            Self::Entry => "ASCII letters, digits and '_', not starting with a digit",
            Self::SignPayloadKinds => "printable ASCII characters without spaces",
            _ => "printable characters (no control characters)",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Why a manifest is refused: either its encoding inside a package is
/// malformed, or a value breaks a rule. The `Display` is one line naming the
/// field as `dapp.toml` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestError {
    /// The encoding ends inside a field.
    Truncated,
    /// A field tag no manifest of this format has.
    UnknownField(u8),
    /// A field tag repeats or comes after a later one.
    FieldOutOfOrder(u8),
    /// A field's length is wrong for its kind.
    FieldLength(Field),
    /// A required field is absent.
    Missing(Field),
    /// A text field is not UTF-8.
    NotUtf8(Field),
    /// A coded value (restart kind, capability bit, key bit, approval) is
    /// unknown.
    UnknownValue(Field),
    /// The encoding is not the one canonical encoding of its value.
    NotCanonical,
    /// A text or list that must not be empty is.
    Empty(Field),
    /// A text is longer than allowed.
    TooLong {
        /// The field.
        field: Field,
        /// The most characters allowed.
        maximum: usize,
    },
    /// A list has more entries than allowed.
    TooMany {
        /// The field.
        field: Field,
        /// The most entries allowed.
        maximum: usize,
    },
    /// A text holds a character its field does not allow.
    BadCharacter(Field),
    /// A number is below its field's minimum.
    BelowMinimum {
        /// The field.
        field: Field,
        /// The value given.
        value: u64,
        /// The smallest allowed.
        minimum: u64,
    },
    /// A number is over its field's maximum.
    OverMaximum {
        /// The field.
        field: Field,
        /// The value given.
        value: u64,
        /// The largest allowed.
        maximum: u64,
    },
    /// A list names the same entry twice.
    Duplicate(Field),
    /// The publisher is not an ed25519 `did:key`.
    Publisher(DidKeyError),
    /// A `[sign]` policy without the `sign` capability.
    SignWithoutCapability,
    /// The `sign` capability without a `[sign]` policy.
    CapabilityWithoutSign,
    /// `limits.cpu-budget` is smaller than one slice of fuel.
    CpuBudgetBelowSlice,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated => formatter.write_str("the manifest's encoding ends inside a field"),
            Self::UnknownField(tag) => write!(formatter, "the manifest has an unknown field {tag}"),
            Self::FieldOutOfOrder(tag) => {
                write!(formatter, "the manifest's field {tag} is repeated or out of order")
            }
            Self::FieldLength(field) => write!(formatter, "{field}: wrong length in the encoding"),
            Self::Missing(field) => write!(formatter, "{field}: missing"),
            Self::NotUtf8(field) => write!(formatter, "{field}: not UTF-8 text"),
            Self::UnknownValue(field) => write!(formatter, "{field}: unknown value"),
            Self::NotCanonical => {
                formatter.write_str("the manifest is not in its canonical encoding")
            }
            Self::Empty(field) => write!(formatter, "{field}: must not be empty"),
            Self::TooMany { field, maximum } => {
                write!(formatter, "{field}: more than {maximum} entries")
            }
            Self::TooLong { field, maximum } => {
                write!(formatter, "{field}: longer than {maximum} characters")
            }
            Self::BadCharacter(field) => {
                write!(formatter, "{field}: only {} are allowed", field.allowed_characters())
            }
            Self::BelowMinimum { field, value, minimum } => {
                write!(formatter, "{field}: {value} is under the minimum {minimum}")
            }
            Self::OverMaximum { field, value, maximum } => {
                write!(formatter, "{field}: {value} is over the maximum {maximum}")
            }
            Self::Duplicate(field) => write!(formatter, "{field}: an entry is listed twice"),
            Self::Publisher(error) => write!(formatter, "{}: {error}", Field::Publisher),
            Self::SignWithoutCapability => formatter.write_str(
                "sign: a [sign] table needs the \"sign\" capability in dapp.capabilities",
            ),
            Self::CapabilityWithoutSign => {
                formatter.write_str("dapp.capabilities: \"sign\" needs a [sign] table")
            }
            Self::CpuBudgetBelowSlice => {
                formatter.write_str("limits.cpu-budget: must be at least limits.fuel-per-slice")
            }
        }
    }
}

impl core::error::Error for ManifestError {}

impl Manifest {
    /// Checks every rule of the format (see each field's documentation).
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_text(Field::Name, &self.name, MAXIMUM_NAME_LENGTH, |index, character| {
            character.is_ascii_lowercase()
                || (index > 0 && (character.is_ascii_digit() || character == '-'))
        })?;
        if self.description.chars().count() > MAXIMUM_DESCRIPTION_LENGTH {
            return Err(ManifestError::TooLong {
                field: Field::Description,
                maximum: MAXIMUM_DESCRIPTION_LENGTH,
            });
        }
        if self.description.chars().any(char::is_control) {
            return Err(ManifestError::BadCharacter(Field::Description));
        }
        check_text(Field::Entry, &self.entry, MAXIMUM_ENTRY_LENGTH, |index, character| {
            character.is_ascii_alphabetic()
                || character == '_'
                || (index > 0 && character.is_ascii_digit())
        })?;
        if let RestartPolicy::Restart { limit: Some(0) } = self.restart {
            return Err(ManifestError::BelowMinimum {
                field: Field::RestartLimit,
                value: 0,
                minimum: 1,
            });
        }
        let minimum = Limits::MINIMUM.fields();
        let maximum = Limits::MAXIMUM.fields();
        for (index, (field, value)) in self.limits.fields().into_iter().enumerate() {
            if value < minimum[index].1 {
                return Err(ManifestError::BelowMinimum {
                    field,
                    value,
                    minimum: minimum[index].1,
                });
            }
            if value > maximum[index].1 {
                return Err(ManifestError::OverMaximum { field, value, maximum: maximum[index].1 });
            }
        }
        if self.limits.cpu_budget < self.limits.fuel_per_slice {
            return Err(ManifestError::CpuBudgetBelowSlice);
        }
        match (&self.sign, self.capabilities.contains(Capability::Sign)) {
            (Some(_), false) => return Err(ManifestError::SignWithoutCapability),
            (None, true) => return Err(ManifestError::CapabilityWithoutSign),
            (Some(policy), true) => validate_sign_policy(policy)?,
            (None, false) => {}
        }
        Ok(())
    }
}

fn validate_sign_policy(policy: &SignPolicy) -> Result<(), ManifestError> {
    if policy.keys.is_empty() {
        return Err(ManifestError::Empty(Field::SignKeys));
    }
    if policy.payload_kinds.is_empty() {
        return Err(ManifestError::Empty(Field::SignPayloadKinds));
    }
    if policy.payload_kinds.len() > MAXIMUM_PAYLOAD_KINDS {
        return Err(ManifestError::TooMany {
            field: Field::SignPayloadKinds,
            maximum: MAXIMUM_PAYLOAD_KINDS,
        });
    }
    for (index, kind) in policy.payload_kinds.iter().enumerate() {
        check_text(Field::SignPayloadKinds, kind, MAXIMUM_PAYLOAD_KIND_LENGTH, |_, character| {
            character.is_ascii_graphic()
        })?;
        if policy.payload_kinds[..index].contains(kind) {
            return Err(ManifestError::Duplicate(Field::SignPayloadKinds));
        }
    }
    if policy.per_minute == 0 {
        return Err(ManifestError::BelowMinimum {
            field: Field::SignPerMinute,
            value: 0,
            minimum: 1,
        });
    }
    if policy.per_minute > SignPolicy::MAXIMUM_PER_MINUTE {
        return Err(ManifestError::OverMaximum {
            field: Field::SignPerMinute,
            value: u64::from(policy.per_minute),
            maximum: u64::from(SignPolicy::MAXIMUM_PER_MINUTE),
        });
    }
    Ok(())
}

/// Checks a text of 1 to `maximum` characters, each allowed by
/// `allowed(index, character)`.
fn check_text(
    field: Field,
    text: &str,
    maximum: usize,
    allowed: impl Fn(usize, char) -> bool,
) -> Result<(), ManifestError> {
    if text.is_empty() {
        return Err(ManifestError::Empty(field));
    }
    if text.chars().count() > maximum {
        return Err(ManifestError::TooLong { field, maximum });
    }
    if !text.chars().enumerate().all(|(index, character)| allowed(index, character)) {
        return Err(ManifestError::BadCharacter(field));
    }
    Ok(())
}
