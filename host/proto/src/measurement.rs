//! The measurement of a component: SHA-384 of its exact bytes.

use alloc::string::String;
use core::fmt;
use core::str::FromStr;

use sha2::{Digest as _, Sha384};

/// The prefix of a measurement's text form.
const PREFIX: &str = "sha384:";

/// SHA-384 of the exact bytes of a component (policy or workload).
///
/// Displayed and parsed as `sha384:<96 lower-case hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Measurement([u8; 48]);

impl Measurement {
    /// Length of the digest in bytes.
    pub const LEN: usize = 48;

    /// Measures `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha384::digest(bytes).into())
    }

    /// Wraps a digest computed elsewhere.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 48]) -> Self {
        Self(bytes)
    }

    /// The digest's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 48] {
        &self.0
    }

    /// The digest as 96 lower-case hex digits, without the `sha384:` prefix.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.to_hex())
    }
}

impl fmt::Debug for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Measurement({self})")
    }
}

/// Why a text is not a measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseMeasurementError {
    /// The text does not start with `sha384:`.
    MissingPrefix,
    /// The digest is not 96 hex digits.
    WrongLength(usize),
    /// The digest holds something other than hex digits.
    NotHex,
}

impl fmt::Display for ParseMeasurementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingPrefix => f.write_str("a measurement starts with `sha384:`"),
            Self::WrongLength(len) => write!(
                f,
                "a SHA-384 measurement has 96 hex digits, found {len} characters"
            ),
            Self::NotHex => f.write_str("a measurement's digest holds only hex digits"),
        }
    }
}

impl core::error::Error for ParseMeasurementError {}

impl FromStr for Measurement {
    type Err = ParseMeasurementError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix(PREFIX)
            .ok_or(ParseMeasurementError::MissingPrefix)?;
        if digits.len() != 2 * Self::LEN {
            return Err(ParseMeasurementError::WrongLength(digits.len()));
        }
        let mut bytes = [0u8; 48];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| ParseMeasurementError::NotHex)?;
        Ok(Self(bytes))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Measurement {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Measurement {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <alloc::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
#[cfg(test)]
mod tests {
    use alloc::string::ToString as _;

    use super::*;

    /// SHA-384 of the empty string, FIPS 180-4 example value.
    const EMPTY: &str = "sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b";

    #[test]
    fn measures_known_answer_and_round_trips_text() {
        let m = Measurement::of(b"");
        assert_eq!(m.to_string(), EMPTY);
        assert_eq!(EMPTY.parse::<Measurement>(), Ok(m));
    }

    #[test]
    fn parse_accepts_upper_case_hex_and_prints_lower_case() {
        let upper = EMPTY.replace("sha384:", "").to_uppercase();
        let m: Measurement = alloc::format!("sha384:{upper}").parse().expect("valid");
        assert_eq!(m.to_string(), EMPTY);
    }

    #[test]
    fn parse_rejects_each_malformed_class() {
        assert_eq!(
            "sha256:00".parse::<Measurement>(),
            Err(ParseMeasurementError::MissingPrefix)
        );
        assert_eq!(
            "sha384:abcd".parse::<Measurement>(),
            Err(ParseMeasurementError::WrongLength(4))
        );
        let not_hex = alloc::format!("sha384:{}", "zz".repeat(48));
        assert_eq!(
            not_hex.parse::<Measurement>(),
            Err(ParseMeasurementError::NotHex)
        );
    }
}
