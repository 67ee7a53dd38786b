//! Dates, timestamps and intervals in PostgreSQL's forms.
//!
//! Binary: a date is days since 2000-01-01 (i32), a timestamp microseconds
//! since 2000-01-01 (i64), an interval microseconds (i64), days (i32),
//! months (i32). Text: ISO dates and timestamps (`DateStyle = ISO`, times
//! in UTC, `+00` after a `timestamptz`) with the fraction's trailing zeros
//! dropped, and intervals in the `postgres` IntervalStyle
//! (`1 year 2 mons 3 days 04:05:06.5`). Text is written straight into the
//! output buffer: no `String` per value.

use std::io::Write;

/// Microseconds from 1970-01-01 to PostgreSQL's epoch 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_DAYS: i32 = 10_957;

/// (year, month, day) of a day number since 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Day number since 1970-01-01 of a civil date (`days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn two(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// `YYYY-MM-DD` (years beyond 9999 in full; before year 1, as chrono and
/// Eddy print them, with a sign).
pub fn write_date(days: i64, out: &mut Vec<u8>) {
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        let y = year as u32;
        two(out, y / 100);
        two(out, y % 100);
    } else {
        let _ = write!(out, "{year:+05}");
    }
    out.push(b'-');
    two(out, month);
    out.push(b'-');
    two(out, day);
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, the fraction's trailing zeros dropped,
/// `+00` after it for a `timestamptz` (sessions run in UTC).
pub fn write_timestamp(micros: i64, with_time_zone: bool, out: &mut Vec<u8>) {
    let days = micros.div_euclid(86_400_000_000);
    let of_day = micros.rem_euclid(86_400_000_000);
    write_date(days, out);
    out.push(b' ');
    let seconds = (of_day / 1_000_000) as u32;
    two(out, seconds / 3600);
    out.push(b':');
    two(out, seconds / 60 % 60);
    out.push(b':');
    two(out, seconds % 60);
    write_fraction((of_day % 1_000_000) as u32, out);
    if with_time_zone {
        out.extend_from_slice(b"+00");
    }
}

/// `.ffffff` without trailing zeros; nothing for 0.
fn write_fraction(micros: u32, out: &mut Vec<u8>) {
    if micros == 0 {
        return;
    }
    let mut digits = [0u8; 6];
    let mut n = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let len = 6 - digits.iter().rev().take_while(|&&d| d == b'0').count();
    out.push(b'.');
    out.extend_from_slice(&digits[..len]);
}

/// A timestamp's text as a `String` (for messages and tests).
pub fn format_timestamp(micros: i64, with_time_zone: bool) -> String {
    let mut out = Vec::with_capacity(32);
    write_timestamp(micros, with_time_zone, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// An interval in PostgreSQL's three fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgInterval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl PgInterval {
    /// The binary form: microseconds, days, months.
    pub fn to_binary(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.micros.to_be_bytes());
        b[8..12].copy_from_slice(&self.days.to_be_bytes());
        b[12..].copy_from_slice(&self.months.to_be_bytes());
        b
    }

    pub fn from_binary(bytes: &[u8]) -> Result<PgInterval, String> {
        let b: &[u8; 16] = bytes
            .try_into()
            .map_err(|_| format!("binary interval of {} bytes, expected 16", bytes.len()))?;
        let int = |r: std::ops::Range<usize>| i32::from_be_bytes(b[r].try_into().unwrap_or([0; 4]));
        Ok(PgInterval {
            micros: i64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8])),
            days: int(8..12),
            months: int(12..16),
        })
    }

    /// The `postgres` IntervalStyle.
    pub fn write_text(self, out: &mut Vec<u8>) {
        let mut first = true;
        let mut part = |out: &mut Vec<u8>, n: i64, one: &str, many: &str| {
            if !first {
                out.push(b' ');
            }
            first = false;
            let _ = write!(out, "{n} {}", if n == 1 { one } else { many });
        };
        let (years, months) = (self.months / 12, self.months % 12);
        if years != 0 {
            part(out, years.into(), "year", "years");
        }
        if months != 0 {
            part(out, months.into(), "mon", "mons");
        }
        if self.days != 0 {
            part(out, self.days.into(), "day", "days");
        }
        if self.micros != 0 || first {
            if !first {
                out.push(b' ');
            }
            let magnitude = self.micros.unsigned_abs();
            if self.micros < 0 {
                out.push(b'-');
            } else if self.months < 0 || self.days < 0 {
                out.push(b'+');
            }
            let seconds = magnitude / 1_000_000;
            let hours = seconds / 3600;
            if hours < 100 {
                two(out, hours as u32);
            } else {
                let _ = write!(out, "{hours}");
            }
            out.push(b':');
            two(out, (seconds / 60 % 60) as u32);
            out.push(b':');
            two(out, (seconds % 60) as u32);
            write_fraction((magnitude % 1_000_000) as u32, out);
        }
    }

    pub fn to_text(self) -> String {
        let mut out = Vec::new();
        self.write_text(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A timestamp in text as clients send it: `YYYY-MM-DD`, then optionally
/// `T` or a space and `HH:MM[:SS[.f…]]`, then optionally `Z` or an offset
/// (`+08`, `+08:00`, `+0800`, `-03:30:00`). Returns microseconds since
/// 1970-01-01 of the local time and the offset in seconds, if one was
/// given. A date alone is its midnight; a date followed by an offset alone
/// (`2024-06-20 +08`, as pgjdbc sends dates) is accepted too.
pub fn parse_timestamp(text: &str) -> Result<(i64, Option<i32>), String> {
    let bad = || format!("invalid input syntax for type timestamp: \"{text}\"");
    let s = text.trim().as_bytes();
    let mut at = 0;
    let number = |at: &mut usize, min: usize, max: usize| -> Option<i64> {
        let start = *at;
        while *at < s.len() && *at - start < max && s[*at].is_ascii_digit() {
            *at += 1;
        }
        if *at - start < min {
            return None;
        }
        std::str::from_utf8(&s[start..*at]).ok()?.parse().ok()
    };
    let expect =
        |at: &mut usize, c: u8| -> Option<()> { (s.get(*at) == Some(&c)).then(|| *at += 1) };
    let negative_year = expect(&mut at, b'-').is_some();
    let year = number(&mut at, 4, 6).ok_or_else(bad)?;
    let year = if negative_year { -year } else { year };
    expect(&mut at, b'-').ok_or_else(bad)?;
    let month = number(&mut at, 1, 2).ok_or_else(bad)? as u32;
    expect(&mut at, b'-').ok_or_else(bad)?;
    let day = number(&mut at, 1, 2).ok_or_else(bad)? as u32;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(format!("date/time field value out of range: \"{text}\""));
    }
    let mut micros = days_from_civil(year, month, day) * 86_400_000_000;
    let time_starts = matches!(s.get(at), Some(b'T' | b't'))
        || (s.get(at) == Some(&b' ') && s.get(at + 1).is_some_and(u8::is_ascii_digit));
    if time_starts {
        at += 1;
        let hour = number(&mut at, 1, 2).ok_or_else(bad)?;
        expect(&mut at, b':').ok_or_else(bad)?;
        let minute = number(&mut at, 2, 2).ok_or_else(bad)?;
        let mut second = 0;
        let mut fraction = 0;
        if expect(&mut at, b':').is_some() {
            second = number(&mut at, 2, 2).ok_or_else(bad)?;
            if expect(&mut at, b'.').is_some() {
                let start = at;
                while at < s.len() && s[at].is_ascii_digit() {
                    at += 1;
                }
                // Microseconds, rounded half up as PostgreSQL rounds them.
                let digits = &s[start..at];
                for k in 0..6 {
                    fraction = fraction * 10 + digits.get(k).map_or(0, |d| i64::from(d - b'0'));
                }
                if digits.get(6).is_some_and(|d| *d >= b'5') {
                    fraction += 1;
                }
            }
        }
        if hour > 24 || minute > 59 || second > 60 || (hour == 24 && minute + second > 0) {
            return Err(format!("date/time field value out of range: \"{text}\""));
        }
        micros += ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction;
    }
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    let offset = match s.get(at) {
        None => None,
        Some(b'Z' | b'z') => {
            at += 1;
            Some(0)
        }
        Some(sign @ (b'+' | b'-')) => {
            let sign = if *sign == b'-' { -1 } else { 1 };
            at += 1;
            let hours = number(&mut at, 1, 2).ok_or_else(bad)?;
            let mut minutes = 0;
            let mut seconds = 0;
            if expect(&mut at, b':').is_some() {
                minutes = number(&mut at, 2, 2).ok_or_else(bad)?;
                if expect(&mut at, b':').is_some() {
                    seconds = number(&mut at, 2, 2).ok_or_else(bad)?;
                }
            } else if let Some(m) = number(&mut at, 2, 2) {
                minutes = m;
            }
            Some(sign * (hours * 3600 + minutes * 60 + seconds) as i32)
        }
        Some(_) => return Err(bad()),
    };
    if at != s.len() {
        return Err(bad());
    }
    Ok((micros, offset))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(days: i64) -> String {
        let mut out = Vec::new();
        write_date(days, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn dates_and_timestamps_like_postgres() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(19_723), "2024-01-01");
        assert_eq!(date(days_from_civil(2000, 2, 29)), "2000-02-29");
        for days in [-800_000, -1, 0, 59, 60, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_timestamp(1_500_000, false), "1970-01-01 00:00:01.5");
        assert_eq!(format_timestamp(0, true), "1970-01-01 00:00:00+00");
        assert_eq!(format_timestamp(-1, false), "1969-12-31 23:59:59.999999");
        assert_eq!(
            format_timestamp(1_704_067_200_123_456, false),
            "2024-01-01 00:00:00.123456"
        );
    }

    #[test]
    fn intervals_like_postgres() {
        let text = |months, days, micros| {
            PgInterval {
                months,
                days,
                micros,
            }
            .to_text()
        };
        assert_eq!(text(0, 0, 0), "00:00:00");
        assert_eq!(text(0, 1, 7_384_500_000), "1 day 02:03:04.5");
        assert_eq!(text(14, 3, 14_706_000_000), "1 year 2 mons 3 days 04:05:06");
        assert_eq!(text(0, -1, 7_200_000_000), "-1 days +02:00:00");
        assert_eq!(text(0, 0, -1), "-00:00:00.000001");
        assert_eq!(text(-1, 0, 0), "-1 mons");
        assert_eq!(text(0, 0, 360_000_000_000), "100:00:00");
        let iv = PgInterval {
            months: 3,
            days: -2,
            micros: 5,
        };
        assert_eq!(PgInterval::from_binary(&iv.to_binary()), Ok(iv));
    }

    #[test]
    fn timestamps_in_the_forms_clients_send() {
        let at = |t| parse_timestamp(t).unwrap();
        let noon = days_from_civil(2024, 11, 24) * 86_400_000_000 + 11 * 3_600_000_000;
        assert_eq!(at("2024-11-24 11:00:00"), (noon, None));
        assert_eq!(at("2024-11-24T11:00"), (noon, None));
        assert_eq!(at("2024-11-24 11:00:00.5"), (noon + 500_000, None));
        assert_eq!(at("2024-11-24 11:00:00.1234565"), (noon + 123_457, None));
        assert_eq!(at("2024-11-24 11:00:00+08"), (noon, Some(8 * 3600)));
        assert_eq!(at("2024-11-24T11:00:00-03:30"), (noon, Some(-12_600)));
        assert_eq!(at("2024-11-24 11:00:00+0800"), (noon, Some(28_800)));
        assert_eq!(at("2024-11-24 11:00:00Z"), (noon, Some(0)));
        assert_eq!(at("2024-11-24"), (noon - 11 * 3_600_000_000, None));
        assert_eq!(at("2024-06-20 +08").1, Some(28_800));
        assert!(parse_timestamp("2024-02-30").is_err());
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("2024-11-24 25:00").is_err());
    }
}
