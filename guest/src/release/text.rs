//! The text forms a release response uses: key ids as UUIDs, measurements as hex digests.

use super::ReleaseError;

use kastell_proto::KeyId;

/// Length of a SHA-384 digest.
const SHA384_LEN: usize = 48;

/// Parses a key id in the UUID text form (`8-4-4-4-12` hex digits, hyphenated, either case)
/// into its 16 bytes, as [`ReleaseInfo::new`](super::ReleaseInfo::new) and
/// [`decrypt_record`](super::decrypt_record) take it.
///
/// # Errors
/// [`ReleaseError::MalformedKeyId`] for anything else (braces, `urn:uuid:`, no hyphens).
pub fn uuid_bytes(text: &str) -> Result<[u8; 16], ReleaseError> {
    text.parse::<KeyId>()
        .map(|id| *id.as_bytes())
        .map_err(|_| ReleaseError::MalformedKeyId)
}

/// Formats a key id's 16 bytes as a lower-case hyphenated UUID.
#[must_use]
pub fn uuid_text(bytes: &[u8; 16]) -> String {
    KeyId::from_bytes(*bytes).to_string()
}

/// Parses a SHA-384 digest given as `sha384:<96 hex digits>` (as `kastell` prints
/// measurements; the prefix in any case) or as the 96 hex digits alone, either case.
///
/// # Errors
/// [`ReleaseError::MalformedSha384`] for anything else.
pub fn parse_sha384(text: &str) -> Result<[u8; SHA384_LEN], ReleaseError> {
    const PREFIX: &str = "sha384:";
    let digits = match text.get(..PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(PREFIX) => &text[PREFIX.len()..],
        _ => text,
    };
    let mut out = [0; SHA384_LEN];
    hex::decode_to_slice(digits, &mut out).map_err(|_| ReleaseError::MalformedSha384)?;
    Ok(out)
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
