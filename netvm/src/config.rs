//! How netvm gets its IPv4 address.
//!
//! [`ADDRESSING`] is fixed at build time: DHCP, which is what QEMU's
//! user-mode network and most LANs offer. A static address is the other
//! choice, in code for now; when the system manifest learns to describe a
//! VM's network (for example `network = { address = "192.168.1.20/24",
//! gateway = "192.168.1.1" }` on netvm), the build will turn it into this
//! same value.

use core::fmt;
use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

/// Where the interface's address comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// Ask a DHCP server, and follow its lease.
    Dhcp,
    /// Use a fixed address.
    Static {
        /// The address and its network's prefix length.
        address: Ipv4Cidr,
        /// The default gateway, if the network has one.
        gateway: Option<Ipv4Address>,
    },
}

/// netvm's addressing.
pub const ADDRESSING: Addressing = Addressing::Dhcp;

/// The address configuration in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The address and its network's prefix length.
    pub address: Ipv4Cidr,
    /// The default gateway, if any.
    pub gateway: Option<Ipv4Address>,
}

impl fmt::Display for Lease {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self.gateway {
            Some(gateway) => write!(formatter, "address {}, gateway {gateway}", self.address),
            None => write!(formatter, "address {}, no gateway", self.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_read_as_the_console_prints_them() {
        let address = Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24);
        let lease = Lease { address, gateway: Some(Ipv4Address::new(10, 0, 2, 2)) };
        assert_eq!(lease.to_string(), "address 10.0.2.15/24, gateway 10.0.2.2");
        let lease = Lease { address, gateway: None };
        assert_eq!(lease.to_string(), "address 10.0.2.15/24, no gateway");
    }

    #[test]
    fn netvm_asks_dhcp_by_default() {
        assert_eq!(ADDRESSING, Addressing::Dhcp);
    }
}
