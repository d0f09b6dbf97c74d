//! Time as CometBFT keeps it: a `google.protobuf.Timestamp` (seconds since the
//! Unix epoch and nanoseconds), parsed from RFC 3339 text.

use crate::calendar::{days_from_civil, days_in_month};

/// Nanoseconds in a second.
const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// A point in time: seconds since 1970-01-01T00:00:00Z and nanoseconds within
/// the second (`0..1_000_000_000`), as `google.protobuf.Timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time {
    /// Whole seconds since the Unix epoch (negative before 1970).
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// Why a time could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    /// The text is not of the form `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    Format,
    /// A field is out of its range (month 13, second 61, ...).
    Range,
}

impl Time {
    /// The time `nanoseconds` after the Unix epoch.
    pub fn from_unix_nanos(nanoseconds: i128) -> Option<Self> {
        let seconds = i64::try_from(nanoseconds.div_euclid(NANOS_PER_SECOND)).ok()?;
        // The remainder is in 0..1e9, so it fits a u32.
        let nanos = nanoseconds.rem_euclid(NANOS_PER_SECOND) as u32;
        Some(Self { seconds, nanos })
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(self) -> i128 {
        i128::from(self.seconds) * NANOS_PER_SECOND + i128::from(self.nanos)
    }

    /// This time plus `nanoseconds` (saturating at the ends of the range).
    pub fn plus_nanos(self, nanoseconds: u64) -> Self {
        let total = self.unix_nanos() + i128::from(nanoseconds);
        Self::from_unix_nanos(total).unwrap_or(Self { seconds: i64::MAX, nanos: 999_999_999 })
    }

    /// Reads RFC 3339 text such as `2023-05-17T14:12:52.570941867Z` (up to 9
    /// fractional digits; an offset such as `+02:00` is allowed).
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeError> {
        let bytes = text.as_bytes();
        if bytes.len() < 20 {
            return Err(TimeError::Format);
        }
        let number = |range: core::ops::Range<usize>| -> Result<i64, TimeError> {
            let digits = bytes.get(range).ok_or(TimeError::Format)?;
            let mut value = 0i64;
            for &digit in digits {
                if !digit.is_ascii_digit() {
                    return Err(TimeError::Format);
                }
                value = value * 10 + i64::from(digit - b'0');
            }
            Ok(value)
        };
        let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
        if separators.iter().any(|&(index, byte)| bytes[index] != byte)
            || !matches!(bytes[10], b'T' | b't' | b' ')
        {
            return Err(TimeError::Format);
        }
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(TimeError::Range);
        }
        let mut index = 19;
        let mut nanos = 0u32;
        if bytes[index] == b'.' {
            index += 1;
            let start = index;
            while index < bytes.len() && bytes[index].is_ascii_digit() {
                index += 1;
            }
            let digits = index - start;
            if digits == 0 || digits > 9 {
                return Err(TimeError::Format);
            }
            // At most nine digits: fits a u32 after scaling.
            nanos = number(start..index)? as u32 * 10u32.pow((9 - digits) as u32);
        }
        let offset_seconds = match &bytes[index..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (hours, minutes) =
                    (number(index + 1..index + 3)?, number(index + 4..index + 6)?);
                if hours > 23 || minutes > 59 {
                    return Err(TimeError::Range);
                }
                let offset = hours * 3600 + minutes * 60;
                if *sign == b'+' {
                    offset
                } else {
                    -offset
                }
            }
            _ => return Err(TimeError::Format),
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
        Ok(Self { seconds, nanos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_times() {
        assert_eq!(Time::parse_rfc3339("1970-01-01T00:00:01Z"), Ok(Time { seconds: 1, nanos: 0 }));
        // CometBFT's zero time, as in its vote sign-bytes vectors.
        assert_eq!(
            Time::parse_rfc3339("0001-01-01T00:00:00Z"),
            Ok(Time { seconds: -62_135_596_800, nanos: 0 })
        );
        assert_eq!(
            Time::parse_rfc3339("2023-05-17T14:12:53.605374524Z"),
            Ok(Time { seconds: 1_684_332_773, nanos: 605_374_524 })
        );
        assert_eq!(
            Time::parse_rfc3339("2020-11-18T12:36:18.16Z"),
            Ok(Time { seconds: 1_605_702_978, nanos: 160_000_000 })
        );
        assert_eq!(
            Time::parse_rfc3339("2020-11-18T14:36:18+02:00"),
            Time::parse_rfc3339("2020-11-18T12:36:18Z")
        );
    }

    #[test]
    fn rejects_malformed_times() {
        for text in [
            "",
            "2020-13-01T00:00:00Z",
            "2021-02-29T00:00:00Z",
            "2020-11-18T12:36:18",
            "2020-11-18T12:36:18.Z",
            "2020-11-18T12:36:18.1234567890Z",
            "2020-11-18X12:36:18Z",
        ] {
            assert!(Time::parse_rfc3339(text).is_err(), "{text}");
        }
    }

    #[test]
    fn nanosecond_arithmetic_round_trips() {
        let time = Time { seconds: -5, nanos: 7 };
        assert_eq!(Time::from_unix_nanos(time.unix_nanos()), Some(time));
        assert_eq!(time.plus_nanos(1_000_000_000), Time { seconds: -4, nanos: 7 });
    }
}
