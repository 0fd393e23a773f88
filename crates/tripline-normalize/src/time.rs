//! Dates as the pipeline's `date` processors read and write them: Elasticsearch's `ISO8601`
//! (plus `basic_date_time[_no_millis]`) in, `yyyy-MM-dd'T'HH:mm:ss.SSSZ` in UTC out.

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_len(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as u32;
        }
        self.i += n;
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Fraction digits → milliseconds (truncated; Elasticsearch keeps nanoseconds but prints
/// milliseconds, which truncates too).
fn fraction(c: &mut Cur) -> Option<i64> {
    let start = c.i;
    let mut ms = 0i64;
    let mut n = 0;
    while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
        if n < 3 {
            ms = ms * 10 + (d - b'0') as i64;
        }
        n += 1;
        c.i += 1;
    }
    if c.i == start || n > 9 {
        return None;
    }
    for _ in n..3 {
        ms *= 10;
    }
    Some(ms)
}

/// Zone: `Z`, `+HH`, `+HHMM`, `+HH:MM`; returns the offset in minutes. None = no zone given.
fn zone(c: &mut Cur, colon_allowed: bool) -> Result<Option<i64>, ()> {
    match c.peek() {
        None => Ok(None),
        Some(b'Z') => {
            c.i += 1;
            Ok(Some(0))
        }
        Some(s @ (b'+' | b'-')) => {
            c.i += 1;
            let h = c.digits(2).ok_or(())? as i64;
            let mut m = 0i64;
            if !c.done() {
                if colon_allowed {
                    c.eat(b':');
                }
                m = c.digits(2).ok_or(())? as i64;
            }
            if h > 18 || m > 59 {
                return Err(());
            }
            let off = h * 60 + m;
            Ok(Some(if s == b'-' { -off } else { off }))
        }
        _ => Err(()),
    }
}

#[allow(clippy::too_many_arguments)] // the date fields, named as parsed
fn assemble(
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    ms: i64,
    off_min: i64,
) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > month_len(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86400 + h as i64 * 3600 + mi as i64 * 60 + s as i64 - off_min * 60;
    Some(secs * 1000 + ms)
}

/// Elasticsearch's `iso8601` date format (`yyyy-MM-dd['T'HH[:mm[:ss[.S…]]]][zone]`, no zone =
/// UTC) → epoch milliseconds.
pub(crate) fn parse_iso8601(s: &str) -> Option<i64> {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    let y = c.digits(4)? as i64;
    let (mut mo, mut d) = (1, 1);
    let (mut h, mut mi, mut sec, mut ms) = (0, 0, 0, 0i64);
    if c.eat(b'-') {
        mo = c.digits(2)?;
        if c.eat(b'-') {
            d = c.digits(2)?;
            if c.eat(b'T') {
                h = c.digits(2)?;
                if c.eat(b':') {
                    mi = c.digits(2)?;
                    if c.eat(b':') {
                        sec = c.digits(2)?;
                        if c.eat(b'.') || c.eat(b',') {
                            ms = fraction(&mut c)?;
                        }
                    }
                }
            }
        }
    }
    let off = zone(&mut c, true).ok()?.unwrap_or(0);
    if !c.done() {
        return None;
    }
    assemble(y, mo, d, h, mi, sec, ms, off)
}

/// Exports and data lakes (Athena, CloudTrail Lake, SIEM exports) often write `eventTime` as
/// `yyyy-MM-dd HH:mm:ss[.fffffffff]`: read it as ISO-8601 with a space for the `T` (UTC), so
/// such records are not lost. Elastic's pipeline would reject them; nothing else changes.
pub(crate) fn parse_export(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() > 10 && b[10] == b' ' {
        let mut t = String::with_capacity(s.len());
        t.push_str(&s[..10]);
        t.push('T');
        t.push_str(s[11..].trim_end());
        parse_iso8601(&t)
    } else {
        None
    }
}

/// `basic_date_time` (`yyyyMMdd'T'HHmmss.SSSZ`) and `basic_date_time_no_millis`
/// (`yyyyMMdd'T'HHmmssZ`); the zone is required.
pub(crate) fn parse_basic(s: &str) -> Option<i64> {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    let y = c.digits(4)? as i64;
    let mo = c.digits(2)?;
    let d = c.digits(2)?;
    if !c.eat(b'T') {
        return None;
    }
    let h = c.digits(2)?;
    let mi = c.digits(2)?;
    let sec = c.digits(2)?;
    let mut ms = 0;
    if c.eat(b'.') {
        ms = fraction(&mut c)?;
    }
    let off = zone(&mut c, true).ok()??;
    if !c.done() {
        return None;
    }
    assemble(y, mo, d, h, mi, sec, ms, off)
}

/// Epoch milliseconds → `2014-07-16T15:49:27.000Z`.
/// `n` (non-negative, below 10^w) in `w` digits, zero-padded.
fn digits_into(out: &mut String, n: i64, w: u32) {
    for p in (0..w).rev() {
        out.push(char::from(b'0' + (n / 10i64.pow(p) % 10) as u8));
    }
}

pub(crate) fn format_millis(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    if (0..=9999).contains(&y) {
        // Fixed width: written digit by digit (`format!` is a measurable share of a record).
        let mut out = String::with_capacity(24);
        digits_into(&mut out, y, 4);
        out.push('-');
        digits_into(&mut out, m as i64, 2);
        out.push('-');
        digits_into(&mut out, d as i64, 2);
        out.push('T');
        digits_into(&mut out, h, 2);
        out.push(':');
        digits_into(&mut out, mi, 2);
        out.push(':');
        digits_into(&mut out, s, 2);
        out.push('.');
        digits_into(&mut out, milli, 3);
        out.push('Z');
        out
    } else {
        format!("{y:+}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_event_times_with_a_space() {
        assert_eq!(
            parse_export("2025-03-26 16:43:57.000000000"),
            parse_iso8601("2025-03-26T16:43:57Z")
        );
        assert_eq!(parse_export("2025-03-26T16:43:57Z"), None);
        assert_eq!(parse_export("2025-03-26 junk"), None);
    }

    #[test]
    fn iso_forms() {
        let base = parse_iso8601("2014-07-16T15:49:27Z").unwrap();
        assert_eq!(format_millis(base), "2014-07-16T15:49:27.000Z");
        assert_eq!(parse_iso8601("2014-07-16T15:49:27.5Z"), Some(base + 500));
        assert_eq!(
            parse_iso8601("2014-07-16T15:49:27.123456789Z"),
            Some(base + 123)
        );
        assert_eq!(parse_iso8601("2014-07-16T17:49:27+02:00"), Some(base));
        assert_eq!(parse_iso8601("2014-07-16T17:49:27+0200"), Some(base));
        assert_eq!(parse_iso8601("2014-07-16T15:49:27"), Some(base));
        assert_eq!(
            format_millis(parse_iso8601("2014-07-16").unwrap()),
            "2014-07-16T00:00:00.000Z"
        );
        assert_eq!(parse_iso8601("2014-02-30T00:00:00Z"), None);
        assert_eq!(parse_iso8601("-"), None);
        assert_eq!(parse_iso8601("2014-07-16T15:49:27Zjunk"), None);
        assert_eq!(parse_iso8601("2014-07-16 15:49:27Z"), None);
    }

    #[test]
    fn basic_forms() {
        assert_eq!(
            format_millis(parse_basic("20131102T010628Z").unwrap()),
            "2013-11-02T01:06:28.000Z"
        );
        assert_eq!(
            format_millis(parse_basic("20131102T010628.250Z").unwrap()),
            "2013-11-02T01:06:28.250Z"
        );
        assert_eq!(parse_basic("20131102T010628"), None);
    }

    #[test]
    fn civil_roundtrip() {
        for days in [-800_000i64, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
    }
}
