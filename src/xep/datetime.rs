//! XEP-0082 date-time strings (`2026-11-21T05:14:00Z`) from Unix seconds, without a
//! calendar library: the civil-from-days algorithm of H. Hinnant, exact for the
//! proleptic Gregorian calendar.

/// Formats seconds since the Unix epoch as a UTC XEP-0082 DateTime.
pub fn format(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Written digit by digit: this runs once per row of every peers answer, and the
    // formatting machinery costs more than the arithmetic above.
    let mut out = String::with_capacity(20);
    push_digits(&mut out, year.clamp(0, 9999) as u64, 4);
    out.push('-');
    push_digits(&mut out, month as u64, 2);
    out.push('-');
    push_digits(&mut out, day as u64, 2);
    out.push('T');
    push_digits(&mut out, hour, 2);
    out.push(':');
    push_digits(&mut out, minute, 2);
    out.push(':');
    push_digits(&mut out, second, 2);
    out.push('Z');
    out
}

/// Parses a UTC XEP-0082 DateTime (`2026-11-21T05:14:00Z`, fractions of a second
/// ignored) into seconds since the Unix epoch; `None` if it is not one.
pub fn parse(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !text.ends_with('Z') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from civil (H. Hinnant), the inverse of `format`.
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(secs).ok()
}

fn push_digits(out: &mut String, value: u64, width: u32) {
    for position in (0..width).rev() {
        let digit = (value / 10u64.pow(position)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_inverts_format() {
        for secs in [0, 951_782_400, 1_700_000_000, 1_764_374_399, 4_102_444_800] {
            assert_eq!(parse(&format(secs)), Some(secs), "{}", format(secs));
        }
        assert_eq!(
            parse("2026-11-28T12:00:00.123Z"),
            parse("2026-11-28T12:00:00Z")
        );
        for bad in [
            "",
            "2026-11-28",
            "2026-13-01T00:00:00Z",
            "2026-11-28T12:00:00+01:00",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn known_instants() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_795_238_040), "2026-11-21T05:14:00Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn parses_back_with_xmpp_parsers() {
        use std::str::FromStr;
        for secs in [0u64, 86_399, 1_000_000_000, 1_795_238_040] {
            let parsed = xmpp_parsers::date::DateTime::from_str(&format(secs)).unwrap();
            assert_eq!(parsed.0.timestamp(), secs as i64);
        }
    }
}
