//! `PaidAt` as Omnicasa writes it: its documented `yyyy-MM-dd HH:mm:ss` (a wall-clock time of
//! the tenant's zone) or ISO 8601 as .NET writes it, read into the domain's [`ReportedTime`]. The
//! zone is the ledger's to apply (it reads the tenant's setting in the report's transaction).

use chrono::{FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use paystate_domain::order_report::ReportedTime;

/// Reads `yyyy-MM-dd HH:mm:ss` (Omnicasa's documented format, local time) and ISO 8601
/// (`T` or a space between date and time, up to 7 fractional digits as .NET writes them,
/// and an optional `Z` or `±HH:MM` offset; without one the time is local).
pub fn paid_at(text: &str) -> Option<ReportedTime> {
    let text = text.trim_matches(is_xml_space);
    let bytes = text.as_bytes();
    // The fixed-width part must be ASCII, so that slicing it by byte index never splits a character.
    if bytes.len() < 19 || !bytes[..19].is_ascii() || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let date = parse_fixed(&text[..10], "dddd-dd-dd")?;
    let time = parse_fixed(&text[11..19], "dd:dd:dd")?;
    if date[0] == 0 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(date[0] as i32, date[1], date[2])?;
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=7).contains(&digits) {
            return None;
        }
        let padded = format!("{:0<9}", &fraction[..digits]);
        nanos = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let time = NaiveTime::from_hms_nano_opt(time[0], time[1], time[2], nanos)?;
    let local = date.and_time(time);
    if rest.is_empty() {
        return Some(ReportedTime::Local(local));
    }
    let offset = if rest.eq_ignore_ascii_case("z") {
        0
    } else {
        let sign = match rest.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let hm = parse_fixed(&rest[1..], "dd:dd")?;
        if hm[0] > 14 || hm[1] > 59 || (hm[0] == 14 && hm[1] > 0) {
            return None;
        }
        sign * (hm[0] * 3600 + hm[1] * 60) as i32
    };
    let offset = FixedOffset::east_opt(offset)?;
    offset.from_local_datetime(&local).single().map(|at| ReportedTime::Exact(at.with_timezone(&Utc)))
}

/// Digits where `pattern` has `d`, the other characters as they are; answers the numbers.
fn parse_fixed(text: &str, pattern: &str) -> Option<Vec<u32>> {
    if text.len() != pattern.len() {
        return None;
    }
    let mut numbers = Vec::new();
    let mut current: Option<u32> = None;
    for (c, p) in text.bytes().zip(pattern.bytes()) {
        if p == b'd' {
            if !c.is_ascii_digit() {
                return None;
            }
            current = Some(current.unwrap_or(0) * 10 + u32::from(c - b'0'));
        } else {
            if c != p {
                return None;
            }
            numbers.extend(current.take());
        }
    }
    numbers.extend(current);
    Some(numbers)
}

pub(super) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystate_domain::order_report::Tz;

    #[test]
    fn non_ascii_in_the_fixed_width_part_is_refused_not_a_panic() {
        for text in [
            "2025-01-01 00:00:0é",
            "2025-01-01 00:00:é0",
            "2025-01-0é 00:00:00",
            "２０２５-01-01 00:00:00",
            "2025-01-01 00:00:00é",
        ] {
            assert_eq!(paid_at(text), None, "{text}");
        }
    }

    #[test]
    fn paid_at_formats() {
        let brussels = Tz::Europe__Brussels;
        let at = |text: &str| paid_at(text).map(|p| p.instant(brussels).to_rfc3339());
        // Winter (UTC+1) and summer (UTC+2) wall-clock times.
        assert_eq!(at("2020-11-25 14:30:00").as_deref(), Some("2020-11-25T13:30:00+00:00"));
        assert_eq!(at("2021-07-01 14:30:00").as_deref(), Some("2021-07-01T12:30:00+00:00"));
        assert_eq!(at("2021-07-01T14:30:00").as_deref(), Some("2021-07-01T12:30:00+00:00"));
        assert_eq!(at("2021-07-01T14:30:00Z").as_deref(), Some("2021-07-01T14:30:00+00:00"));
        assert_eq!(at("2021-07-01T14:30:00.1234567-05:30").as_deref(), Some("2021-07-01T20:00:00.123456+00:00"));
        // The clocks go back on 2025-10-26 at 03:00 CEST: 02:30 happens twice; the first counts.
        assert_eq!(at("2025-10-26 02:30:00").as_deref(), Some("2025-10-26T00:30:00+00:00"));
        // The clocks go forward on 2025-03-30 at 02:00 CET: 02:30 does not exist; read as 03:30 CEST.
        assert_eq!(at("2025-03-30 02:30:00").as_deref(), Some("2025-03-30T01:30:00+00:00"));
        assert_eq!(at("2025-03-30 03:30:00").as_deref(), Some("2025-03-30T01:30:00+00:00"));
        for bad in [
            "2020-11-25",
            "2020-11-25 14:30",
            "2020-13-25 14:30:00",
            "2020-02-30 14:30:00",
            "2020-11-25 24:00:00",
            "2020-11-25 14:30:60",
            "2020-11-25T14:30:00.12345678Z",
            "2020-11-25T14:30:00.Z",
            "2020-11-25T14:30:00+15:00",
            "2020-11-25T14:30:00+0100",
            "25/11/2020 14:30:00",
            "0000-01-01 00:00:00",
        ] {
            assert_eq!(paid_at(bad), None, "{bad}");
        }
        // XML whitespace around the value is not part of it.
        assert_eq!(at("\n  2020-11-25 14:30:00 ").as_deref(), Some("2020-11-25T13:30:00+00:00"));
    }
}
