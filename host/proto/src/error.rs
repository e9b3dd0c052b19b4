//! Error codes: the one table that gives each refusal or failure its stable name (the
//! API's `error` member and the first word a command prints), its HTTP status and the
//! `kastell` command's exit code. A command run locally and the same command run with
//! `--profile` against a server exit with the same code, because both read it here.

use core::fmt;
use core::str::FromStr;

use crate::UnknownName;

/// Exit code: refused (the request was understood and said no).
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: bad input or options.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the host, the server or the network failed.
pub const EXIT_FAILED: u8 = 3;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident => $status:literal, $exit:ident; )*) => {
        /// A stable error name, as the API and the command line write it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $name, )*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [Self] = &[$(Self::$name),*];

            /// Every code's name, in table order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// The stable name (`NotFound`, `AccessDenied`, …).
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$name => stringify!($name),)* }
            }

            /// The HTTP status the API answers with.
            #[must_use]
            pub const fn http_status(self) -> u16 {
                match self { $(Self::$name => $status,)* }
            }

            /// The `kastell` command's exit code: [`EXIT_REFUSED`], [`EXIT_USAGE`] or
            /// [`EXIT_FAILED`].
            #[must_use]
            pub const fn exit_code(self) -> u8 {
                match self { $(Self::$name => $exit,)* }
            }
        }
    };
}

error_codes! {
    /// No such key, alias, policy, operation or other named thing.
    NotFound => 404, EXIT_REFUSED;
    /// The key is disabled.
    Disabled => 409, EXIT_REFUSED;
    /// The key's or operation's state forbids what was asked.
    InvalidState => 409, EXIT_REFUSED;
    /// The key's usage does not allow the operation.
    InvalidKeyUsage => 400, EXIT_REFUSED;
    /// The key spec cannot be had as asked: a usage the spec does not allow, a spec the
    /// token cannot hold (`origin = token`), or an operation not yet offered for the spec.
    UnsupportedSpec => 400, EXIT_REFUSED;
    /// The algorithm or message type is not one the key's spec and usage allow, or the key
    /// needs one named.
    UnsupportedAlgorithm => 400, EXIT_REFUSED;
    /// The ciphertext is malformed or not authentic under this key and context.
    InvalidCiphertext => 400, EXIT_REFUSED;
    /// The ciphertext names another key than the one asked for (also: a backup sealed to
    /// other recipients than the key a token holds, "no recipient key fits").
    IncorrectKey => 400, EXIT_REFUSED;
    /// An import token (AWS's `ImportToken`) is past its 24 hours.
    ExpiredImportToken => 400, EXIT_REFUSED;
    /// An import token is not one Kastell made, or was made for another key, wrapping key
    /// or wrapping algorithm.
    InvalidImportToken => 400, EXIT_REFUSED;
    /// Imported key material is not a key of the key's spec, or is not the material the
    /// key held before.
    IncorrectKeyMaterial => 400, EXIT_REFUSED;
    /// Role, policy or quorum refused.
    AccessDenied => 403, EXIT_REFUSED;
    /// No (valid) client identity.
    Unauthenticated => 401, EXIT_REFUSED;
    /// A name the caller chose is taken.
    AlreadyExists => 409, EXIT_REFUSED;
    /// A concurrent change won; try again.
    Conflict => 409, EXIT_REFUSED;
    /// A limit of what one resource may hold is reached (e.g. the tags of a key through
    /// the AWS-compatible endpoint).
    LimitExceeded => 409, EXIT_REFUSED;
    /// A pending operation or challenge expired.
    Expired => 409, EXIT_REFUSED;
    /// An officer's approval signature does not verify.
    InvalidSignature => 400, EXIT_REFUSED;
    /// A release challenge's nonce is unknown, used, expired or not the caller's.
    InvalidNonce => 403, EXIT_REFUSED;
    /// An attestation does not verify or is not accepted.
    AttestationRejected => 403, EXIT_REFUSED;
    /// Stored data fails its integrity check: a broken audit chain, a stored component
    /// that does not hash to its name (damage or tampering).
    TamperDetected => 409, EXIT_REFUSED;
    /// A certificate, CA or client-identity operation was refused.
    InvalidCertificate => 400, EXIT_REFUSED;
    /// A workload returned an error.
    WorkloadError => 422, EXIT_REFUSED;
    /// A workload trapped or ran out of a limit.
    WorkloadFault => 422, EXIT_REFUSED;
    /// The caller's input is malformed.
    InvalidInput => 400, EXIT_USAGE;
    /// An AWS key policy document is malformed, too large, names an unknown condition
    /// operator, or would lock its setter out.
    MalformedPolicyDocument => 400, EXIT_USAGE;
    /// A policy component is refused at load (`policy check` exits 1: "invalid").
    InvalidPolicy => 400, EXIT_REFUSED;
    /// A workload component is refused at load.
    InvalidWorkload => 400, EXIT_REFUSED;
    /// A request body is not JSON.
    MalformedJson => 400, EXIT_USAGE;
    /// A JSON body does not fit the request's schema.
    InvalidRequest => 422, EXIT_USAGE;
    /// A base64 field does not decode.
    InvalidBase64 => 400, EXIT_USAGE;
    /// The body's content type is not the one the endpoint takes.
    UnsupportedMediaType => 415, EXIT_USAGE;
    /// The body is larger than the server's limit.
    PayloadTooLarge => 413, EXIT_USAGE;
    /// The endpoint does not take this method.
    MethodNotAllowed => 405, EXIT_USAGE;
    /// The caller is over a quota of its own (e.g. open release challenges per client):
    /// it must use or let expire what it holds before asking again.
    Throttled => 429, EXIT_REFUSED;
    /// Too many open release challenges; try again shortly.
    TooManyChallenges => 503, EXIT_FAILED;
    /// The store (the PostgreSQL database) cannot be reached: nothing was done; try again
    /// shortly.
    StoreUnavailable => 503, EXIT_FAILED;
    /// A file or folder the host trusts (its data directory, store, soft token, compiled
    /// artifacts) may be written by others than its owner: the host refuses to use it.
    InsecurePermissions => 500, EXIT_FAILED;
    /// A token-resident key's material is not on this host's token (hosts of one
    /// deployment that do not share their token: the key was made on another host).
    KeyUnavailable => 500, EXIT_FAILED;
    /// The host failed; the cause is in its log.
    Internal => 500, EXIT_FAILED;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == name)
            .ok_or_else(|| UnknownName::new("error code", name, Self::NAMES))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <alloc::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_code() {
        for &code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
        }
        let err = "Nope".parse::<ErrorCode>().expect_err("unknown");
        assert!(
            alloc::format!("{err}").starts_with("unknown error code `Nope`: one of NotFound, ")
        );
    }

    #[test]
    fn statuses_and_exit_codes_follow_the_documented_classes() {
        assert_eq!(ErrorCode::NotFound.http_status(), 404);
        assert_eq!(ErrorCode::AccessDenied.http_status(), 403);
        assert_eq!(ErrorCode::Internal.http_status(), 500);
        // Refusals exit 1, bad input 2, failures 3 (README, "Exit codes").
        assert_eq!(ErrorCode::InvalidCiphertext.exit_code(), EXIT_REFUSED);
        assert_eq!(ErrorCode::AccessDenied.exit_code(), EXIT_REFUSED);
        assert_eq!(ErrorCode::InvalidInput.exit_code(), EXIT_USAGE);
        assert_eq!(ErrorCode::MalformedJson.exit_code(), EXIT_USAGE);
        assert_eq!(ErrorCode::Internal.exit_code(), EXIT_FAILED);
        for &code in ErrorCode::ALL {
            let status = code.http_status();
            match code.exit_code() {
                EXIT_FAILED => assert!(status >= 500, "{code} {status}"),
                _ => assert!((400..500).contains(&status), "{code} {status}"),
            }
        }
    }
}
