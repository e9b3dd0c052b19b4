//! AWS KMS grants: the grant as Kastell stores it with its key, its validation as AWS
//! validates `CreateGrant` ([`NewGrant::validate`]), and its decision on a request
//! ([`Grant::allows`]): a grant allows an action when the action is one of its
//! operations, the caller is its grantee principal (or of its grantee account) and the
//! request's encryption context satisfies its constraint.
//!
//! The host validates a grant when it is created; the decision is taken inside the wasm
//! sandbox by the bundled `aws-key-policy` component, which links this same code, after
//! the key policy: an explicit `Deny` of the key policy wins over any grant.

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The grant operations of the AWS KMS API (botocore's `GrantOperation` enum).
pub const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

/// The grant operations an encryption context constraint may go with: those whose
/// requests carry an encryption context, and `CreateGrant` (whose grants then carry the
/// same constraint). AWS refuses a constraint with any other (`DescribeKey`, `Sign`, …).
pub const CONTEXT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "CreateGrant",
];

/// Most encryption context pairs one constraint holds (AWS's limit).
pub const MAX_CONSTRAINT_PAIRS: usize = 8;
/// Longest encryption context value in a constraint, in characters (AWS's limit).
pub const MAX_CONSTRAINT_VALUE: usize = 384;
/// Longest grant name (botocore: 1–256 of `[a-zA-Z0-9:/_-]`).
pub const MAX_NAME: usize = 256;
/// Longest principal ARN (botocore: 1–256 of `[\w+=,.@:/-]`).
pub const MAX_PRINCIPAL: usize = 256;

/// A grant constraint: the encryption context a request must have exactly
/// (`EncryptionContextEquals`) or include (`EncryptionContextSubset`). At most one of the
/// two is set (Kastell refuses both at once: the pair would mean only `Equals`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct GrantConstraints {
    /// The request's context must include every pair.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    /// The request's context must be exactly this.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

impl GrantConstraints {
    /// Whether a request with `context` satisfies the constraint (keys and values compared
    /// exactly, as AWS does for grant constraints).
    #[must_use]
    pub fn holds(&self, context: &BTreeMap<String, String>) -> bool {
        let equals = self
            .encryption_context_equals
            .as_ref()
            .is_none_or(|wanted| wanted == context);
        let subset = self
            .encryption_context_subset
            .as_ref()
            .is_none_or(|wanted| {
                wanted
                    .iter()
                    .all(|(name, value)| context.get(name) == Some(value))
            });
        equals && subset
    }

    /// Whether the constraint is at least as strict as `parent` (a grant made through a
    /// grant with `CreateGrant` must be): `parent` unconstrained, or the same `Equals`, or
    /// a `Subset` that includes the parent's, or an `Equals` that satisfies it.
    #[must_use]
    pub fn within(this: Option<&Self>, parent: Option<&Self>) -> bool {
        let Some(parent) = parent else {
            return true;
        };
        let Some(this) = this else {
            return false;
        };
        if let Some(equals) = &this.encryption_context_equals {
            return parent.holds(equals);
        }
        match (&this.encryption_context_subset, parent) {
            (
                Some(subset),
                Self {
                    encryption_context_subset: Some(wanted),
                    encryption_context_equals: None,
                },
            ) => wanted.iter().all(|(k, v)| subset.get(k) == Some(v)),
            _ => false,
        }
    }
}

/// A grant as stored with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct Grant {
    /// Its id: 64 hexadecimal digits.
    pub grant_id: String,
    /// Its name, if given (the same name and parameters answer the same grant).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub name: Option<String>,
    /// The principal the grant allows (an IAM user ARN, or an account's root ARN for
    /// every principal of that account).
    pub grantee_principal: String,
    /// The principal that may retire it, if any.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub retiring_principal: Option<String>,
    /// The ARN of the principal that created it.
    pub issuing_principal: String,
    /// The grant operations it allows (names of [`GRANT_OPERATIONS`]).
    pub operations: Vec<String>,
    /// Its encryption context constraint, if any.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub constraints: Option<GrantConstraints>,
    /// When it was created, in seconds since 1970.
    pub created: i64,
}

impl Grant {
    /// Whether the grant allows `action` (`kms:Decrypt`, …) to `principal` (an ARN) of
    /// `account` with the request's encryption `context`. A `kms:CreateGrant` request is
    /// not matched against the constraint (it has no context): the grant it makes must be
    /// [`GrantConstraints::within`] this one's, which the host checks as well.
    #[must_use]
    pub fn allows(
        &self,
        action: &str,
        principal: &str,
        account: &str,
        context: &BTreeMap<String, String>,
    ) -> bool {
        let Some(operation) = action.strip_prefix("kms:") else {
            return false;
        };
        if !self.operations.iter().any(|op| op == operation) {
            return false;
        }
        if !grantee_matches(&self.grantee_principal, principal, account) {
            return false;
        }
        operation == "CreateGrant" || self.constraints.as_ref().is_none_or(|c| c.holds(context))
    }
}

/// Whether `grantee` (a grant's principal) names `principal` of `account`: the same ARN,
/// or the account's root (`arn:aws:iam::<account>:root`), which names each of its
/// principals.
#[must_use]
pub fn grantee_matches(grantee: &str, principal: &str, account: &str) -> bool {
    grantee == principal || grantee == format!("arn:aws:iam::{account}:root")
}

/// The first of `grants` that allows the request (see [`Grant::allows`]).
#[must_use]
pub fn allowing<'a>(
    grants: &'a [Grant],
    action: &str,
    principal: &str,
    account: &str,
    context: &BTreeMap<String, String>,
) -> Option<&'a Grant> {
    grants
        .iter()
        .find(|grant| grant.allows(action, principal, account, context))
}

/// What a `CreateGrant` asks for, before it is validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewGrant {
    /// `GranteePrincipal`.
    pub grantee_principal: String,
    /// `RetiringPrincipal`.
    pub retiring_principal: Option<String>,
    /// `Operations`.
    pub operations: Vec<String>,
    /// `Constraints`.
    pub constraints: Option<GrantConstraints>,
    /// `Name`.
    pub name: Option<String>,
}

/// Why a grant is refused, as AWS answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidGrant {
    /// A member is malformed (`ValidationException`): an unknown operation, no operation,
    /// both constraints, a constraint with an operation that has no encryption context, a
    /// constraint too large, a bad name.
    Validation(String),
    /// A principal is not an ARN of a principal (`InvalidArnException`).
    InvalidArn(String),
}

impl core::fmt::Display for InvalidGrant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Validation(why) | Self::InvalidArn(why) => f.write_str(why),
        }
    }
}

impl NewGrant {
    /// Checks the request as AWS does, and puts the operations in a canonical order (as
    /// listed in [`GRANT_OPERATIONS`], duplicates removed) so that two requests for the
    /// same grant compare equal.
    ///
    /// # Errors
    /// [`InvalidGrant`] naming the member that is wrong.
    pub fn validate(mut self) -> Result<Self, InvalidGrant> {
        let bad = |why: String| Err(InvalidGrant::Validation(why));
        if self.operations.is_empty() {
            return bad("Operations must list at least one grant operation".into());
        }
        if let Some(unknown) = self
            .operations
            .iter()
            .find(|op| !GRANT_OPERATIONS.contains(&op.as_str()))
        {
            return bad(format!(
                "Value '{unknown}' at 'operations' failed to satisfy constraint: Member must \
                 satisfy enum value set: [{}]",
                GRANT_OPERATIONS.join(", ")
            ));
        }
        self.operations = GRANT_OPERATIONS
            .iter()
            .filter(|op| self.operations.iter().any(|given| given == *op))
            .map(|op| String::from(*op))
            .collect();
        principal("GranteePrincipal", &self.grantee_principal)?;
        if let Some(retiring) = &self.retiring_principal {
            principal("RetiringPrincipal", retiring)?;
        }
        if let Some(name) = &self.name
            && (name.is_empty()
                || name.len() > MAX_NAME
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-')))
        {
            return bad(format!(
                "Value '{name}' at 'name' failed to satisfy constraint: Member must have \
                 length 1–{MAX_NAME} and satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
            ));
        }
        if let Some(constraints) = &self.constraints {
            check_constraints(constraints, &self.operations)?;
        }
        if self.constraints == Some(GrantConstraints::default()) {
            self.constraints = None;
        }
        Ok(self)
    }
}

fn check_constraints(
    constraints: &GrantConstraints,
    operations: &[String],
) -> Result<(), InvalidGrant> {
    let bad = |why: String| Err(InvalidGrant::Validation(why));
    let pairs = match (
        &constraints.encryption_context_subset,
        &constraints.encryption_context_equals,
    ) {
        (Some(_), Some(_)) => {
            return bad(
                "Constraints may set EncryptionContextEquals or EncryptionContextSubset, not \
                 both"
                    .into(),
            );
        }
        (None, None) => return Ok(()),
        (Some(pairs), None) | (None, Some(pairs)) => pairs,
    };
    if let Some(op) = operations
        .iter()
        .find(|op| !CONTEXT_OPERATIONS.contains(&op.as_str()))
    {
        return bad(format!(
            "an encryption context grant constraint cannot go with the grant operation {op}, \
             which takes no encryption context"
        ));
    }
    if pairs.len() > MAX_CONSTRAINT_PAIRS {
        return bad(format!(
            "a grant constraint holds at most {MAX_CONSTRAINT_PAIRS} encryption context \
             pairs, not {}",
            pairs.len()
        ));
    }
    if let Some((name, _)) = pairs
        .iter()
        .find(|(_, value)| value.chars().count() > MAX_CONSTRAINT_VALUE)
    {
        return bad(format!(
            "the grant constraint's value of {name} is longer than {MAX_CONSTRAINT_VALUE} \
             characters"
        ));
    }
    Ok(())
}

/// Checks that `value` (the member `field`) names a principal: AWS's pattern, then an IAM
/// ARN of an account's root, a user or a role (`arn:aws:iam::<12 digits>:root`,
/// `…:user/<name>`, `…:role/<name>`).
///
/// # Errors
/// [`InvalidGrant::Validation`] for a value outside the pattern,
/// [`InvalidGrant::InvalidArn`] for one that is not a principal's ARN.
pub fn principal(field: &str, value: &str) -> Result<(), InvalidGrant> {
    let pattern = |c: char| c.is_alphanumeric() || "_+=,.@:/-".contains(c);
    if value.is_empty() || value.len() > MAX_PRINCIPAL || !value.chars().all(pattern) {
        return Err(InvalidGrant::Validation(format!(
            "Value '{value}' at '{}' failed to satisfy constraint: Member must have length \
             1–{MAX_PRINCIPAL} and satisfy regular expression pattern: ^[\\w+=,.@:/-]+$",
            lower_first(field)
        )));
    }
    let invalid = || {
        Err(InvalidGrant::InvalidArn(format!(
            "{field} {value} is not the ARN of a principal (arn:aws:iam::<account>:root, \
             :user/<name> or :role/<name>)"
        )))
    };
    let Some(rest) = value.strip_prefix("arn:aws:iam::") else {
        return invalid();
    };
    let Some((account, resource)) = rest.split_once(':') else {
        return invalid();
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return invalid();
    }
    let named = |prefix: &str| {
        resource
            .strip_prefix(prefix)
            .is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
    };
    if resource == "root" || named("user/") || named("role/") {
        Ok(())
    } else {
        invalid()
    }
}

fn lower_first(field: &str) -> String {
    let mut chars = field.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// The grant token Kastell answers for grant `grant_id` on key `key_id`: names both, so
/// that `RetireGrant` can find the grant from the token alone. A grant token carries no
/// power here (grants take effect at once); it is validated where it is given.
#[must_use]
pub fn grant_token(key_id: &str, grant_id: &str) -> String {
    format!("kastell-grant-token-v1.{key_id}.{grant_id}")
}

/// The key id and grant id a token names, or `None` for text that is not a grant token
/// Kastell issued (AWS's `InvalidGrantTokenException`).
#[must_use]
pub fn parse_grant_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("kastell-grant-token-v1.")?;
    let (key, grant) = rest.split_once('.')?;
    let hex_id = grant.len() == 64 && grant.bytes().all(|b| b.is_ascii_hexdigit());
    (!key.is_empty() && hex_id).then_some((key, grant))
}

/// Whether `text` has the shape of a grant id (64 hexadecimal digits).
#[must_use]
pub fn is_grant_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}
