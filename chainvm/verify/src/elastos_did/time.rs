//! Timestamps of Elastos DID objects: `YYYY-MM-DDTHH:MM:SSZ` (UTC).

use crate::calendar::{days_from_civil, days_in_month};

/// Seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SSZ`; `None` if it is not that form or not a
    /// real date and time.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 20
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || bytes[10] != b'T'
            || bytes[13] != b':'
            || bytes[16] != b':'
            || bytes[19] != b'Z'
        {
            return None;
        }
        let number = |range: core::ops::Range<usize>| -> Option<i64> {
            let digits = &bytes[range];
            digits.iter().try_fold(0i64, |value, digit| {
                digit.is_ascii_digit().then(|| value * 10 + i64::from(digit - b'0'))
            })
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Timestamp(days * 86_400 + hour * 3_600 + minute * 60 + second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_instants() {
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z"), Some(Timestamp(0)));
        assert_eq!(Timestamp::parse("2026-11-20T09:55:44Z"), Some(Timestamp(1_795_168_544)));
        assert_eq!(Timestamp::parse("2000-02-29T23:59:59Z"), Some(Timestamp(951_868_799)));
    }

    #[test]
    fn rejects_malformed_times() {
        for text in [
            "2026-11-20 09:55:44Z",
            "2026-11-20T09:55:44",
            "2026-13-20T09:55:44Z",
            "2025-02-29T09:55:44Z",
            "2026-11-20T24:00:00Z",
            "2026-1a-20T09:55:44Z",
            "",
        ] {
            assert_eq!(Timestamp::parse(text), None, "{text}");
        }
    }
}
