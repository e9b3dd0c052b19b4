//! The AWS KMS wire protocol (JSON 1.1, `X-Amz-Target: TrentService.<Operation>`) as the
//! AWS-compatible endpoint speaks it: the exceptions with their HTTP statuses, mapped from
//! Kastell's [`ErrorCode`] in one table, Kastell's key specs under AWS's names, and the
//! request and response members of each operation (`requests/`, one file per family),
//! with AWS's PascalCase field names.

use crate::{ErrorCode, KeySpec};
use alloc::{format, string::String};

#[cfg(feature = "aws-policy")]
pub mod grant;
#[cfg(feature = "aws-policy")]
pub mod policy;
mod requests;
pub mod sigv4;
pub mod sts;

pub use requests::*;

/// An AWS exception: the name the SDKs read from `__type` and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsException {
    /// No key, alias or resource with this name (400).
    NotFound,
    /// The key is disabled (400).
    Disabled,
    /// The key's state forbids the operation (400).
    KmsInvalidState,
    /// The key's usage does not allow the operation (400).
    InvalidKeyUsage,
    /// The ciphertext is malformed or not authentic (400).
    InvalidCiphertext,
    /// The ciphertext is for another key than the one named (400).
    IncorrectKey,
    /// The principal's role or the key's policy refuses (400).
    AccessDenied,
    /// The name is taken (400).
    AlreadyExists,
    /// A request field is invalid (400).
    Validation,
    /// An argument is invalid (400).
    InvalidArn,
    /// The alias name is invalid (400).
    InvalidAliasName,
    /// The request body is not valid JSON of the operation's shape (400).
    Serialization,
    /// The operation is not one Kastell serves (400).
    UnsupportedOperation,
    /// `X-Amz-Target` names no operation (400).
    UnknownOperation,
    /// The access key id is unknown or revoked (400).
    UnrecognizedClient,
    /// The signature does not match, or is expired, or its scope is wrong (400).
    InvalidSignature,
    /// The `Authorization` header is malformed (400).
    IncompleteSignature,
    /// No `Authorization` header (400).
    MissingAuthenticationToken,
    /// Administration that waits for officers' approvals (400; see the README).
    PendingApproval,
    /// The request was throttled (400).
    Throttling,
    /// `DryRun` was set and the request would have succeeded (412).
    DryRunOperation,
    /// `Verify`: the signature is not valid for the message, key and algorithm (400).
    KmsInvalidSignature,
    /// `VerifyMac`: the MAC is not valid for the message, key and algorithm (400).
    KmsInvalidMac,
    /// A tag is not valid: its key or value length, or a reserved `aws:` key (400).
    Tag,
    /// A `Marker` is not one a previous page returned (400).
    InvalidMarker,
    /// A limit is reached, e.g. the tags one key holds (400).
    LimitExceeded,
    /// A key policy document is not valid (400).
    MalformedPolicyDocument,
    /// A grant token is not valid (400).
    InvalidGrantToken,
    /// A grant id is not valid (400).
    InvalidGrantId,
    /// `ImportKeyMaterial`: the import token is past its 24 hours (400).
    ExpiredImportToken,
    /// `ImportKeyMaterial`: the import token is not valid for this key and wrapping (400).
    InvalidImportToken,
    /// `ImportKeyMaterial`: the material does not fit the key, or is not the material it
    /// held (400).
    IncorrectKeyMaterial,
    /// Kastell failed (500).
    KmsInternal,
    /// A service Kastell depends on (its database) did not answer; retry (503).
    DependencyTimeout,
    /// The key's material cannot be reached from this host (500).
    KeyUnavailable,
}

impl AwsException {
    /// The exception's name, as `__type` carries it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::NotFound => "NotFoundException",
            Self::Disabled => "DisabledException",
            Self::KmsInvalidState => "KMSInvalidStateException",
            Self::InvalidKeyUsage => "InvalidKeyUsageException",
            Self::InvalidCiphertext => "InvalidCiphertextException",
            Self::IncorrectKey => "IncorrectKeyException",
            Self::AccessDenied => "AccessDeniedException",
            Self::AlreadyExists => "AlreadyExistsException",
            Self::Validation => "ValidationException",
            Self::InvalidArn => "InvalidArnException",
            Self::InvalidAliasName => "InvalidAliasNameException",
            Self::Serialization => "SerializationException",
            Self::UnsupportedOperation => "UnsupportedOperationException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::InvalidSignature => "InvalidSignatureException",
            Self::IncompleteSignature => "IncompleteSignatureException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            // AWS KMS has no "pending approval" exception; the closest that SDKs treat as
            // a refusal of the key's current state (not as a client bug, not retried).
            Self::PendingApproval => "KMSInvalidStateException",
            Self::Throttling => "ThrottlingException",
            Self::DryRunOperation => "DryRunOperationException",
            Self::KmsInvalidSignature => "KMSInvalidSignatureException",
            Self::KmsInvalidMac => "KMSInvalidMacException",
            Self::Tag => "TagException",
            Self::InvalidMarker => "InvalidMarkerException",
            Self::LimitExceeded => "LimitExceededException",
            Self::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            Self::InvalidGrantToken => "InvalidGrantTokenException",
            Self::InvalidGrantId => "InvalidGrantIdException",
            Self::ExpiredImportToken => "ExpiredImportTokenException",
            Self::InvalidImportToken => "InvalidImportTokenException",
            Self::IncorrectKeyMaterial => "IncorrectKeyMaterialException",
            Self::KmsInternal => "KMSInternalException",
            Self::DependencyTimeout => "DependencyTimeoutException",
            Self::KeyUnavailable => "KeyUnavailableException",
        }
    }

    /// The HTTP status AWS answers it with.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            Self::KmsInternal | Self::KeyUnavailable => 500,
            Self::DependencyTimeout => 503,
            Self::DryRunOperation => 412,
            _ => 400,
        }
    }

    /// The exception for a Kastell error code: the one table between the two.
    #[must_use]
    pub const fn of(code: ErrorCode) -> Self {
        match code {
            ErrorCode::NotFound => Self::NotFound,
            ErrorCode::Disabled => Self::Disabled,
            ErrorCode::InvalidState | ErrorCode::Conflict | ErrorCode::Expired => {
                Self::KmsInvalidState
            }
            // AWS names an algorithm the key's spec does not allow an invalid key usage.
            ErrorCode::InvalidKeyUsage | ErrorCode::UnsupportedAlgorithm => Self::InvalidKeyUsage,
            ErrorCode::UnsupportedSpec => Self::UnsupportedOperation,
            ErrorCode::LimitExceeded => Self::LimitExceeded,
            ErrorCode::MalformedPolicyDocument => Self::MalformedPolicyDocument,
            ErrorCode::InvalidCiphertext | ErrorCode::TamperDetected => Self::InvalidCiphertext,
            ErrorCode::IncorrectKey => Self::IncorrectKey,
            ErrorCode::ExpiredImportToken => Self::ExpiredImportToken,
            ErrorCode::InvalidImportToken => Self::InvalidImportToken,
            ErrorCode::IncorrectKeyMaterial => Self::IncorrectKeyMaterial,
            ErrorCode::AccessDenied | ErrorCode::AttestationRejected | ErrorCode::InvalidNonce => {
                Self::AccessDenied
            }
            ErrorCode::Unauthenticated => Self::UnrecognizedClient,
            ErrorCode::AlreadyExists => Self::AlreadyExists,
            ErrorCode::InvalidSignature => Self::InvalidSignature,
            ErrorCode::MalformedJson | ErrorCode::InvalidBase64 => Self::Serialization,
            ErrorCode::Throttled | ErrorCode::TooManyChallenges => Self::Throttling,
            ErrorCode::Internal | ErrorCode::InsecurePermissions => Self::KmsInternal,
            ErrorCode::StoreUnavailable => Self::DependencyTimeout,
            ErrorCode::KeyUnavailable => Self::KeyUnavailable,
            _ => Self::Validation,
        }
    }
}

/// A Kastell key spec under AWS's name: `SYMMETRIC_DEFAULT` for AES-256, the same name for
/// every other spec (Kastell uses AWS's names).
#[must_use]
pub const fn aws_key_spec(spec: KeySpec) -> &'static str {
    match spec {
        KeySpec::Aes256 => "SYMMETRIC_DEFAULT",
        other => other.as_str(),
    }
}

/// `arn:aws:iam::<account>:user/<principal>`: the ARN of a Kastell principal at the AWS
/// endpoint (its access keys', STS GetCallerIdentity's answer, and the principal key
/// policies name).
#[must_use]
pub fn user_arn(account: &str, principal: &str) -> String {
    format!("arn:aws:iam::{account}:user/{principal}")
}

/// The Kastell key spec of an AWS name (every spec AWS KMS offers but `SM2`, Ed25519 and
/// ML-KEM); `Err` tells a spec AWS has and Kastell not from a name AWS does not have.
///
/// # Errors
/// An AWS spec without a Kastell counterpart, or a name AWS does not have.
pub fn kastell_key_spec(name: &str) -> Result<KeySpec, SpecError> {
    match name {
        "SYMMETRIC_DEFAULT" => Ok(KeySpec::Aes256),
        // Kastell's own names of the other specs are AWS's (`HMAC_384`, not the older
        // `HMAC_SHA384`, which AWS never had).
        "HMAC_SHA384" | "AES_256" => Err(SpecError::Unknown),
        "SM2" | "ECC_NIST_EDWARDS25519" | "ML_KEM_512" | "ML_KEM_768" | "ML_KEM_1024" => {
            Err(SpecError::NotSupported)
        }
        other => other.parse().map_err(|_| SpecError::Unknown),
    }
}

/// The AWS name of a data key pair spec Kastell generates (RSA and ECC pairs), or why not.
///
/// # Errors
/// A pair spec AWS has and Kastell not (`SM2`, Ed25519, ML-KEM), or a name AWS does not
/// have (an HMAC or ML-DSA spec is not a data key pair spec).
pub fn kastell_key_pair_spec(name: &str) -> Result<KeySpec, SpecError> {
    match name {
        "RSA_2048" | "RSA_3072" | "RSA_4096" | "ECC_NIST_P256" | "ECC_NIST_P384"
        | "ECC_NIST_P521" | "ECC_SECG_P256K1" => kastell_key_spec(name),
        "SM2" | "ECC_NIST_EDWARDS25519" | "ML_KEM_512" | "ML_KEM_768" | "ML_KEM_1024" => {
            Err(SpecError::NotSupported)
        }
        _ => Err(SpecError::Unknown),
    }
}

/// The deprecated `CustomerMasterKeySpec` of a key spec: the same name, absent for the
/// specs that came after it was deprecated (ML-DSA).
#[must_use]
pub const fn customer_master_key_spec(spec: KeySpec) -> Option<&'static str> {
    match spec {
        KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => None,
        other => Some(aws_key_spec(other)),
    }
}

/// Why an AWS key spec has no Kastell key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecError {
    /// AWS has it, Kastell not yet.
    NotSupported,
    /// AWS has no such spec.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_maps_to_an_aws_exception_with_a_4xx_or_5xx_status() {
        for &code in ErrorCode::ALL {
            let exception = AwsException::of(code);
            assert!(exception.name().ends_with("Exception"), "{code}");
            assert!(matches!(exception.status(), 400 | 500 | 503), "{code}");
        }
        assert_eq!(AwsException::of(ErrorCode::Internal).status(), 500);
        assert_eq!(
            AwsException::of(ErrorCode::NotFound).name(),
            "NotFoundException"
        );
        assert_eq!(
            AwsException::of(ErrorCode::InvalidCiphertext).name(),
            "InvalidCiphertextException"
        );
    }

    #[test]
    fn specs_map_both_ways_and_missing_ones_are_told_apart_from_unknown_ones() {
        for &spec in KeySpec::ALL {
            assert_eq!(kastell_key_spec(aws_key_spec(spec)), Ok(spec), "{spec}");
        }
        assert_eq!(kastell_key_spec("SM2"), Err(SpecError::NotSupported));
        assert_eq!(kastell_key_spec("ML_KEM_768"), Err(SpecError::NotSupported));
        assert_eq!(kastell_key_spec("AES_256"), Err(SpecError::Unknown));
        assert_eq!(kastell_key_spec("HMAC_SHA384"), Err(SpecError::Unknown));
        assert_eq!(kastell_key_spec("RSA_1024"), Err(SpecError::Unknown));
        assert_eq!(kastell_key_pair_spec("RSA_3072"), Ok(KeySpec::Rsa3072));
        assert_eq!(kastell_key_pair_spec("HMAC_256"), Err(SpecError::Unknown));
        assert_eq!(kastell_key_pair_spec("SM2"), Err(SpecError::NotSupported));
        assert_eq!(customer_master_key_spec(KeySpec::MlDsa65), None);
        assert_eq!(
            customer_master_key_spec(KeySpec::Aes256),
            Some("SYMMETRIC_DEFAULT")
        );
    }

    #[test]
    fn import_refusals_are_aws_import_exceptions() {
        for (code, name) in [
            (ErrorCode::ExpiredImportToken, "ExpiredImportTokenException"),
            (ErrorCode::InvalidImportToken, "InvalidImportTokenException"),
            (
                ErrorCode::IncorrectKeyMaterial,
                "IncorrectKeyMaterialException",
            ),
        ] {
            assert_eq!(AwsException::of(code).name(), name);
            assert_eq!(AwsException::of(code).status(), 400);
        }
    }

    #[test]
    fn algorithm_refusals_are_aws_invalid_key_usage_and_dry_runs_412() {
        assert_eq!(
            AwsException::of(ErrorCode::UnsupportedAlgorithm).name(),
            "InvalidKeyUsageException"
        );
        assert_eq!(
            AwsException::of(ErrorCode::UnsupportedSpec).name(),
            "UnsupportedOperationException"
        );
        assert_eq!(AwsException::DryRunOperation.status(), 412);
        assert_eq!(
            AwsException::DryRunOperation.name(),
            "DryRunOperationException"
        );
    }
}
