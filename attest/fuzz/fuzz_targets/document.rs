//! Nitro-format attestation documents (`COSE_Sign1`), as a relying party reads them: any
//! bytes go to `verify_document` with the fixed root as the only trust anchor, so the
//! document's own `cabundle` must supply the host CA. Nothing may panic.

#![no_main]

use kastell_attest::document::verify_document;
use kastell_attest::verify::{Expectations, Trust};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let trust = Trust {
        intermediates: Vec::new(),
        ..kastell_attest_fuzz::trust(&[])
    };
    let Ok(verified) = verify_document(input, &trust, &Expectations::default()) else {
        return;
    };
    // A document that passes is verified once more, expecting what it asserts, so the
    // claim checks run too.
    let document = &verified.document;
    let strict = Expectations {
        guests: vec![document.guest],
        policy: document.policy,
        nonce: document.nonce.clone(),
        max_age: Some(std::time::Duration::from_secs(3600)),
    };
    let _ = verify_document(input, &trust, &strict);
});
