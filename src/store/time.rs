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

    /// Microseconds since 2000-01-01 UTC, PostgreSQL's binary timestamp.
    pub(super) fn postgres_micros(self) -> i64 {
        const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
        self.micros_since_epoch - POSTGRES_EPOCH_MICROS
    }
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
}
