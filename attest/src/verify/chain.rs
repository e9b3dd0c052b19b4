//! Building and checking the path from a leaf to a trust anchor, with revocation.

use super::*;

impl Trust {
    /// Builds and checks the path from `leaf` (an end entity) to one of the anchors.
    ///
    /// # Errors
    /// The first failed check.
    pub fn verify_chain(&self, leaf: &Certificate) -> Result<VerifiedChain, VerifyError> {
        self.verify_chain_with(leaf, &RustCryptoChecker)
    }

    /// [`Trust::verify_chain`] with signatures checked by `checker`.
    ///
    /// # Errors
    /// The first failed check.
    pub fn verify_chain_with(
        &self,
        leaf: &Certificate,
        checker: &dyn SignatureChecker,
    ) -> Result<VerifiedChain, VerifyError> {
        self.verify_chain_at(leaf, checker, self.at)
    }

    /// [`Trust::verify_chain_with`] judged at `at` instead of [`Trust::at`]: a relying party
    /// that verifies many attestations against the same anchors and intermediates keeps one
    /// `Trust` and gives each verification its own time.
    ///
    /// # Errors
    /// The first failed check.
    pub fn verify_chain_at(
        &self,
        leaf: &Certificate,
        checker: &dyn SignatureChecker,
        at: OffsetDateTime,
    ) -> Result<VerifiedChain, VerifyError> {
        let mut checks = Vec::new();
        check_end_entity(leaf)?;
        if self.anchors.iter().any(|a| same(a, leaf)) {
            return fail(
                Check::Chain,
                format!(
                    "{} is itself given as a trusted root: pass the owner's root certificate",
                    leaf.tbs_certificate.subject
                ),
            );
        }
        let mut path: Vec<&Certificate> = vec![leaf];
        loop {
            let current = path.last().copied().unwrap_or(leaf);
            check_validity(current, at)?;
            check_critical(current)?;
            if path.len() > 1 {
                check_ca(current, path.len() - 2)?;
            }
            if self.anchors.iter().any(|a| same(a, current)) {
                check_signed_by(checker, current, current)?;
                let country = country_of(&current.tbs_certificate.subject).unwrap_or_default();
                if !country::is_eu_eea(&country) {
                    return fail(Check::RootCountry, country::explain(&country));
                }
                checks.push(format!(
                    "root {} is a trust anchor, self-signed, country {country} (EU/EEA)",
                    name_text(&current.tbs_certificate.subject)
                ));
                break;
            }
            if path.len() >= MAX_CHAIN {
                return fail(
                    Check::Chain,
                    format!("no trust anchor within {MAX_CHAIN} certificates"),
                );
            }
            let issuer_name = &current.tbs_certificate.issuer;
            if issuer_name == &current.tbs_certificate.subject
                && check_signed_by(checker, current, current).is_ok()
            {
                return fail(
                    Check::Chain,
                    format!(
                        "the chain ends at the self-signed {} (serial {}), which is not one of \
                         the trusted roots: wrong root, or a root this relying party does not \
                         trust",
                        current.tbs_certificate.subject,
                        hex::encode(current.tbs_certificate.serial_number.as_bytes())
                    ),
                );
            }
            let candidates: Vec<&Certificate> = self
                .anchors
                .iter()
                .chain(self.intermediates.iter())
                .filter(|c| &c.tbs_certificate.subject == issuer_name && !same(c, current))
                .collect();
            let Some(first) = candidates.first() else {
                return fail(
                    Check::Chain,
                    format!(
                        "no certificate named {issuer_name} (the issuer of {}) among the given \
                         roots and intermediates: wrong root or missing intermediate",
                        current.tbs_certificate.subject
                    ),
                );
            };
            let issuer = candidates
                .iter()
                .find(|c| check_signed_by(checker, current, c).is_ok())
                .copied();
            let Some(issuer) = issuer else {
                // Report why the first candidate failed (algorithm or signature).
                check_signed_by(checker, current, first)?;
                return fail(
                    Check::Signature,
                    format!(
                        "no issuer's key verifies {}",
                        current.tbs_certificate.subject
                    ),
                );
            };
            checks.push(format!(
                "{} is signed by {} (ECDSA P-384, SHA-384) and valid at {}",
                name_text(&current.tbs_certificate.subject),
                name_text(&issuer.tbs_certificate.subject),
                rfc3339(at)
            ));
            path.push(issuer);
        }
        self.check_crls(checker, &path, at, &mut checks)?;
        Ok(VerifiedChain {
            chain: path.iter().map(|c| link(c)).collect(),
            checks,
        })
    }

    fn check_crls(
        &self,
        checker: &dyn SignatureChecker,
        path: &[&Certificate],
        at: OffsetDateTime,
        checks: &mut Vec<String>,
    ) -> Result<(), VerifyError> {
        for der in &self.crls {
            let crl = crate::x509::decode_canonical::<x509_cert::crl::CertificateList>(der)
                .map_err(|e| VerifyError {
                    check: Check::Crl,
                    detail: format!("not a CRL: {e}"),
                })?;
            let tbs = &crl.tbs_cert_list;
            let Some(position) = path
                .iter()
                .position(|c| c.tbs_certificate.subject == tbs.issuer)
            else {
                return fail(
                    Check::Crl,
                    format!(
                        "the CRL is issued by {}, which is not in the chain",
                        tbs.issuer
                    ),
                );
            };
            let issuer = path[position];
            if crl.signature_algorithm.oid != ECDSA_WITH_SHA384 {
                return fail(
                    Check::Algorithm,
                    "the CRL is not signed with ecdsa-with-SHA384",
                );
            }
            let tbs_der = tbs.to_der().map_err(|e| VerifyError {
                check: Check::Crl,
                detail: e.to_string(),
            })?;
            if !signature_valid(
                checker,
                &public_key(issuer)?,
                &tbs_der,
                crl.signature.as_bytes().unwrap_or_default(),
            ) {
                return fail(
                    Check::Crl,
                    format!(
                        "the CRL's signature does not verify with {}'s key",
                        tbs.issuer
                    ),
                );
            }
            let this_update = time_of(&tbs.this_update);
            let next_update = tbs.next_update.as_ref().map(time_of);
            if at < this_update || next_update.is_some_and(|n| at > n) {
                return fail(
                    Check::Crl,
                    format!(
                        "the CRL of {} is valid from {} to {}, not at {}",
                        tbs.issuer,
                        rfc3339(this_update),
                        next_update.map_or_else(|| "(open)".into(), rfc3339),
                        rfc3339(at)
                    ),
                );
            }
            // The certificates this CRL speaks for: those its issuer signed.
            if let Some(subject) = position.checked_sub(1).map(|i| path[i]) {
                let serial = subject.tbs_certificate.serial_number.as_bytes();
                if let Some(entry) = tbs
                    .revoked_certificates
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .find(|r| r.serial_number.as_bytes() == serial)
                {
                    return fail(
                        Check::Revoked,
                        format!(
                            "{} (serial {}) was revoked at {}",
                            subject.tbs_certificate.subject,
                            hex::encode(serial),
                            rfc3339(time_of(&entry.revocation_date))
                        ),
                    );
                }
                checks.push(format!(
                    "{} is not revoked (CRL of {}, valid until {})",
                    name_text(&subject.tbs_certificate.subject),
                    name_text(&tbs.issuer),
                    next_update.map_or_else(|| "(open)".into(), rfc3339)
                ));
            }
        }
        Ok(())
    }
}
