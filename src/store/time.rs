//! Moments as the three stores take them: bound text, SQL literals, PostgreSQL's binary form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::url::Dialect;

/// A moment, in the forms the three stores take.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timestamp {
    micros_since_epoch: i64,
}

impl Timestamp {
    /// 1970-01-01 00:00:00 UTC: earlier than any moment a store holds.
    pub(super) const EPOCH: Timestamp = Timestamp {
        micros_since_epoch: 0,
    };

    /// Now.
    pub(super) fn now() -> Timestamp {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp {
            micros_since_epoch: i64::try_from(since.as_micros()).unwrap_or(i64::MAX),
        }
    }

    /// This moment less `span`.
    pub(super) fn minus(self, span: Duration) -> Timestamp {
        let micros = i64::try_from(span.as_micros()).unwrap_or(i64::MAX);
        Timestamp {
            micros_since_epoch: self.micros_since_epoch.saturating_sub(micros),
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff`, UTC.
    pub(super) fn text(self) -> String {
        let seconds = self.micros_since_epoch.div_euclid(1_000_000);
        let micros = self.micros_since_epoch.rem_euclid(1_000_000);
        let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{micros:06}",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60
        )
    }

    /// A SQL literal of this moment (for statements without values to bind).
    pub(super) fn literal(self, dialect: Dialect) -> String {
        match dialect {
            Dialect::Postgres => format!("TIMESTAMPTZ '{}+00'", self.text()),
            Dialect::Sqlite | Dialect::MySql => format!("'{}'", self.text()),
        }
    }

    /// The moment `seconds` (fractions kept to the microsecond) after the epoch; None when
    /// it is not a finite number a store can hold.
    pub(super) fn from_epoch_seconds(seconds: f64) -> Option<Timestamp> {
        let micros = (seconds * 1e6).round();
        // Years 1 to 9999, what every store's timestamp type holds.
        (micros.is_finite() && (-62_135_596_800e6..=253_402_300_799e6).contains(&micros)).then_some(
            Timestamp {
                micros_since_epoch: micros as i64,
            },
        )
    }

    /// An RFC 3339 moment (`2026-11-30T12:00:00Z`, `2026-11-30T13:00:00.25+01:00`, a space for
    /// the `T` as many producers write it); None for anything else.
    pub(super) fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let bytes = text.as_bytes();
        let number = |range: std::ops::Range<usize>| -> Option<i64> {
            let digits = bytes.get(range)?;
            digits
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let separated = |at: usize, allowed: &[u8]| bytes.get(at).is_some_and(|b| allowed.contains(b));
        if !(separated(4, b"-")
            && separated(7, b"-")
            && separated(10, b"Tt ")
            && separated(13, b":")
            && separated(16, b":"))
        {
            return None;
        }
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            _ => return None,
        };
        // 60: a leap second, held as the next moment, as the stores do.
        if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut at = 19;
        let mut micros = 0;
        if bytes.get(at) == Some(&b'.') {
            let digits = bytes[at + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let kept = digits.min(6);
            micros = number(at + 1..at + 1 + kept)? * 10_i64.pow(6 - kept as u32);
            at += 1 + digits;
        }
        let offset_seconds = match bytes.get(at..)? {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (hours, minutes) = (number(at + 1..at + 3)?, number(at + 4..at + 6)?);
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let offset = hours * 3600 + minutes * 60;
                if *sign == b'-' {
                    -offset
                } else {
                    offset
                }
            }
            _ => return None,
        };
        let seconds =
            days_from_civil(year, month as u32, day as u32) * 86_400 + hour * 3600 + minute * 60 + second
                - offset_seconds;
        Some(Timestamp {
            micros_since_epoch: seconds * 1_000_000 + micros,
        })
    }

    /// Microseconds since 2000-01-01 UTC, PostgreSQL's binary timestamp.
    pub(super) fn postgres_micros(self) -> i64 {
        const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
        self.micros_since_epoch - POSTGRES_EPOCH_MICROS
    }
}

/// Days since 1970-01-01 of a (proleptic Gregorian) date: [`civil_from_days`] undone.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_text() {
        let at = |micros| Timestamp {
            micros_since_epoch: micros,
        };
        assert_eq!(at(0).text(), "1970-01-01 00:00:00.000000");
        assert_eq!(at(951_782_400_000_001).text(), "2000-02-29 00:00:00.000001");
        assert_eq!(at(1_795_305_600_500_000).text(), "2026-11-22 00:00:00.500000");
        assert_eq!(at(946_684_800_000_000).postgres_micros(), 0);
    }

    #[test]
    fn rfc3339_moments_are_read_with_their_offsets_and_nonsense_is_refused() {
        let text = |value: &str| Timestamp::parse_rfc3339(value).map(Timestamp::text);
        assert_eq!(
            text("2026-11-22T00:00:00Z").as_deref(),
            Some("2026-11-22 00:00:00.000000")
        );
        assert_eq!(
            text("2000-02-29 01:30:00.5+01:30").as_deref(),
            Some("2000-02-29 00:00:00.500000")
        );
        assert_eq!(
            text("1969-12-31T23:59:59.1234567-00:00").as_deref(),
            Some("1969-12-31 23:59:59.123456")
        );
        for wrong in [
            "2026-02-29T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22",
            "2026-11-22T00:00:00",
            "yesterday",
            "2026-11-22T00:00:00.Z",
        ] {
            assert_eq!(text(wrong), None, "{wrong}");
        }
        assert_eq!(
            Timestamp::from_epoch_seconds(1.5).map(Timestamp::text).as_deref(),
            Some("1970-01-01 00:00:01.500000")
        );
        assert!(Timestamp::from_epoch_seconds(f64::NAN).is_none());
        assert!(Timestamp::from_epoch_seconds(1e300).is_none());
    }
}
