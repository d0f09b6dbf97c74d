//! The install and update check: may a verified package replace what is
//! installed under its name, within what the system allows?

use crate::did_key::PublisherKey;
use crate::manifest::{
    Approval, Capabilities, Capability, Field, Limits, Manifest, SignKey, SignKeys, SignPolicy,
    Version,
};
use core::fmt;

/// What is installed under a package's name now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    /// The publisher of the installed package.
    pub publisher: PublisherKey,
    /// Its version.
    pub version: Version,
}

/// What the system lets any dapp have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemPolicy {
    /// The capabilities a dapp may be granted.
    pub capabilities: Capabilities,
    /// The most of each limit a dapp may ask for.
    pub limits: Limits,
    /// The keys a dapp may have chainvm sign with.
    pub sign_keys: SignKeys,
    /// The most signatures per minute.
    pub sign_per_minute: u32,
    /// Whether a dapp may have chainvm sign without a person's approval.
    pub unattended_signing: bool,
}

impl SystemPolicy {
    /// Everything the package format itself allows.
    pub const FORMAT_MAXIMA: Self = Self {
        capabilities: Capabilities::ALL,
        limits: Limits::MAXIMUM,
        sign_keys: SignKeys { node: true, dapp: true },
        sign_per_minute: SignPolicy::MAXIMUM_PER_MINUTE,
        unattended_signing: true,
    };
}

/// Why a verified package may not be installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The installed dapp of this name has another publisher.
    PublisherChanged,
    /// The package is older than the installed version.
    Downgrade {
        /// The installed version.
        installed: Version,
        /// The package's version.
        offered: Version,
    },
    /// The package's version is the installed one.
    SameVersion(Version),
    /// The package asks for a capability the system does not grant.
    CapabilityNotAllowed(Capability),
    /// The package asks for more than the system allows.
    LimitOverMaximum {
        /// The limit.
        field: Field,
        /// What the package asks for.
        value: u64,
        /// The system's maximum.
        maximum: u64,
    },
    /// The package asks to sign with a key the system does not lend dapps.
    SignKeyNotAllowed(SignKey),
    /// The package asks to sign without approval, which the system requires.
    ApprovalRequired,
}

impl fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::PublisherChanged => formatter
                .write_str("refused: the installed dapp of this name is from another publisher"),
            Self::Downgrade { installed, offered } => write!(
                formatter,
                "refused: version {offered} is older than the installed version {installed}"
            ),
            Self::SameVersion(version) => {
                write!(formatter, "refused: version {version} is already installed")
            }
            Self::CapabilityNotAllowed(capability) => write!(
                formatter,
                "refused: this system does not grant dapps the \"{capability}\" capability"
            ),
            Self::LimitOverMaximum { field, value, maximum } => write!(
                formatter,
                "refused: {field} is {value}, over this system's maximum {maximum}"
            ),
            Self::SignKeyNotAllowed(key) => {
                write!(formatter, "refused: this system does not let dapps sign with the {key} key")
            }
            Self::ApprovalRequired => formatter.write_str(
                "refused: this system requires sign.approval = \"always\" for signing dapps",
            ),
        }
    }
}

impl core::error::Error for Refusal {}

impl Manifest {
    /// Whether a dapp with this (verified) manifest may be installed over
    /// `installed` (what is installed under its name now, if anything) under
    /// `policy`. An update must come from the same publisher and be newer.
    pub fn check_install(
        &self,
        installed: Option<&Installed>,
        policy: &SystemPolicy,
    ) -> Result<(), Refusal> {
        if let Some(installed) = installed {
            if installed.publisher != self.publisher {
                return Err(Refusal::PublisherChanged);
            }
            if self.version == installed.version {
                return Err(Refusal::SameVersion(self.version));
            }
            if self.version < installed.version {
                return Err(Refusal::Downgrade {
                    installed: installed.version,
                    offered: self.version,
                });
            }
        }
        if let Some(capability) = self.capabilities.first_outside(policy.capabilities) {
            return Err(Refusal::CapabilityNotAllowed(capability));
        }
        let maxima = policy.limits.fields();
        for (index, (field, value)) in self.limits.fields().into_iter().enumerate() {
            let maximum = maxima[index].1;
            if value > maximum {
                return Err(Refusal::LimitOverMaximum { field, value, maximum });
            }
        }
        if let Some(sign) = &self.sign {
            for key in [SignKey::Node, SignKey::Dapp] {
                if sign.keys.contains(key) && !policy.sign_keys.contains(key) {
                    return Err(Refusal::SignKeyNotAllowed(key));
                }
            }
            if sign.per_minute > policy.sign_per_minute {
                return Err(Refusal::LimitOverMaximum {
                    field: Field::SignPerMinute,
                    value: u64::from(sign.per_minute),
                    maximum: u64::from(policy.sign_per_minute),
                });
            }
            if sign.approval == Approval::Never && !policy.unattended_signing {
                return Err(Refusal::ApprovalRequired);
            }
        }
        Ok(())
    }
}
