//! How the test guest (`tests/test-guest`) is told what to do.
//!
//! The last 4 KiB page of a test VM's RAM is its parameter page. Its first
//! 64-bit word selects a scenario; QEMU's RAM starts zeroed, so a VM nobody
//! configured runs [`Scenario::Greet`]. The host writes the word before the
//! machine starts (`-device loader,addr=...,data=...,data-len=8`).

/// Offset of the parameter page from the end of the VM's RAM.
pub const PARAMETER_PAGE_FROM_END: u64 = 0x1000;

/// What a test guest does after it starts.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Print a greeting, check the hypercall ABI, and stop.
    Greet = 0,
    /// Print, then read memory outside the VM's partition (the other VM's RAM).
    Escape = 1,
    /// Measure the null hypercall round trip and print the figures.
    Benchmark = 2,
    /// Print a heartbeat line a few times a second for a while, then stop.
    Heartbeat = 3,
    /// Attack the system from inside the partition, one attempt per boot
    /// where an attempt faults (the VM is restarted), and report.
    Hostile = 4,
}

impl Scenario {
    /// Every scenario, for parsers and tests.
    pub const ALL: [Scenario; 5] = [
        Scenario::Greet,
        Scenario::Escape,
        Scenario::Benchmark,
        Scenario::Heartbeat,
        Scenario::Hostile,
    ];

    /// Decodes the parameter word.
    pub const fn from_word(word: u64) -> Option<Self> {
        match word {
            0 => Some(Self::Greet),
            1 => Some(Self::Escape),
            2 => Some(Self::Benchmark),
            3 => Some(Self::Heartbeat),
            4 => Some(Self::Hostile),
            _ => None,
        }
    }

    /// The name used on command lines.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Greet => "greet",
            Self::Escape => "escape",
            Self::Benchmark => "benchmark",
            Self::Heartbeat => "heartbeat",
            Self::Hostile => "hostile",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scenario| scenario.name() == name)
    }
}

/// The guest-physical address of the parameter word of a VM whose RAM is `guest_memory`.
pub const fn parameter_address(guest_memory: crate::Region) -> u64 {
    guest_memory.end() - PARAMETER_PAGE_FROM_END
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_round_trip() {
        for scenario in Scenario::ALL {
            assert_eq!(Scenario::from_word(scenario as u64), Some(scenario));
            assert_eq!(Scenario::from_name(scenario.name()), Some(scenario));
        }
        assert_eq!(Scenario::from_word(99), None);
        assert_eq!(Scenario::from_name("nonsense"), None);
    }
}
