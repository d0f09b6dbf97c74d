//! What a dapp may do: the capabilities it was granted, its limits, and the
//! per-minute rate windows that enforce messages and storage writes.

use elastos_host_api::Capability;

/// The capabilities granted to a dapp at install; a call needing one it
/// lacks answers `DENIED`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// `log`.
    pub log: bool,
    /// `clock_monotonic`, `clock_wall`.
    pub clock: bool,
    /// `random`.
    pub random: bool,
    /// `message_send`, and messages and receipts among its events.
    pub message: bool,
    /// `storage_*`.
    pub storage: bool,
    /// `identity`, `verify`.
    pub identity: bool,
    /// `sign`.
    pub sign: bool,
}

impl Grants {
    /// Every capability.
    pub const ALL: Grants = Grants {
        log: true,
        clock: true,
        random: true,
        message: true,
        storage: true,
        identity: true,
        sign: true,
    };

    /// Whether `capability` is granted.
    pub const fn allows(&self, capability: Capability) -> bool {
        match capability {
            Capability::Log => self.log,
            Capability::Clock => self.clock,
            Capability::Random => self.random,
            Capability::Message => self.message,
            Capability::Storage => self.storage,
            Capability::Identity => self.identity,
            Capability::Sign => self.sign,
        }
    }
}

/// The limits a dapp runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most 64 KiB pages its linear memory may have.
    pub memory_pages: u32,
    /// Fuel per slice: after this much, `run` returns `Yielded`.
    pub fuel_per_slice: u64,
    /// The most fuel between two waits for events; past it the dapp is
    /// stopped.
    pub cpu_budget: u64,
    /// Messages it may send per minute.
    pub messages_per_minute: u32,
    /// The most bytes (keys and values) it may keep in storage.
    pub storage_quota: u64,
    /// Storage writes (puts and deletes) per minute.
    pub storage_writes_per_minute: u32,
}

impl Default for Limits {
    /// The limits of the example manifests.
    fn default() -> Self {
        Limits {
            memory_pages: 32,
            fuel_per_slice: 100_000,
            cpu_budget: 50_000_000,
            messages_per_minute: 600,
            storage_quota: 65_536,
            storage_writes_per_minute: 600,
        }
    }
}

/// The length of a rate window.
pub const RATE_WINDOW_NANOSECONDS: u64 = 60_000_000_000;
/// A dapp whose refused calls in one window pass this many times its
/// per-minute limit is flooding and is stopped...
pub const FLOOD_FACTOR: u32 = 4;
/// ...and never before this many refused calls in one window.
pub const FLOOD_MINIMUM: u32 = 256;

/// What a rate window says about one more call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Within the rate.
    Allowed,
    /// Over the rate: the call answers `RATE_LIMITED`.
    Limited,
    /// Over the rate, and so often that the dapp is stopped.
    Flood,
}

/// A fixed one-minute window counting calls: it opens at the first call
/// after the previous one closed, admits `limit` calls, and counts the
/// refused ones to tell a flood.
#[derive(Clone, Copy, Debug)]
pub struct RateWindow {
    limit: u32,
    opened: Option<u64>,
    admitted: u32,
    refused: u32,
}

impl RateWindow {
    /// A window admitting `limit` calls per minute.
    pub const fn new(limit: u32) -> Self {
        RateWindow { limit, opened: None, admitted: 0, refused: 0 }
    }

    /// The refused calls in one window past which a dapp is flooding.
    pub fn flood_threshold(&self) -> u32 {
        self.limit.saturating_mul(FLOOD_FACTOR).max(FLOOD_MINIMUM)
    }

    /// Counts one call at monotonic time `now` (nanoseconds).
    pub fn admit(&mut self, now: u64) -> Admission {
        let expired = match self.opened {
            Some(opened) => now.saturating_sub(opened) >= RATE_WINDOW_NANOSECONDS,
            None => true,
        };
        if expired {
            self.opened = Some(now);
            self.admitted = 0;
            self.refused = 0;
        }
        if self.admitted < self.limit {
            self.admitted += 1;
            return Admission::Allowed;
        }
        self.refused = self.refused.saturating_add(1);
        if self.refused > self.flood_threshold() {
            Admission::Flood
        } else {
            Admission::Limited
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_window_admits_its_limit_then_refuses_until_it_closes() {
        let mut window = RateWindow::new(3);
        for _ in 0..3 {
            assert_eq!(window.admit(10 * SECOND), Admission::Allowed);
        }
        assert_eq!(window.admit(20 * SECOND), Admission::Limited);
        assert_eq!(window.admit(69 * SECOND), Admission::Limited);
        // The window opened at 10 s closes at 70 s.
        assert_eq!(window.admit(70 * SECOND), Admission::Allowed);
    }

    #[test]
    fn refusals_past_the_threshold_are_a_flood() {
        let mut window = RateWindow::new(100);
        assert_eq!(window.flood_threshold(), 400);
        for _ in 0..100 {
            assert_eq!(window.admit(0), Admission::Allowed);
        }
        for _ in 0..400 {
            assert_eq!(window.admit(SECOND), Admission::Limited);
        }
        assert_eq!(window.admit(SECOND), Admission::Flood);
        // A small limit still allows the minimum of refusals.
        let mut window = RateWindow::new(0);
        assert_eq!(window.flood_threshold(), FLOOD_MINIMUM);
        for _ in 0..FLOOD_MINIMUM {
            assert_eq!(window.admit(0), Admission::Limited);
        }
        assert_eq!(window.admit(0), Admission::Flood);
    }

    #[test]
    fn a_clock_going_backwards_keeps_the_window() {
        let mut window = RateWindow::new(1);
        assert_eq!(window.admit(100 * SECOND), Admission::Allowed);
        assert_eq!(window.admit(SECOND), Admission::Limited);
    }

    #[test]
    fn grants_allow_what_they_name() {
        let grants = Grants { log: true, storage: true, ..Grants::default() };
        assert!(grants.allows(Capability::Log));
        assert!(grants.allows(Capability::Storage));
        assert!(!grants.allows(Capability::Message));
        assert!(!grants.allows(Capability::Sign));
        assert!(Grants::ALL.allows(Capability::Identity));
    }
}
