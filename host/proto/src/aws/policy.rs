//! AWS KMS key policies: the JSON document parsed and validated as AWS validates it
//! ([`KeyPolicy::parse`]), and evaluated against a request's evidence
//! ([`KeyPolicy::evaluate`]): a statement applies when its principal, action, resource
//! and every condition match; an applicable `Deny` wins, else an applicable `Allow`
//! allows, else the request is denied (AWS's implicit deny).
//!
//! The host validates a document when it is stored (`PutKeyPolicy`, `CreateKey`'s
//! `Policy`); the decision itself is taken inside the wasm sandbox, by the bundled
//! `aws-key-policy` component that links this same code (feature `aws-policy`).
//!
//! The language supported: `Version` (`2012-10-17`, `2008-10-17`), `Id`, `Statement` (one
//! object or a list), each with `Sid`, `Effect` (`Allow`/`Deny`), `Principal` or
//! `NotPrincipal` (`"*"`, `{"AWS": …}` with `*`, account ids, `arn:aws:iam::<account>:root`
//! and IAM user or role ARNs; `Service`, `Federated` and `CanonicalUser` principals parse
//! and never match a Kastell caller), `Action` or `NotAction` (`*` and `?` wildcards, case
//! insensitive), `Resource` or `NotResource` (wildcards), and `Condition` with the
//! operators of [`condition::Operator`], optionally prefixed `ForAnyValue:` or
//! `ForAllValues:` and suffixed `IfExists`.

mod condition;
mod parse;
#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub use condition::{Condition, Operator, Quantifier};

/// The largest key policy AWS KMS stores, in bytes (its "key policy document size" quota).
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// The only policy name AWS KMS has.
pub const POLICY_NAME: &str = "default";

/// The policy AWS gives a key created without one: the account's root principal (every
/// principal of the account) may do anything with the key.
#[must_use]
pub fn default_policy(account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \
         \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \
         \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \
         \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// A validated key policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Its statements, in document order.
    pub statements: Vec<Statement>,
}

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Allows what the statement matches.
    Allow,
    /// Denies what the statement matches, whatever else allows it.
    Deny,
}

/// One principal a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalName {
    /// `*`: anyone.
    Any,
    /// Every principal of this account (`arn:aws:iam::<account>:root` or the account id).
    Account(String),
    /// One IAM principal ARN (`arn:aws:iam::<account>:user/<name>`, `…:role/<name>`).
    Arn(String),
    /// A principal of another kind (`Service`, `Federated`, `CanonicalUser`): valid, never
    /// a Kastell caller.
    Foreign(String),
}

/// A statement's element and whether it is negated (`NotPrincipal`, `NotAction`,
/// `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element<T> {
    /// `true` for the `Not…` form: the statement applies to what is *not* listed.
    pub negated: bool,
    /// What is listed.
    pub items: Vec<T>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its `Sid`, if any.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// `Principal` / `NotPrincipal`.
    pub principals: Element<PrincipalName>,
    /// `Action` / `NotAction`: patterns such as `kms:*`, `kms:Encrypt`, `kms:Describe*`.
    pub actions: Element<String>,
    /// `Resource` / `NotResource`: patterns (`*` is the key itself).
    pub resources: Element<String>,
    /// Conditions, all of which must hold.
    pub conditions: Vec<Condition>,
}

/// Why a document is not a key policy AWS would store: AWS's
/// `MalformedPolicyDocumentException`, with a message naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedPolicy(pub String);

impl core::fmt::Display for MalformedPolicy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The evidence a decision is taken on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// The action, `kms:Encrypt`, `kms:DescribeKey`, …
    pub action: String,
    /// The caller's ARN, `arn:aws:iam::<account>:user/<name>`.
    pub principal: String,
    /// The caller's account.
    pub principal_account: String,
    /// The key's ARN.
    pub resource: String,
    /// Condition keys present in the request, by lower-case name
    /// (`kms:encryptioncontext:<key>`, `kms:calleraccount`, …), each with its values.
    pub keys: BTreeMap<String, Vec<String>>,
}

/// A decision on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement applies and no `Deny` does.
    Allow,
    /// A `Deny` statement applies (its `Sid`, or its position from 1).
    ExplicitDeny(String),
    /// No statement applies: AWS's implicit deny.
    ImplicitDeny,
}

impl KeyPolicy {
    /// Parses and validates `document` as AWS KMS validates a key policy.
    ///
    /// # Errors
    /// [`MalformedPolicy`] naming what is wrong: not JSON, larger than
    /// [`MAX_POLICY_BYTES`], an unknown `Version`, a statement without `Effect`, `Action`,
    /// `Principal` or `Resource`, an element of the wrong shape, an invalid principal, or
    /// an unknown condition operator.
    pub fn parse(document: &str) -> Result<Self, MalformedPolicy> {
        parse::policy(document)
    }

    /// The decision on `request`: an applicable `Deny` wins, else an applicable `Allow`
    /// allows, else the implicit deny.
    #[must_use]
    pub fn evaluate(&self, request: &Request) -> Decision {
        let mut allowed = false;
        for (index, statement) in self.statements.iter().enumerate() {
            if !statement.applies(request) {
                continue;
            }
            match statement.effect {
                Effect::Deny => {
                    let name = statement
                        .sid
                        .clone()
                        .filter(|sid| !sid.is_empty())
                        .unwrap_or_else(|| format!("#{}", index + 1));
                    return Decision::ExplicitDeny(name);
                }
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

impl Statement {
    fn applies(&self, request: &Request) -> bool {
        let principal = self
            .principals
            .items
            .iter()
            .any(|p| p.matches(&request.principal, &request.principal_account));
        let action = self
            .actions
            .items
            .iter()
            .any(|pattern| glob(pattern, &request.action, true));
        let resource = self
            .resources
            .items
            .iter()
            .any(|pattern| glob(pattern, &request.resource, false));
        principal != self.principals.negated
            && action != self.actions.negated
            && resource != self.resources.negated
            && self.conditions.iter().all(|c| c.holds(&request.keys))
    }
}

impl PrincipalName {
    fn matches(&self, principal: &str, account: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Account(named) => named == account,
            Self::Arn(arn) => arn == principal,
            Self::Foreign(_) => false,
        }
    }
}

/// Whether `text` matches `pattern` (`*` any run, `?` one character), ignoring ASCII case
/// when `fold`.
pub(crate) fn glob(pattern: &str, text: &str, fold: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // Iterative matching with backtracking to the last `*`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && same(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}
