//! The text forms a release response uses: key ids as UUIDs, measurements as hex digests.

use super::ReleaseError;

/// Length of a SHA-384 digest.
const SHA384_LEN: usize = 48;
/// Positions of the hyphens in a UUID's text form (8-4-4-4-12).
const UUID_HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// Parses a key id in the UUID text form (`8-4-4-4-12` hex digits, hyphenated, either case)
/// into its 16 bytes, as [`ReleaseInfo::new`](super::ReleaseInfo::new) and
/// [`decrypt_record`](super::decrypt_record) take it.
///
/// # Errors
/// [`ReleaseError::MalformedKeyId`] for anything else (braces, `urn:uuid:`, no hyphens).
pub fn uuid_bytes(text: &str) -> Result<[u8; 16], ReleaseError> {
    let text = text.as_bytes();
    if text.len() != 36 || UUID_HYPHENS.iter().any(|&i| text[i] != b'-') {
        return Err(ReleaseError::MalformedKeyId);
    }
    let digits = text.iter().copied().filter(|&c| c != b'-');
    decode_hex(digits).ok_or(ReleaseError::MalformedKeyId)
}

/// Formats a key id's 16 bytes as a lower-case hyphenated UUID.
#[must_use]
pub fn uuid_text(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        push_hex(&mut out, *byte);
    }
    out
}

/// Parses a SHA-384 digest given as `sha384:<96 hex digits>` (as `kastell` prints
/// measurements; the prefix in any case) or as the 96 hex digits alone, either case.
///
/// # Errors
/// [`ReleaseError::MalformedSha384`] for anything else.
pub fn parse_sha384(text: &str) -> Result<[u8; SHA384_LEN], ReleaseError> {
    const PREFIX: &str = "sha384:";
    let hex = match text.get(..PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(PREFIX) => &text[PREFIX.len()..],
        _ => text,
    };
    if hex.len() != 2 * SHA384_LEN {
        return Err(ReleaseError::MalformedSha384);
    }
    decode_hex(hex.bytes()).ok_or(ReleaseError::MalformedSha384)
}

/// Decodes exactly `2 * N` hex digits into `N` bytes; `None` on a non-digit or another count.
fn decode_hex<const N: usize>(mut digits: impl Iterator<Item = u8>) -> Option<[u8; N]> {
    let mut out = [0; N];
    for byte in &mut out {
        let high = nibble(digits.next()?)?;
        let low = nibble(digits.next()?)?;
        *byte = (high << 4) | low;
    }
    digits.next().is_none().then_some(out)
}

/// The value of one hex digit, either case.
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Appends `byte` as two lower-case hex digits.
fn push_hex(out: &mut String, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(char::from(DIGITS[usize::from(byte >> 4)]));
    out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_parse_in_either_case_and_format_back() {
        let text = "0f8e6a3c-1b2d-4e5f-8a9b-0c1d2e3f4a5b";
        let bytes = uuid_bytes(text).expect("valid");
        assert_eq!(bytes[0], 0x0f);
        assert_eq!(bytes[15], 0x5b);
        assert_eq!(uuid_bytes(&text.to_uppercase()).expect("upper case"), bytes);
        assert_eq!(uuid_text(&bytes), text);
    }

    #[test]
    fn malformed_uuids_are_refused() {
        for bad in [
            "",
            "0f8e6a3c1b2d4e5f8a9b0c1d2e3f4a5b",
            "{0f8e6a3c-1b2d-4e5f-8a9b-0c1d2e3f4a5b}",
            "0f8e6a3c-1b2d-4e5f-8a9b-0c1d2e3f4a5g",
            "0f8e6a3c-1b2d-4e5f-8a9b0-c1d2e3f4a5b",
            "0f8e6a3c-1b2d-4e5f-8a9b-0c1d2e3f4a5b0",
            "0f8e6a3c-1b2d-4e5f-8a9b-0c1d2e3f4a5é",
        ] {
            assert!(
                matches!(uuid_bytes(bad), Err(ReleaseError::MalformedKeyId)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sha384_digests_parse_with_or_without_prefix() {
        let hex = "ab".repeat(48);
        let expected = [0xab; 48];
        assert_eq!(parse_sha384(&hex).expect("bare"), expected);
        assert_eq!(
            parse_sha384(&format!("sha384:{hex}")).expect("prefixed"),
            expected
        );
        let upper = format!("SHA384:{}", hex.to_uppercase());
        assert_eq!(parse_sha384(&upper).expect("upper case"), expected);
        for bad in [
            String::new(),
            "sha384:".into(),
            "ab".repeat(47),
            "ab".repeat(49),
            format!("sha256:{hex}"),
            format!("sha384:{}zz", "ab".repeat(47)),
            format!("sha384: {hex}"),
            format!("é{}", "a".repeat(94)),
        ] {
            assert!(
                matches!(parse_sha384(&bad), Err(ReleaseError::MalformedSha384)),
                "{bad:?}"
            );
        }
    }
}
