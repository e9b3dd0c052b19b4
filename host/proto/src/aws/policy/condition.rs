//! Condition operators and their evaluation, as IAM defines them: the values listed for a
//! key are alternatives (any may match), keys and operators all must hold; a key absent
//! from the request makes a positive operator false and a negated one true, `IfExists`
//! makes any operator true, `Null` tests presence. `ForAnyValue:` holds when some request
//! value matches (false when there is none), `ForAllValues:` when every one does (true
//! when there is none).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::glob;

/// A condition operator Kastell evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Exact, case-sensitive.
    StringEquals,
    /// Not [`Operator::StringEquals`].
    StringNotEquals,
    /// Exact, ignoring ASCII case.
    StringEqualsIgnoreCase,
    /// Not [`Operator::StringEqualsIgnoreCase`].
    StringNotEqualsIgnoreCase,
    /// Case-sensitive with `*` and `?` wildcards.
    StringLike,
    /// Not [`Operator::StringLike`].
    StringNotLike,
    /// An ARN, exact (as `StringEquals`).
    ArnEquals,
    /// An ARN with wildcards (as `StringLike`).
    ArnLike,
    /// Not [`Operator::ArnEquals`].
    ArnNotEquals,
    /// Not [`Operator::ArnLike`].
    ArnNotLike,
    /// `true` / `false`, ignoring case.
    Bool,
    /// `true`: the key is absent; `false`: it is present.
    Null,
}

impl Operator {
    /// Every operator with its name in a policy.
    pub const ALL: &'static [(&'static str, Self)] = &[
        ("StringEquals", Self::StringEquals),
        ("StringNotEquals", Self::StringNotEquals),
        ("StringEqualsIgnoreCase", Self::StringEqualsIgnoreCase),
        ("StringNotEqualsIgnoreCase", Self::StringNotEqualsIgnoreCase),
        ("StringLike", Self::StringLike),
        ("StringNotLike", Self::StringNotLike),
        ("ArnEquals", Self::ArnEquals),
        ("ArnLike", Self::ArnLike),
        ("ArnNotEquals", Self::ArnNotEquals),
        ("ArnNotLike", Self::ArnNotLike),
        ("Bool", Self::Bool),
        ("Null", Self::Null),
    ];

    /// IAM operators Kastell does not evaluate: a policy naming one is refused (never
    /// silently ignored).
    pub const NOT_OFFERED: &'static [&'static str] = &[
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
    ];

    /// The operator named `name` (case-sensitive, as IAM).
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, op)| *op)
    }

    /// Whether the operator holds when the key matches none of the values.
    const fn negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals
                | Self::StringNotEqualsIgnoreCase
                | Self::StringNotLike
                | Self::ArnNotEquals
                | Self::ArnNotLike
        )
    }

    /// Whether one request value matches one policy value (before negation).
    fn compare(self, value: &str, pattern: &str) -> bool {
        match self {
            Self::StringEquals | Self::StringNotEquals | Self::ArnEquals | Self::ArnNotEquals => {
                value == pattern
            }
            Self::StringEqualsIgnoreCase | Self::StringNotEqualsIgnoreCase | Self::Bool => {
                value.eq_ignore_ascii_case(pattern)
            }
            Self::StringLike | Self::StringNotLike | Self::ArnLike | Self::ArnNotLike => {
                glob(pattern, value, false)
            }
            Self::Null => false,
        }
    }
}

/// `ForAnyValue:` or `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// Some request value matches.
    ForAnyValue,
    /// Every request value matches.
    ForAllValues,
}

/// One condition: an operator on one key with its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator.
    pub operator: Operator,
    /// `ForAnyValue:` / `ForAllValues:`, if given.
    pub quantifier: Option<Quantifier>,
    /// The `IfExists` suffix: true when the key is absent.
    pub if_exists: bool,
    /// The condition key, lower case (`kms:encryptioncontext:department`).
    pub key: String,
    /// The values, any of which may match.
    pub values: Vec<String>,
}

impl Condition {
    /// Whether the condition holds for a request with these keys (lower-case names).
    pub(super) fn holds(&self, keys: &BTreeMap<String, Vec<String>>) -> bool {
        let present = keys.get(&self.key).filter(|values| !values.is_empty());
        if self.operator == Operator::Null {
            return self
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("true") == present.is_none());
        }
        let Some(values) = present else {
            return match self.quantifier {
                _ if self.if_exists => true,
                Some(Quantifier::ForAllValues) => true,
                Some(Quantifier::ForAnyValue) => false,
                None => self.operator.negated(),
            };
        };
        // One request value against the listed values, negation applied.
        let one = |value: &String| {
            let any = self
                .values
                .iter()
                .any(|pattern| self.operator.compare(value, pattern));
            any != self.operator.negated()
        };
        match self.quantifier {
            Some(Quantifier::ForAllValues) => values.iter().all(one),
            Some(Quantifier::ForAnyValue) => values.iter().any(one),
            // A single-valued operator: a negated one holds only if no value matches.
            None if self.operator.negated() => values.iter().all(one),
            None => values.iter().any(one),
        }
    }
}
