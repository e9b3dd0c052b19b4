//! Parsing and validating a key policy document, element by element, with a message that
//! names the statement and the element that is wrong.

use alloc::borrow::ToOwned as _;
use alloc::format;
use alloc::string::{String, ToString as _};
use alloc::vec::Vec;

use serde_json::{Map, Value};

use super::Statement;
use super::condition::{Condition, Operator, Quantifier};
use super::{Effect, Element, KeyPolicy, MAX_POLICY_BYTES, MalformedPolicy, PrincipalName};

/// The policy language versions IAM has.
const VERSIONS: &[&str] = &["2012-10-17", "2008-10-17"];

/// AWS's message for a principal it cannot resolve.
pub(super) const INVALID_PRINCIPALS: &str =
    "Policy contains a statement with one or more invalid principals.";

fn malformed(message: impl Into<String>) -> MalformedPolicy {
    MalformedPolicy(message.into())
}

pub(super) fn policy(document: &str) -> Result<KeyPolicy, MalformedPolicy> {
    if document.len() > MAX_POLICY_BYTES {
        return Err(malformed(format!(
            "The key policy is {} bytes; the limit is {MAX_POLICY_BYTES} bytes (32 KiB).",
            document.len()
        )));
    }
    let value: Value = serde_json::from_str(document).map_err(|e| {
        malformed(format!(
            "The key policy is not valid JSON: {e} (a key policy is a JSON document)."
        ))
    })?;
    let Value::Object(top) = value else {
        return Err(malformed("The key policy must be a JSON object."));
    };
    for name in top.keys() {
        if !["Version", "Id", "Statement"].contains(&name.as_str()) {
            return Err(malformed(format!(
                "Unknown policy element `{name}`: a key policy has Version, Id and Statement."
            )));
        }
    }
    match top.get("Version") {
        None => {}
        Some(Value::String(version)) if VERSIONS.contains(&version.as_str()) => {}
        Some(other) => {
            return Err(malformed(format!(
                "The policy Version {other} is not valid: use \"2012-10-17\"."
            )));
        }
    }
    if let Some(id) = top.get("Id")
        && !id.is_string()
    {
        return Err(malformed("The policy Id must be a string."));
    }
    let statements = match top.get("Statement") {
        None => return Err(malformed("The key policy has no Statement.")),
        Some(Value::Object(one)) => alloc::vec![statement(1, one)?],
        Some(Value::Array(list)) if list.is_empty() => {
            return Err(malformed("The key policy's Statement list is empty."));
        }
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => statement(i + 1, map),
                _ => Err(malformed(format!(
                    "Statement {} is not a JSON object.",
                    i + 1
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(malformed(
                "Statement must be a statement object or a list of them.",
            ));
        }
    };
    Ok(KeyPolicy { statements })
}

const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn statement(index: usize, map: &Map<String, Value>) -> Result<Statement, MalformedPolicy> {
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => {
            return Err(malformed(format!(
                "Statement {index}: Sid must be a string."
            )));
        }
    };
    let at = match &sid {
        Some(sid) if !sid.is_empty() => format!("Statement {index} (Sid \"{sid}\")"),
        _ => format!("Statement {index}"),
    };
    if let Some(name) = map
        .keys()
        .find(|name| !STATEMENT_ELEMENTS.contains(&name.as_str()))
    {
        return Err(malformed(format!(
            "{at}: unknown element `{name}` (a statement has {}).",
            STATEMENT_ELEMENTS.join(", ")
        )));
    }
    let effect = match map.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(malformed(format!(
                "{at}: Effect {other} is not valid: use \"Allow\" or \"Deny\"."
            )));
        }
        None => return Err(malformed(format!("{at}: the statement has no Effect."))),
    };
    let (negated, principal) = one_of(map, &at, "Principal", "NotPrincipal")?;
    let principals = Element {
        negated,
        items: principals(&at, principal)?,
    };
    let (negated, action) = one_of(map, &at, "Action", "NotAction")?;
    let actions = Element {
        negated,
        items: strings(&at, if negated { "NotAction" } else { "Action" }, action)?,
    };
    for action in &actions.items {
        check_action(&at, action)?;
    }
    let (negated, resource) = one_of(map, &at, "Resource", "NotResource")?;
    let resources = Element {
        negated,
        items: strings(
            &at,
            if negated { "NotResource" } else { "Resource" },
            resource,
        )?,
    };
    for resource in &resources.items {
        if resource != "*" && !resource.starts_with("arn:") {
            return Err(malformed(format!(
                "{at}: Resource `{resource}` is not \"*\" or an ARN."
            )));
        }
    }
    let conditions = match map.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(block)) => conditions(&at, block)?,
        Some(_) => {
            return Err(malformed(format!(
                "{at}: Condition must be an object of operators."
            )));
        }
    };
    Ok(Statement {
        sid,
        effect,
        principals,
        actions,
        resources,
        conditions,
    })
}

/// The element `name` or its negation `not`: exactly one must be there.
fn one_of<'m>(
    map: &'m Map<String, Value>,
    at: &str,
    name: &str,
    not: &str,
) -> Result<(bool, &'m Value), MalformedPolicy> {
    match (map.get(name), map.get(not)) {
        (Some(value), None) => Ok((false, value)),
        (None, Some(value)) => Ok((true, value)),
        (Some(_), Some(_)) => Err(malformed(format!("{at}: give {name} or {not}, not both."))),
        (None, None) => Err(malformed(format!(
            "{at}: the statement has no {name} (a key policy statement names its {})",
            name.to_lowercase()
        ))),
    }
}

/// A string or a non-empty list of strings.
fn strings(at: &str, element: &str, value: &Value) -> Result<Vec<String>, MalformedPolicy> {
    let wrong = || {
        malformed(format!(
            "{at}: {element} must be a string or a list of strings."
        ))
    };
    match value {
        Value::String(one) => Ok(alloc::vec![one.clone()]),
        Value::Array(list) if !list.is_empty() => list
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect(),
        _ => Err(wrong()),
    }
}

/// `*` or `vendor:pattern`.
fn check_action(at: &str, action: &str) -> Result<(), MalformedPolicy> {
    if action == "*" {
        return Ok(());
    }
    match action.split_once(':') {
        Some((vendor, rest))
            if !vendor.is_empty()
                && !rest.is_empty()
                && vendor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            Ok(())
        }
        _ => Err(malformed(format!(
            "{at}: Action `{action}`: actions must be prefaced by a vendor, e.g. kms:Encrypt."
        ))),
    }
}

fn principals(at: &str, value: &Value) -> Result<Vec<PrincipalName>, MalformedPolicy> {
    let invalid = || malformed(format!("{INVALID_PRINCIPALS} ({at})"));
    match value {
        Value::String(star) if star == "*" => Ok(alloc::vec![PrincipalName::Any]),
        Value::Object(kinds) if !kinds.is_empty() => {
            let mut out = Vec::new();
            for (kind, names) in kinds {
                let names = strings(at, "Principal", names).map_err(|_| invalid())?;
                for name in names {
                    out.push(match kind.as_str() {
                        "AWS" => aws_principal(&name).ok_or_else(invalid)?,
                        "Service" | "Federated" | "CanonicalUser" => {
                            PrincipalName::Foreign(format!("{kind}:{name}"))
                        }
                        _ => return Err(invalid()),
                    });
                }
            }
            Ok(out)
        }
        _ => Err(invalid()),
    }
}

/// An `AWS` principal: `*`, an account id, the account's root, or an IAM ARN.
fn aws_principal(name: &str) -> Option<PrincipalName> {
    if name == "*" {
        return Some(PrincipalName::Any);
    }
    if is_account(name) {
        return Some(PrincipalName::Account(name.to_owned()));
    }
    let rest = name.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    if !is_account(account) {
        return None;
    }
    if resource == "root" {
        return Some(PrincipalName::Account(account.to_owned()));
    }
    let (kind, path) = resource.split_once('/')?;
    let known = ["user", "role", "assumed-role", "federated-user"].contains(&kind);
    (known && !path.is_empty() && !path.contains('*')).then(|| PrincipalName::Arn(name.to_owned()))
}

fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn conditions(at: &str, block: &Map<String, Value>) -> Result<Vec<Condition>, MalformedPolicy> {
    let mut out = Vec::new();
    for (name, keys) in block {
        let (operator, quantifier, if_exists) = operator(at, name)?;
        let Value::Object(keys) = keys else {
            return Err(malformed(format!(
                "{at}: Condition operator {name} must map condition keys to values."
            )));
        };
        for (key, values) in keys {
            if !key.contains(':') || key.starts_with(':') {
                return Err(malformed(format!(
                    "{at}: condition key `{key}` must be prefaced by a vendor, e.g. \
                     kms:EncryptionContext:<key>."
                )));
            }
            let values = condition_values(at, key, values)?;
            out.push(Condition {
                operator,
                quantifier,
                if_exists,
                key: key.to_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn operator(at: &str, name: &str) -> Result<(Operator, Option<Quantifier>, bool), MalformedPolicy> {
    let (quantifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (Some(Quantifier::ForAnyValue), rest)
    } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (Some(Quantifier::ForAllValues), rest)
    } else {
        (None, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) if base != "Null" => (base, true),
        _ => (rest, false),
    };
    if let Some(operator) = Operator::named(base) {
        if operator == Operator::Null && quantifier.is_some() {
            return Err(malformed(format!(
                "{at}: condition operator `{name}`: Null takes no ForAnyValue/ForAllValues."
            )));
        }
        return Ok((operator, quantifier, if_exists));
    }
    if Operator::NOT_OFFERED.contains(&base) {
        return Err(malformed(format!(
            "{at}: condition operator `{name}` is not supported by Kastell (it evaluates {})",
            supported()
        )));
    }
    Err(malformed(format!(
        "{at}: unknown condition operator `{name}` (Kastell evaluates {}, with the \
         ForAnyValue:/ForAllValues: prefixes and the IfExists suffix)",
        supported()
    )))
}

fn supported() -> String {
    Operator::ALL
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn condition_values(at: &str, key: &str, value: &Value) -> Result<Vec<String>, MalformedPolicy> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let wrong = || {
        malformed(format!(
            "{at}: the values of condition key `{key}` must be strings, booleans or numbers."
        ))
    };
    match value {
        Value::Array(list) => list.iter().map(|v| one(v).ok_or_else(wrong)).collect(),
        other => Ok(alloc::vec![one(other).ok_or_else(wrong)?]),
    }
}
