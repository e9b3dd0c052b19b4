//! `Encrypt`, `Decrypt`, `ReEncrypt`, `GenerateDataKey(WithoutPlaintext)`,
//! `GenerateRandom`: symmetric ciphertexts are Kastell's own (they name key and version,
//! so they cross between `/v1` and this API), RSA-OAEP ones the raw OAEP output as AWS
//! returns it.

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::{Caller, DryRun, ReEncryptSide};
use kastell_proto::EncryptionContext;
use kastell_proto::Operation;
use kastell_proto::algorithm::EncryptionAlgorithm;
use kastell_proto::api::SecretBase64;
use kastell_proto::aws::{
    AwsException, DecryptForRecipientResponse, DecryptRequest, DecryptResponse, EncryptRequest,
    EncryptResponse, GenerateDataKeyForRecipientResponse, GenerateDataKeyRequest,
    GenerateDataKeyResponse, GenerateRandomForRecipientResponse, GenerateRandomRequest,
    GenerateRandomResponse, ReEncryptRequest, ReEncryptResponse,
};
use zeroize::Zeroizing;

use super::recipient;
use super::shared::{
    any_key, ciphertext_key, ciphertext_material, context, dry_run, encode, enumerated, json,
    key_operation, missing, parse, sized_blob, validation, within,
};
use super::{AwsError, AwsState};

/// Longest ciphertext AWS takes, in bytes.
const MAX_CIPHERTEXT: usize = 6144;

/// An `EncryptionAlgorithm` member (and its siblings `Source…`, `Destination…`).
fn encryption_algorithm(
    field: &str,
    given: Option<&str>,
) -> Result<Option<EncryptionAlgorithm>, AwsError> {
    enumerated(
        field,
        given,
        &[
            "SYMMETRIC_DEFAULT",
            "RSAES_OAEP_SHA_1",
            "RSAES_OAEP_SHA_256",
        ],
        &["SM2PKE"],
    )
}

pub(super) async fn encrypt(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: EncryptRequest = parse(body)?;
    let key = any_key(state, "KeyId", &request.key_id)?;
    let plaintext = Zeroizing::new(sized_blob(
        "Plaintext",
        request.plaintext.as_ref().map(SecretBase64::expose),
        1,
        4096,
    )?);
    let algorithm = encryption_algorithm(
        "EncryptionAlgorithm",
        request.encryption_algorithm.as_deref(),
    )?;
    let context = context(request.encryption_context);
    if request.dry_run == Some(true) {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::Encrypt {
                    key: &key,
                    algorithm,
                    context: &context,
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let encrypted = app
            .service
            .encrypt_with(&caller, &key, algorithm, &plaintext, &context)?;
        Ok(json(&EncryptResponse {
            ciphertext_blob: encode(&encrypted.ciphertext),
            key_id: st.endpoint.key_arn(&encrypted.key.to_string()),
            encryption_algorithm: encrypted.algorithm.as_str().to_owned(),
        }))
    })
    .await
}

pub(super) async fn decrypt(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: DecryptRequest = parse(body)?;
    let recipient = recipient::read(request.recipient.as_ref())?;
    let ciphertext = sized_blob(
        "CiphertextBlob",
        Some(&request.ciphertext_blob)
            .filter(|c| !c.is_empty())
            .map(String::as_str),
        1,
        MAX_CIPHERTEXT,
    )?;
    let key = request
        .key_id
        .as_deref()
        .map(|k| any_key(state, "KeyId", k))
        .transpose()?;
    let algorithm = encryption_algorithm(
        "EncryptionAlgorithm",
        request.encryption_algorithm.as_deref(),
    )?;
    let context = context(request.encryption_context);
    let (caller, recipient) =
        recipient::attest(state, caller, Operation::Decrypt, recipient).await?;
    if request.dry_run == Some(true) {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::Decrypt {
                    key: key.as_deref(),
                    algorithm,
                    ciphertext: &ciphertext,
                    context: &context,
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let (id, plaintext) =
            app.service
                .decrypt_with(&caller, key.as_deref(), algorithm, &ciphertext, &context)?;
        let algorithm = algorithm.unwrap_or(EncryptionAlgorithm::SymmetricDefault);
        if let Some(recipient) = &recipient {
            return Ok(json(&DecryptForRecipientResponse {
                key_id: st.endpoint.key_arn(&id.to_string()),
                ciphertext_for_recipient: recipient.seal("Decrypt", plaintext.expose())?,
                encryption_algorithm: algorithm.as_str().to_owned(),
            }));
        }
        Ok(json(&DecryptResponse {
            key_id: st.endpoint.key_arn(&id.to_string()),
            plaintext: SecretBase64::new(encode(plaintext.expose())),
            encryption_algorithm: algorithm.as_str().to_owned(),
            key_material_id: ciphertext_material(&app.service, &ciphertext),
        }))
    })
    .await
}

/// The two sides of a `ReEncrypt` request, as owned values.
struct Sides {
    source_key: Option<String>,
    source_algorithm: Option<EncryptionAlgorithm>,
    source_context: EncryptionContext,
    destination_key: String,
    destination_algorithm: Option<EncryptionAlgorithm>,
    destination_context: EncryptionContext,
}

impl Sides {
    fn source(&self) -> ReEncryptSide<'_> {
        ReEncryptSide {
            key: self.source_key.as_deref(),
            algorithm: self.source_algorithm,
            context: &self.source_context,
        }
    }

    fn destination(&self) -> ReEncryptSide<'_> {
        ReEncryptSide {
            key: Some(&self.destination_key),
            algorithm: self.destination_algorithm,
            context: &self.destination_context,
        }
    }
}

pub(super) async fn re_encrypt(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ReEncryptRequest = parse(body)?;
    let ciphertext = sized_blob(
        "CiphertextBlob",
        Some(&request.ciphertext_blob)
            .filter(|c| !c.is_empty())
            .map(String::as_str),
        1,
        MAX_CIPHERTEXT,
    )?;
    let sides = Sides {
        destination_key: any_key(state, "DestinationKeyId", &request.destination_key_id)?,
        source_key: request
            .source_key_id
            .as_deref()
            .map(|k| any_key(state, "SourceKeyId", k))
            .transpose()?,
        source_algorithm: encryption_algorithm(
            "SourceEncryptionAlgorithm",
            request.source_encryption_algorithm.as_deref(),
        )?,
        destination_algorithm: encryption_algorithm(
            "DestinationEncryptionAlgorithm",
            request.destination_encryption_algorithm.as_deref(),
        )?,
        source_context: context(request.source_encryption_context),
        destination_context: context(request.destination_encryption_context),
    };
    if request.dry_run == Some(true) {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::ReEncrypt {
                    ciphertext: &ciphertext,
                    source: sides.source(),
                    destination: sides.destination(),
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let moved = app.service.re_encrypt_with(
            &caller,
            &ciphertext,
            sides.source(),
            sides.destination(),
        )?;
        Ok(json(&ReEncryptResponse {
            ciphertext_blob: encode(&moved.ciphertext),
            source_key_id: st.endpoint.key_arn(&moved.source_key.to_string()),
            key_id: st.endpoint.key_arn(&moved.key.to_string()),
            source_encryption_algorithm: moved.source_algorithm.as_str().to_owned(),
            destination_encryption_algorithm: moved.algorithm.as_str().to_owned(),
            source_key_material_id: ciphertext_material(&app.service, &ciphertext),
            destination_key_material_id: ciphertext_material(&app.service, &moved.ciphertext),
        }))
    })
    .await
}

/// The length of the data key a `GenerateDataKey` request asks for: `KeySpec` `AES_256`
/// (32) or `AES_128` (16), or `NumberOfBytes` (1–1024); one of them, not both.
fn data_key_len(request: &GenerateDataKeyRequest) -> Result<usize, AwsError> {
    let len = match (request.key_spec.as_deref(), request.number_of_bytes) {
        (Some(_), Some(_)) => {
            return Err(AwsError::new(
                AwsException::Validation,
                "give KeySpec or NumberOfBytes, not both",
            ));
        }
        (None, None) => {
            return Err(AwsError::new(
                AwsException::Validation,
                "give KeySpec or NumberOfBytes",
            ));
        }
        (Some("AES_256"), None) => 32,
        (Some("AES_128"), None) => 16,
        (Some(other), None) => {
            return Err(validation(
                "KeySpec",
                &format!("'{other}'"),
                "Member must satisfy enum value set: [AES_256, AES_128]",
            ));
        }
        (None, Some(n)) => within("NumberOfBytes", Some(n), 1..=1024, 32)?,
    };
    Ok(usize::try_from(len).unwrap_or(usize::MAX))
}

pub(super) async fn generate_data_key(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
    with_plaintext: bool,
) -> Result<Response, AwsError> {
    let request: GenerateDataKeyRequest = parse(body)?;
    let recipient = recipient::read(request.recipient.as_ref())?;
    let key = any_key(state, "KeyId", &request.key_id)?;
    let len = data_key_len(&request)?;
    let context = context(request.encryption_context);
    let operation = if with_plaintext {
        Operation::GenerateDataKey
    } else {
        Operation::GenerateDataKeyWithoutPlaintext
    };
    let (caller, recipient) = recipient::attest(state, caller, operation, recipient).await?;
    if request.dry_run == Some(true) {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::GenerateDataKey {
                    key: &key,
                    context: &context,
                    with_plaintext,
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let data_key =
            app.service
                .generate_data_key_of(&caller, &key, &context, with_plaintext, len)?;
        let id = ciphertext_key(&data_key.ciphertext).unwrap_or(key);
        if let (Some(recipient), Some(plaintext)) = (&recipient, &data_key.plaintext) {
            return Ok(json(&GenerateDataKeyForRecipientResponse {
                ciphertext_blob: encode(&data_key.ciphertext),
                ciphertext_for_recipient: recipient.seal("GenerateDataKey", plaintext.expose())?,
                key_id: st.endpoint.key_arn(&id),
            }));
        }
        Ok(json(&GenerateDataKeyResponse {
            ciphertext_blob: encode(&data_key.ciphertext),
            plaintext: data_key
                .plaintext
                .as_ref()
                .map(|p| SecretBase64::new(encode(p.expose()))),
            key_id: st.endpoint.key_arn(&id),
            key_material_id: ciphertext_material(&app.service, &data_key.ciphertext),
        }))
    })
    .await
}

pub(super) async fn generate_random(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: GenerateRandomRequest = parse(body)?;
    let recipient = recipient::read(request.recipient.as_ref())?;
    if request.custom_key_store_id.is_some() {
        return Err(AwsError::new(
            AwsException::UnsupportedOperation,
            "Kastell does not offer custom key stores (CustomKeyStoreId)",
        ));
    }
    let len = within(
        "NumberOfBytes",
        Some(
            request
                .number_of_bytes
                .ok_or_else(|| missing("NumberOfBytes"))?,
        ),
        1..=1024,
        32,
    )?;
    let (caller, recipient) =
        recipient::attest(state, caller, Operation::GenerateRandom, recipient).await?;
    key_operation(state, move |app| {
        let bytes = Zeroizing::new(
            app.service
                .generate_random(&caller, usize::try_from(len).unwrap_or(0))?,
        );
        if let Some(recipient) = &recipient {
            return Ok(json(&GenerateRandomForRecipientResponse {
                ciphertext_for_recipient: recipient.seal("GenerateRandom", &bytes)?,
            }));
        }
        Ok(json(&GenerateRandomResponse {
            plaintext: SecretBase64::new(encode(&bytes)),
        }))
    })
    .await
}
