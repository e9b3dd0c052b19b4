//! A workload that has the host attest the public key it is given: its input is the key
//! (a SEC1 P-384 point or an RSA SubjectPublicKeyInfo, DER), its output the Nitro-format
//! attestation document (no nonce, no user data). It stands in for an enclave that holds
//! the private key and sends the document as AWS KMS's `Recipient`.

#[allow(unsafe_code, missing_docs, reason = "generated bindings")]
mod bindings {
    wit_bindgen::generate!({ world: "workload", path: "../../../wit" });

    use kastell::runtime::attestation::attest;

    struct AttestKey;

    impl Guest for AttestKey {
        fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
            attest(&[], &input, &[]).map(|evidence| evidence.document)
        }
    }

    export!(AttestKey);
}
