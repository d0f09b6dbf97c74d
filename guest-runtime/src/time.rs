//! The monotonic clock: the generic timer's virtual counter (`CNTVCT_EL0`).
//!
//! The hypervisor offsets the counter so that it starts near zero when the VM
//! starts and never goes backwards while it runs. An [`Instant`] is a counter
//! value; [`core::time::Duration`] converts to and from ticks at the counter's
//! frequency (`CNTFRQ_EL0`, 62.5 MHz on QEMU's `virt`).

use core::ops::Add;
use core::time::Duration;

/// Nanoseconds in a second.
const NANOSECONDS_PER_SECOND: u128 = 1_000_000_000;

/// A point in time: a value of the virtual counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    ticks: u64,
}

impl Instant {
    /// The instant at counter value `ticks`.
    pub const fn from_ticks(ticks: u64) -> Self {
        Self { ticks }
    }

    /// The counter value.
    pub const fn ticks(self) -> u64 {
        self.ticks
    }

    /// Now.
    pub fn now() -> Self {
        Self { ticks: counter() }
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        duration_from_ticks(self.ticks.saturating_sub(earlier.ticks), frequency())
    }

    /// The time since `self`.
    pub fn elapsed(self) -> Duration {
        Self::now().saturating_duration_since(self)
    }
}

impl Add<Duration> for Instant {
    type Output = Self;

    /// The instant `duration` later; the counter's end if that is beyond it.
    fn add(self, duration: Duration) -> Self {
        Self { ticks: self.ticks.saturating_add(ticks_from_duration(duration, frequency())) }
    }
}

/// Counter ticks in `duration` at `frequency` Hz, rounded up so that a
/// deadline is never early; saturates at `u64::MAX`.
pub fn ticks_from_duration(duration: Duration, frequency: u64) -> u64 {
    let ticks = (duration.as_nanos() * u128::from(frequency)).div_ceil(NANOSECONDS_PER_SECOND);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// The time `ticks` counter ticks take at `frequency` Hz, rounded down.
pub fn duration_from_ticks(ticks: u64, frequency: u64) -> Duration {
    if frequency == 0 {
        return Duration::ZERO;
    }
    let seconds = ticks / frequency;
    let remainder = u128::from(ticks % frequency);
    let nanoseconds = (remainder * NANOSECONDS_PER_SECOND / u128::from(frequency)) as u32;
    Duration::new(seconds, nanoseconds)
}

/// The counter's frequency in Hz. Should firmware have left `CNTFRQ_EL0`
/// zero, the board's documented frequency stands in.
pub fn frequency() -> u64 {
    match raw_frequency() {
        0 => boards::qemu_virt::COUNTER_FREQUENCY,
        frequency => frequency,
    }
}

#[cfg(target_os = "none")]
fn raw_frequency() -> u64 {
    use aarch64_cpu::registers::{Readable, CNTFRQ_EL0};
    CNTFRQ_EL0.get()
}

/// The current value of the virtual counter.
#[cfg(target_os = "none")]
pub fn counter() -> u64 {
    use aarch64_cpu::registers::{Readable, CNTVCT_EL0};
    // The ISB keeps the read from being performed ahead of earlier
    // instructions (Arm ARM D12.1.2).
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// Host stand-in for the counter's frequency: the board's.
#[cfg(not(target_os = "none"))]
fn raw_frequency() -> u64 {
    boards::qemu_virt::COUNTER_FREQUENCY
}

/// Host stand-in for the counter: ticks since the first call.
#[cfg(not(target_os = "none"))]
pub fn counter() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let elapsed = START.get_or_init(std::time::Instant::now).elapsed();
    ticks_from_duration(elapsed, frequency())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREQUENCY: u64 = 62_500_000;

    #[test]
    fn durations_convert_to_ticks_at_the_counter_frequency() {
        assert_eq!(ticks_from_duration(Duration::from_secs(1), FREQUENCY), FREQUENCY);
        assert_eq!(ticks_from_duration(Duration::from_millis(10), FREQUENCY), 625_000);
        // 16 ns per tick: a single nanosecond still takes a whole tick.
        assert_eq!(ticks_from_duration(Duration::from_nanos(1), FREQUENCY), 1);
        assert_eq!(ticks_from_duration(Duration::ZERO, FREQUENCY), 0);
        assert_eq!(ticks_from_duration(Duration::MAX, FREQUENCY), u64::MAX);
    }

    #[test]
    fn ticks_convert_to_durations() {
        assert_eq!(duration_from_ticks(FREQUENCY, FREQUENCY), Duration::from_secs(1));
        assert_eq!(duration_from_ticks(FREQUENCY * 3 / 2, FREQUENCY), Duration::from_millis(1500));
        assert_eq!(duration_from_ticks(1, FREQUENCY), Duration::from_nanos(16));
        assert_eq!(duration_from_ticks(u64::MAX, FREQUENCY).as_secs(), u64::MAX / FREQUENCY);
        assert_eq!(duration_from_ticks(5, 0), Duration::ZERO);
    }

    #[test]
    fn instants_add_and_subtract() {
        let start = Instant::from_ticks(1_000);
        let later = start + Duration::from_secs(2);
        assert_eq!(later.ticks(), 1_000 + 2 * frequency());
        assert_eq!(later.saturating_duration_since(start), Duration::from_secs(2));
        assert_eq!(start.saturating_duration_since(later), Duration::ZERO);
        assert_eq!(
            Instant::from_ticks(u64::MAX) + Duration::from_secs(1),
            Instant::from_ticks(u64::MAX)
        );
    }

    #[test]
    fn the_clock_does_not_go_backwards() {
        let first = Instant::now();
        let second = Instant::now();
        assert!(second >= first);
    }
}
