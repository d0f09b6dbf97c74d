//! The manifest as written: the TOML tables, with the position of every value
//! the checks may complain about.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A whole manifest file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    /// The `[system]` table.
    #[serde(default)]
    pub system: SystemTable,
    /// The `[[vm]]` tables.
    #[serde(default, rename = "vm")]
    pub machines: Vec<MachineTable>,
    /// The `[[channel]]` tables.
    #[serde(default, rename = "channel")]
    pub channels: Vec<ChannelTable>,
}

/// The `[system]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SystemTable {
    /// What the configuration is for.
    pub description: Option<String>,
}

/// One `[[vm]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MachineTable {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub image: Option<Spanned<String>>,
    pub memory: Spanned<Size>,
    pub physical_base: Option<Spanned<u64>>,
    pub cpus: Spanned<Vec<Spanned<u64>>>,
    pub primary: Option<Spanned<bool>>,
    pub restart: Option<Spanned<String>>,
    pub restart_limit: Option<Spanned<u32>>,
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceTable>,
    /// The `[vm.p2p]` table (netvm only).
    pub p2p: Option<Spanned<P2pTable>>,
}

/// A netvm's `[vm.p2p]` table: how it takes part in the libp2p network.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct P2pTable {
    /// The TCP port it listens on; read as any integer so that the checks,
    /// not the parser, report one out of range.
    #[serde(rename = "listen-port")]
    pub listen_port: Option<Spanned<i64>>,
    /// The multiaddrs of the peers it dials at start.
    #[serde(default)]
    pub bootstrap: Vec<Spanned<String>>,
}

/// One `[[vm.device]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceTable {
    pub name: Spanned<String>,
    pub mmio: Spanned<MmioTable>,
    #[serde(default)]
    pub interrupts: Vec<Spanned<u32>>,
}

/// A device's `mmio = { base, size }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MmioTable {
    pub base: Spanned<u64>,
    pub size: Spanned<Size>,
}

/// One `[[channel]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelTable {
    pub name: Spanned<String>,
    pub ends: Spanned<Vec<Spanned<String>>>,
    pub size: Spanned<Size>,
    pub direction: Option<Spanned<String>>,
    #[serde(rename = "linux-device")]
    pub linux_device: Option<Spanned<String>>,
}

/// A size as written: a number of bytes, or a string such as "16M".
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Size {
    /// An integer.
    Bytes(u64),
    /// A string, read by [`Size::bytes`].
    Text(String),
}

impl Size {
    /// The number of bytes, or `None` if the text is not a size. A string is
    /// a decimal number (with optional '_' separators) and an optional binary
    /// unit: K, M, G (or KiB, MiB, GiB).
    pub fn bytes(&self) -> Option<u64> {
        let text = match self {
            Self::Bytes(bytes) => return Some(*bytes),
            Self::Text(text) => text.trim(),
        };
        let digits_end =
            text.find(|character: char| !character.is_ascii_digit() && character != '_');
        let (number, unit) = text.split_at(digits_end.unwrap_or(text.len()));
        if !number.starts_with(|character: char| character.is_ascii_digit()) {
            return None;
        }
        let number: u64 = number.replace('_', "").parse().ok()?;
        let multiplier: u64 = match unit.trim_start() {
            "" => 1,
            "K" | "KiB" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            "G" | "GiB" => 1 << 30,
            _ => return None,
        };
        number.checked_mul(multiplier)
    }

    /// The text as written, for messages.
    pub fn text(&self) -> String {
        match self {
            Self::Bytes(bytes) => bytes.to_string(),
            Self::Text(text) => text.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = Size;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a number of bytes or a string such as \"16M\"")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Size, E> {
                Ok(Size::Bytes(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Size, E> {
                u64::try_from(value)
                    .map(Size::Bytes)
                    .map_err(|_| E::custom(format!("a size cannot be negative ({value})")))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Size, E> {
                Ok(Size::Text(value.to_owned()))
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_numbers_and_binary_units() {
        let text = |value: &str| Size::Text(value.to_owned()).bytes();
        assert_eq!(text("16M"), Some(16 << 20));
        assert_eq!(text("1G"), Some(1 << 30));
        assert_eq!(text("4K"), Some(4096));
        assert_eq!(text("64 KiB"), Some(64 << 10));
        assert_eq!(text("1_024"), Some(1024));
        assert_eq!(Size::Bytes(12).bytes(), Some(12));
        assert_eq!(text("16X"), None);
        assert_eq!(text("M"), None);
        assert_eq!(text(""), None);
        assert_eq!(text("-4K"), None);
        assert_eq!(text("99999999999G"), None);
    }
}
