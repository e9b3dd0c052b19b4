//! Client identities for mutual TLS: a certificate names its principal (subject CN), its
//! role and optionally its tenant, as subject alternative name URIs any X.509 library
//! reads: `urn:kastell:role:<role>` and `urn:kastell:tenant:<tenant>`. Extended key usage
//! clientAuth. One certificate carries one role: no certificate both administers and uses
//! keys, and a certificate that claims two roles is refused when read.

use std::time::Duration;

use const_oid::db::rfc5280::{
    ID_CE_EXT_KEY_USAGE, ID_CE_SUBJECT_ALT_NAME, ID_KP_CLIENT_AUTH, ID_KP_SERVER_AUTH,
};
use der::asn1::{Ia5String, OctetString};
use time::OffsetDateTime;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};

use crate::ca::{self, CaError};
use crate::signer::Signer;
use crate::x509::Certificate;

/// The roles a client certificate can carry (as the WIT names them).
pub const ROLES: [&str; 3] = ["crypto-officer", "crypto-user", "auditor"];

const ROLE_PREFIX: &str = "urn:kastell:role:";
const TENANT_PREFIX: &str = "urn:kastell:tenant:";

/// Who a client certificate says its holder is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClientIdentity {
    /// The principal (subject CN).
    pub principal: String,
    /// Its one role.
    pub role: String,
    /// Its tenant, if any.
    pub tenant: Option<String>,
}

fn check_part(what: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} `{value}` must be 1–128 characters of A–Z a–z 0–9 - _ ."
        ))
    }
}

/// Issues a client certificate for `key`, signed by the CA `ca`.
///
/// # Errors
/// [`CaError::Subject`] for an unknown role or a malformed principal or tenant; the signer.
pub fn issue_client(
    ca_signer: &dyn Signer,
    ca_cert: &Certificate,
    key: &p384::PublicKey,
    identity: &ClientIdentity,
    not_before: OffsetDateTime,
    lifetime: Duration,
) -> Result<Certificate, CaError> {
    if !ROLES.contains(&identity.role.as_str()) {
        return Err(CaError::Subject(format!(
            "unknown role `{}`: one of {}",
            identity.role,
            ROLES.join(", ")
        )));
    }
    check_part("principal", &identity.principal).map_err(CaError::Subject)?;
    if let Some(tenant) = &identity.tenant {
        check_part("tenant", tenant).map_err(CaError::Subject)?;
    }
    let uri = |text: String| {
        Ia5String::new(&text)
            .map(GeneralName::UniformResourceIdentifier)
            .map_err(|e| CaError::Encoding(e.to_string()))
    };
    let mut names = vec![uri(format!("{ROLE_PREFIX}{}", identity.role))?];
    if let Some(tenant) = &identity.tenant {
        names.push(uri(format!("{TENANT_PREFIX}{tenant}"))?);
    }
    let extensions = vec![
        ca::extension(ID_CE_SUBJECT_ALT_NAME, false, &SubjectAltName(names))?,
        ca::extension(
            ID_CE_EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![ID_KP_CLIENT_AUTH]),
        )?,
    ];
    ca::issue_end_entity(
        ca_signer,
        ca_cert,
        key,
        &identity.principal,
        not_before,
        lifetime,
        extensions,
    )
}

/// Issues a TLS server certificate for `key` under the CA `ca`: subject `common_name`,
/// subject alternative names `names` (each an IP address or a DNS name), EKU serverAuth.
///
/// # Errors
/// [`CaError::Subject`] for no names or a malformed one; the signer.
pub fn issue_server(
    ca_signer: &dyn Signer,
    ca_cert: &Certificate,
    key: &p384::PublicKey,
    common_name: &str,
    names: &[String],
    not_before: OffsetDateTime,
    lifetime: Duration,
) -> Result<Certificate, CaError> {
    if names.is_empty() {
        return Err(CaError::Subject(
            "a server certificate needs at least one DNS name or IP address".into(),
        ));
    }
    let mut general = Vec::with_capacity(names.len());
    for name in names {
        general.push(match name.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => GeneralName::IpAddress(
                OctetString::new(ip.octets().to_vec())
                    .map_err(|e| CaError::Encoding(e.to_string()))?,
            ),
            Ok(std::net::IpAddr::V6(ip)) => GeneralName::IpAddress(
                OctetString::new(ip.octets().to_vec())
                    .map_err(|e| CaError::Encoding(e.to_string()))?,
            ),
            Err(_) => {
                let valid = !name.is_empty()
                    && name.len() <= 253
                    && name.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    });
                if !valid {
                    return Err(CaError::Subject(format!(
                        "`{name}` is neither an IP address nor a DNS name"
                    )));
                }
                GeneralName::DnsName(
                    Ia5String::new(name).map_err(|e| CaError::Encoding(e.to_string()))?,
                )
            }
        });
    }
    let extensions = vec![
        ca::extension(ID_CE_SUBJECT_ALT_NAME, false, &SubjectAltName(general))?,
        ca::extension(
            ID_CE_EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![ID_KP_SERVER_AUTH]),
        )?,
    ];
    ca::issue_end_entity(
        ca_signer,
        ca_cert,
        key,
        common_name,
        not_before,
        lifetime,
        extensions,
    )
}

/// Reads the identity of a client certificate (whose chain the TLS layer or
/// [`crate::verify::Trust::verify_chain`] has verified).
///
/// # Errors
/// A message naming what is missing or contradictory: no role, two roles, an unknown role,
/// two tenants, no clientAuth usage, no common name.
pub fn client_identity(cert: &Certificate) -> Result<ClientIdentity, String> {
    let subject = &cert.tbs_certificate.subject;
    let principal = subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == const_oid::db::rfc4519::COMMON_NAME)
        .find_map(|atv| {
            der::asn1::Utf8StringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_owned())
                .ok()
        })
        .ok_or_else(|| format!("{subject}: no common name (the principal)"))?;
    match cert.decoded::<ExtendedKeyUsage>() {
        Ok(Some((_, usage))) if usage.0.contains(&ID_KP_CLIENT_AUTH) => {}
        _ => {
            return Err(format!(
                "{subject}: not a client certificate (no clientAuth usage)"
            ));
        }
    }
    let Ok(Some((_, names))) = cert.decoded::<SubjectAltName>() else {
        return Err(format!("{subject}: no subject alternative names (role)"));
    };
    let uris: Vec<&str> = names
        .0
        .iter()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.as_str()),
            _ => None,
        })
        .collect();
    let roles: Vec<&str> = uris
        .iter()
        .filter_map(|u| u.strip_prefix(ROLE_PREFIX))
        .collect();
    let tenants: Vec<&str> = uris
        .iter()
        .filter_map(|u| u.strip_prefix(TENANT_PREFIX))
        .collect();
    let role = match roles.as_slice() {
        [role] if ROLES.contains(role) => (*role).to_owned(),
        [role] => return Err(format!("{subject}: unknown role `{role}`")),
        [] => return Err(format!("{subject}: no role (urn:kastell:role:…)")),
        _ => {
            return Err(format!(
                "{subject}: {} roles ({}); a certificate carries exactly one",
                roles.len(),
                roles.join(", ")
            ));
        }
    };
    let tenant = match tenants.as_slice() {
        [] => None,
        [tenant] => Some((*tenant).to_owned()),
        _ => return Err(format!("{subject}: more than one tenant")),
    };
    Ok(ClientIdentity {
        principal,
        role,
        tenant,
    })
}
