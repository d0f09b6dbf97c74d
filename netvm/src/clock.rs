//! Time for the stack: the runtime's clock (the virtual counter) read as
//! smoltcp instants, and smoltcp's deadlines read back as counter values.

use core::time::Duration;
use guest_runtime::time::{duration_from_ticks, ticks_from_duration, Instant};
use smoltcp::time::Instant as NetworkInstant;

/// The smoltcp instant of counter value `now` at `frequency` Hz:
/// microseconds since the counter's zero (netvm's start).
pub fn network_time(now: Instant, frequency: u64) -> NetworkInstant {
    let micros = duration_from_ticks(now.ticks(), frequency).as_micros();
    NetworkInstant::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// The counter value at which smoltcp's deadline `at` falls, knowing that
/// counter value `now` is smoltcp instant `network_now`; `now` itself for a
/// deadline already past.
pub fn counter_deadline(
    now: Instant,
    network_now: NetworkInstant,
    at: NetworkInstant,
    frequency: u64,
) -> Instant {
    if at <= network_now {
        return now;
    }
    let ahead = Duration::from_micros((at - network_now).total_micros());
    Instant::from_ticks(now.ticks().saturating_add(ticks_from_duration(ahead, frequency)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's counter frequency.
    const FREQUENCY: u64 = 62_500_000;

    #[test]
    fn counter_values_read_as_microseconds() {
        assert_eq!(network_time(Instant::from_ticks(0), FREQUENCY), NetworkInstant::ZERO);
        assert_eq!(
            network_time(Instant::from_ticks(FREQUENCY * 3 / 2), FREQUENCY),
            NetworkInstant::from_millis(1500)
        );
        // 62.5 ticks per microsecond: 124 ticks are still the first microsecond.
        assert_eq!(network_time(Instant::from_ticks(124), FREQUENCY).total_micros(), 1);
        assert_eq!(network_time(Instant::from_ticks(u64::MAX), 1).total_micros(), i64::MAX);
    }

    #[test]
    fn deadlines_read_back_as_counter_values() {
        let now = Instant::from_ticks(1_000_000);
        let network_now = network_time(now, FREQUENCY);
        let at = network_now + smoltcp::time::Duration::from_millis(20);
        assert_eq!(
            counter_deadline(now, network_now, at, FREQUENCY).ticks(),
            1_000_000 + 1_250_000
        );
        // A deadline already past is now.
        let past = NetworkInstant::from_micros(network_now.total_micros() - 5);
        assert_eq!(counter_deadline(now, network_now, past, FREQUENCY), now);
        assert_eq!(counter_deadline(now, network_now, network_now, FREQUENCY), now);
    }
}
