//! When the scheduler refreshes a connection: one TTL after the last refresh,
//! or at the occurrences of a cron schedule in an IANA time zone; and how far
//! a source whose scheduled refreshes keep failing backs off.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::{Cron, parser::CronParser, parser::Seconds, parser::Year};

/// The longest a failing connection's backoff adds to its schedule.
pub const MAX_BACKOFF: Duration = Duration::hours(24);

/// The time zone of a connection that names none.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// A cron schedule (minute hour day-of-month month day-of-week, with names,
/// ranges, steps, `L`, `W`, `#` and the `@daily` family) in a time zone.
#[derive(Debug, Clone)]
pub struct RefreshSchedule {
    cron: Cron,
    zone: Tz,
}

/// Why a schedule or a time zone was refused: a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

impl RefreshSchedule {
    /// Parses `expression` in `timezone`; five fields, no seconds (a
    /// schedule runs at most once a minute), no years.
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, ScheduleError> {
        let zone = parse_timezone(timezone)?;
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| {
                ScheduleError(format!(
                    "`refresh_schedule` is not a cron expression of five fields \
                     (minute hour day-of-month month day-of-week, e.g. `0 3 * * *`): {e}"
                ))
            })?;
        let schedule = Self { cron, zone };
        if schedule.next_after(Utc::now()).is_none() {
            return Err(ScheduleError(
                "`refresh_schedule` never occurs (e.g. `0 0 31 2 *`).".into(),
            ));
        }
        Ok(schedule)
    }

    /// The first occurrence strictly after `after`. A local time skipped by
    /// a daylight-saving change runs just after the gap; a local time that
    /// occurs twice runs once.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Occurrences fall on whole seconds: croner keeps the fraction it is given.
        let after = chrono::DurationRound::duration_trunc(after, Duration::seconds(1)).ok()?;
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// When a connection on this schedule is due next, `failures` scheduled
    /// refreshes in a row having failed: the next occurrence after `now`,
    /// skipping 1, 3, 7, … occurrences (2ⁿ − 1 periods) while it fails,
    /// never more than [`MAX_BACKOFF`] beyond the next occurrence.
    pub fn next_due(&self, now: DateTime<Utc>, failures: i32) -> Option<DateTime<Utc>> {
        let next = self.next_after(now)?;
        if failures <= 0 {
            return Some(next);
        }
        let period = self
            .next_after(next)
            .map_or(MAX_BACKOFF, |after| after - next);
        let skip = backoff(period, failures);
        self.next_after(next + skip - Duration::seconds(1))
    }
}

/// The delay a failing connection adds: (2ⁿ − 1) × `period`, at most
/// [`MAX_BACKOFF`].
fn backoff(period: Duration, failures: i32) -> Duration {
    let factor = 2i32.saturating_pow(failures.clamp(0, 20) as u32) - 1;
    period
        .checked_mul(factor)
        .map_or(MAX_BACKOFF, |d| d.min(MAX_BACKOFF))
}

/// When a connection on a TTL is due after its last refresh ended, `failures`
/// scheduled refreshes in a row having failed: one TTL, doubled per failure,
/// at most [`MAX_BACKOFF`] (or the TTL itself, if longer). The same rule as
/// the trigger `connections_refresh_due_at` in the migrations.
pub fn ttl_delay(ttl_seconds: i32, failures: i32) -> Duration {
    let ttl = Duration::seconds(i64::from(ttl_seconds.max(1)));
    if failures <= 0 {
        return ttl;
    }
    let doubled = ttl
        .checked_mul(2i32.saturating_pow(failures.clamp(0, 20) as u32))
        .unwrap_or(MAX_BACKOFF);
    doubled.min(MAX_BACKOFF).max(ttl)
}

/// An IANA time zone name (`Europe/Berlin`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>().map_err(|_| {
        ScheduleError(format!(
            "`refresh_timezone` `{}` is not an IANA time zone (e.g. `UTC`, `Europe/Berlin`, `America/New_York`).",
            name.chars().take(64).collect::<String>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn a_daily_schedule_keeps_its_local_hour_across_daylight_saving_changes() {
        let schedule = RefreshSchedule::parse("0 3 * * *", "Europe/Berlin").unwrap();
        // Berlin springs forward on 2026-03-29 (UTC+1 → UTC+2).
        assert_eq!(
            schedule.next_after(utc(2026, 3, 28, 12, 0)),
            Some(utc(2026, 3, 29, 1, 0))
        );
        assert_eq!(
            schedule.next_after(utc(2026, 3, 29, 12, 0)),
            Some(utc(2026, 3, 30, 1, 0))
        );
        assert_eq!(
            schedule.next_after(utc(2026, 3, 27, 12, 0)),
            Some(utc(2026, 3, 28, 2, 0))
        );
    }

    #[test]
    fn a_time_skipped_by_spring_forward_runs_once_just_after_the_gap() {
        // 02:30 does not exist in New York on 2026-03-08.
        let schedule = RefreshSchedule::parse("30 2 * * *", "America/New_York").unwrap();
        let next = schedule.next_after(utc(2026, 3, 8, 5, 0)).unwrap();
        assert_eq!(
            next,
            utc(2026, 3, 8, 7, 0),
            "03:00 EDT, right after the gap"
        );
        assert_eq!(
            schedule.next_after(next),
            Some(utc(2026, 3, 9, 6, 30)),
            "02:30 EDT the next day"
        );
    }

    #[test]
    fn a_time_repeated_by_fall_back_runs_once() {
        // 01:30 happens twice in New York on 2026-11-01.
        let schedule = RefreshSchedule::parse("30 1 * * *", "America/New_York").unwrap();
        let first = schedule.next_after(utc(2026, 11, 1, 4, 0)).unwrap();
        assert_eq!(first, utc(2026, 11, 1, 5, 30), "01:30 EDT");
        assert_eq!(
            schedule.next_after(first),
            Some(utc(2026, 11, 2, 6, 30)),
            "not 01:30 EST the same night"
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_refused_with_a_reason() {
        for bad in [
            "",
            "every day",
            "* * * *",
            "0 0 3 * * *",
            "61 * * * *",
            "0 0 31 2 *",
        ] {
            let error = RefreshSchedule::parse(bad, "UTC").unwrap_err();
            assert!(
                error.to_string().contains("`refresh_schedule`"),
                "{bad}: {error}"
            );
        }
        let error = RefreshSchedule::parse("0 3 * * *", "Mars/Olympus").unwrap_err();
        assert!(error.to_string().contains("Mars/Olympus"), "{error}");
        assert!(RefreshSchedule::parse("@daily", "Asia/Kolkata").is_ok());
        assert!(RefreshSchedule::parse("*/15 9-17 * * MON-FRI", "UTC").is_ok());
    }

    #[test]
    fn a_failing_schedule_skips_more_occurrences_each_time_up_to_a_day() {
        let schedule = RefreshSchedule::parse("0 * * * *", "UTC").unwrap();
        let now = utc(2026, 6, 1, 10, 15);
        assert_eq!(schedule.next_due(now, 0), Some(utc(2026, 6, 1, 11, 0)));
        assert_eq!(schedule.next_due(now, 1), Some(utc(2026, 6, 1, 12, 0)));
        assert_eq!(schedule.next_due(now, 2), Some(utc(2026, 6, 1, 14, 0)));
        assert_eq!(schedule.next_due(now, 3), Some(utc(2026, 6, 1, 18, 0)));
        assert_eq!(schedule.next_due(now, 10), Some(utc(2026, 6, 2, 11, 0)));
    }

    #[test]
    fn occurrences_fall_on_whole_seconds() {
        let schedule = RefreshSchedule::parse("* * * * *", "UTC").unwrap();
        let now = utc(2026, 6, 1, 10, 15) + Duration::milliseconds(1_557);
        assert_eq!(schedule.next_after(now), Some(utc(2026, 6, 1, 10, 16)));
    }

    #[test]
    fn a_failing_ttl_doubles_up_to_a_day() {
        assert_eq!(ttl_delay(900, 0), Duration::seconds(900));
        assert_eq!(ttl_delay(900, 1), Duration::seconds(1800));
        assert_eq!(ttl_delay(900, 3), Duration::seconds(7200));
        assert_eq!(ttl_delay(900, 30), MAX_BACKOFF);
        // A TTL longer than a day is never shortened by backing off.
        assert_eq!(ttl_delay(200_000, 4), Duration::seconds(200_000));
    }
}
