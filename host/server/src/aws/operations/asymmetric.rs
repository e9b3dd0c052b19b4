//! `GetPublicKey`, `DeriveSharedSecret`, `GenerateDataKeyPair(WithoutPlaintext)`: public
//! keys and peer keys as DER SubjectPublicKeyInfo, private keys of data key pairs as
//! PKCS#8 (and as a Kastell ciphertext under the symmetric key named).

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::{Caller, DryRun};
use kastell_proto::Operation;
use kastell_proto::algorithm::KeyAgreementAlgorithm;
use kastell_proto::api::SecretBase64;
use kastell_proto::aws::{
    AwsException, DeriveSharedSecretForRecipientResponse, DeriveSharedSecretRequest,
    DeriveSharedSecretResponse, GenerateDataKeyPairForRecipientResponse,
    GenerateDataKeyPairRequest, GenerateDataKeyPairResponse, GetPublicKeyResponse, KeyIdRequest,
    SpecError, aws_key_spec, customer_master_key_spec, kastell_key_pair_spec,
};

use super::recipient;
use super::shared::{
    algorithms, any_key, blocking, context, dry_run, encode, enumerated, json, key_operation,
    missing, parse, sized_blob, validation,
};
use super::{AwsError, AwsState};

pub(super) async fn public_key(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: KeyIdRequest = parse(body)?;
    let key = any_key(state, "KeyId", &request.key_id)?;
    let st = state.clone();
    blocking(move || {
        let public = st.shared.service.public_key(&caller, &key)?;
        let (encryption, signing, _, agreement) = algorithms(public.spec, public.usage);
        Ok(json(&GetPublicKeyResponse {
            key_id: st.endpoint.key_arn(&public.key.to_string()),
            public_key: encode(&public.spki_der),
            customer_master_key_spec: customer_master_key_spec(public.spec).map(str::to_owned),
            key_spec: aws_key_spec(public.spec).to_owned(),
            key_usage: public.usage.as_str().to_owned(),
            encryption_algorithms: encryption,
            signing_algorithms: signing,
            key_agreement_algorithms: agreement,
        }))
    })
    .await
}

pub(super) async fn derive_shared_secret(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: DeriveSharedSecretRequest = parse(body)?;
    let recipient = recipient::read(request.recipient.as_ref())?;
    let key = any_key(state, "KeyId", &request.key_id)?;
    let algorithm = enumerated::<KeyAgreementAlgorithm>(
        "KeyAgreementAlgorithm",
        request.key_agreement_algorithm.as_deref(),
        KeyAgreementAlgorithm::NAMES,
        &[],
    )?
    .ok_or_else(|| missing("KeyAgreementAlgorithm"))?;
    let peer = sized_blob("PublicKey", request.public_key.as_deref(), 1, 8192)?;
    let (caller, recipient) =
        recipient::attest(state, caller, Operation::DeriveSharedSecret, recipient).await?;
    if request.dry_run == Some(true) {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::DeriveSharedSecret {
                    key: &key,
                    algorithm: Some(algorithm),
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let (id, secret) =
            app.service
                .derive_shared_secret(&caller, &key, Some(algorithm), &peer)?;
        if let Some(recipient) = &recipient {
            return Ok(json(&DeriveSharedSecretForRecipientResponse {
                key_id: st.endpoint.key_arn(&id.to_string()),
                ciphertext_for_recipient: recipient.seal("DeriveSharedSecret", secret.expose())?,
                key_agreement_algorithm: algorithm.as_str().to_owned(),
                key_origin: "AWS_KMS".to_owned(),
            }));
        }
        Ok(json(&DeriveSharedSecretResponse {
            key_id: st.endpoint.key_arn(&id.to_string()),
            shared_secret: SecretBase64::new(encode(secret.expose())),
            key_agreement_algorithm: algorithm.as_str().to_owned(),
            key_origin: "AWS_KMS".to_owned(),
        }))
    })
    .await
}

pub(super) async fn data_key_pair(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
    with_plaintext: bool,
) -> Result<Response, AwsError> {
    let request: GenerateDataKeyPairRequest = parse(body)?;
    let recipient = recipient::read(request.recipient.as_ref())?;
    let key = any_key(state, "KeyId", &request.key_id)?;
    let name = request
        .key_pair_spec
        .ok_or_else(|| missing("KeyPairSpec"))?;
    let spec = kastell_key_pair_spec(&name).map_err(|why| match why {
        SpecError::NotSupported => AwsError::new(
            AwsException::UnsupportedOperation,
            format!("Kastell does not offer {name} data key pairs"),
        ),
        SpecError::Unknown => validation(
            "KeyPairSpec",
            &format!("'{name}'"),
            "Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, \
             ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SM2, \
             ECC_NIST_EDWARDS25519, ML_KEM_512, ML_KEM_768, ML_KEM_1024]",
        ),
    })?;
    let context = context(request.encryption_context);
    let operation = if with_plaintext {
        Operation::GenerateDataKeyPair
    } else {
        Operation::GenerateDataKeyPairWithoutPlaintext
    };
    let (caller, recipient) = recipient::attest(state, caller, operation, recipient).await?;
    if request.dry_run == Some(true) {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::GenerateDataKeyPair {
                    key: &key,
                    spec,
                    context: &context,
                    with_plaintext,
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let pair =
            app.service
                .generate_data_key_pair(&caller, &key, spec, &context, with_plaintext)?;
        if let (Some(recipient), Some(private_key)) = (&recipient, &pair.private_key) {
            return Ok(json(&GenerateDataKeyPairForRecipientResponse {
                private_key_ciphertext_blob: encode(&pair.private_key_ciphertext),
                ciphertext_for_recipient: recipient
                    .seal("GenerateDataKeyPair", private_key.expose())?,
                public_key: encode(&pair.public_key),
                key_id: st.endpoint.key_arn(&pair.key.to_string()),
                key_pair_spec: aws_key_spec(pair.spec).to_owned(),
            }));
        }
        Ok(json(&GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: encode(&pair.private_key_ciphertext),
            private_key_plaintext: pair
                .private_key
                .as_ref()
                .map(|p| SecretBase64::new(encode(p.expose()))),
            public_key: encode(&pair.public_key),
            key_id: st.endpoint.key_arn(&pair.key.to_string()),
            key_pair_spec: aws_key_spec(pair.spec).to_owned(),
            key_material_id: super::shared::ciphertext_material(
                &app.service,
                &pair.private_key_ciphertext,
            ),
        }))
    })
    .await
}
