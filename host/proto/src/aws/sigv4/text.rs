//! The text of SigV4: query strings percent-decoded and re-encoded as the canonical
//! request wants them, and the `X-Amz-Date` format read and written (UTC, proleptic
//! Gregorian, without a date library: this crate is `no_std`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The query string's pairs, percent-decoded (`+` is a space), in their order.
///
/// # Errors
/// A pair that is not UTF-8 once decoded, or a `%` not followed by two hexadecimal digits.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((decode(key)?, decode(value)?));
    }
    Ok(pairs)
}

/// The canonical query string: every pair but `skip` decoded, re-encoded as SigV4 says
/// (everything but `A–Z a–z 0–9 - _ . ~` as `%XY`), sorted by key then value, joined with
/// `&`.
///
/// # Errors
/// As [`query_pairs`].
pub fn canonical_query(query: &str, skip: Option<&str>) -> Result<String, String> {
    let mut pairs: Vec<(String, String)> = query_pairs(query)?
        .into_iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .map(|(k, v)| (encode(&k), encode(&v)))
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(query.len());
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    Ok(out)
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex_digit = |at: usize| {
                    bytes
                        .get(at)
                        .and_then(|&d| char::from(d).to_digit(16))
                        .and_then(|d| u8::try_from(d).ok())
                };
                let (Some(high), Some(low)) = (hex_digit(i + 1), hex_digit(i + 2)) else {
                    return Err(format!(
                        "'{}' has a % not followed by two hexadecimal digits",
                        shorten(text)
                    ));
                };
                out.push(high << 4 | low);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{}' is not UTF-8 once decoded", shorten(text)))
}

fn encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// At most 64 characters of client text in a message.
pub(super) fn shorten(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((at, _)) => text.get(..at).unwrap_or(text),
        None => text,
    }
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian; Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYYMMDD'T'HHMMSS'Z'` as Unix seconds; `None` unless it is exactly that, a real date
/// and time.
#[must_use]
pub fn parse_amz_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes.get(8) != Some(&b'T') || bytes.get(15) != Some(&b'Z') {
        return None;
    }
    let number = |range: core::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z, Unix seconds: the dates the format has.
const FIRST: i64 = -62_167_219_200;
const LAST: i64 = 253_402_300_799;

/// Unix seconds as `YYYYMMDD'T'HHMMSS'Z'`, clamped to the years 0000–9999 the format has.
#[must_use]
pub fn amz_date(seconds: i64) -> String {
    let seconds = seconds.clamp(FIRST, LAST);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
