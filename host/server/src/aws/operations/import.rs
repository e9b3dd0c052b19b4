//! `GetParametersForImport`, `ImportKeyMaterial`, `DeleteImportedKeyMaterial`: imported key
//! material for keys created with `Origin=EXTERNAL`, over the key service's import
//! ([`kastell_core::keys::import`]): AWS's members validated as AWS does, the wrapping
//! algorithms and specs AWS lists but Kastell does not offer refused by name.

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::import::{
    Expiry, ImportType, MaterialImport, WrappingAlgorithm, WrappingKeySpec,
};
use kastell_core::keys::{Caller, unix_now};
use kastell_proto::aws::{
    AwsException, DeleteImportedKeyMaterialRequest, GetParametersForImportRequest,
    GetParametersForImportResponse, ImportKeyMaterialRequest, KeyMaterialResponse,
};

use super::shared::{blocking, encode, json, key_id_only, missing, parse, sized_blob, validation};
use super::{AwsError, AwsState};

/// Longest import token and wrapped material AWS takes (`CiphertextType`), bytes.
const MAX_CIPHERTEXT: usize = 6144;
/// How far ahead `ValidTo` may be (AWS: 365 days), seconds.
const MAX_VALID_FOR: i64 = 365 * 86_400;

/// `WrappingAlgorithm` as Kastell takes it.
fn wrapping_algorithm(given: Option<&str>) -> Result<WrappingAlgorithm, AwsError> {
    let name = given.ok_or_else(|| missing("WrappingAlgorithm"))?;
    if let Some(algorithm) = WrappingAlgorithm::from_name(name) {
        return Ok(algorithm);
    }
    match name {
        "RSAES_PKCS1_V1_5" | "SM2PKE" => Err(AwsError::new(
            AwsException::UnsupportedOperation,
            format!(
                "Kastell does not offer the wrapping algorithm {name}: use RSAES_OAEP_SHA_1, \
                 RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256"
            ),
        )),
        other => Err(validation(
            "WrappingAlgorithm",
            &format!("'{other}'"),
            "Member must satisfy enum value set: [RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1, \
             RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSA_AES_KEY_WRAP_SHA_256, SM2PKE]",
        )),
    }
}

/// `WrappingKeySpec` as Kastell takes it.
fn wrapping_key_spec(given: Option<&str>) -> Result<WrappingKeySpec, AwsError> {
    let name = given.ok_or_else(|| missing("WrappingKeySpec"))?;
    if let Some(spec) = WrappingKeySpec::from_name(name) {
        return Ok(spec);
    }
    match name {
        "SM2" => Err(AwsError::new(
            AwsException::UnsupportedOperation,
            "Kastell does not offer SM2 wrapping keys: use RSA_2048, RSA_3072 or RSA_4096",
        )),
        other => Err(validation(
            "WrappingKeySpec",
            &format!("'{other}'"),
            "Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, SM2]",
        )),
    }
}

pub(super) async fn get_parameters(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: GetParametersForImportRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let algorithm = wrapping_algorithm(request.wrapping_algorithm.as_deref())?;
    let spec = wrapping_key_spec(request.wrapping_key_spec.as_deref())?;
    let st = state.clone();
    blocking(move || {
        let id = st.shared.service.key_id(&key)?;
        let parameters = st
            .shared
            .service
            .parameters_for_import(&caller, &key, algorithm, spec)?;
        #[expect(clippy::cast_precision_loss, reason = "seconds since 1970 fit in f64")]
        let parameters_valid_to = parameters.valid_to as f64;
        Ok(json(&GetParametersForImportResponse {
            key_id: st.endpoint.key_arn(&id.to_string()),
            import_token: encode(&parameters.token),
            public_key: encode(&parameters.public_key),
            parameters_valid_to,
        }))
    })
    .await
}

/// When the material expires, from `ExpirationModel` and `ValidTo` as AWS takes them.
fn expiry(request: &ImportKeyMaterialRequest) -> Result<Expiry, AwsError> {
    let model = request.expiration_model.as_deref();
    let valid_to = match (model, request.valid_to) {
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE") | None, None) => return Ok(Expiry::Never),
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(_)) => {
            return Err(AwsError::new(
                AwsException::Validation,
                "ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
            ));
        }
        (Some("KEY_MATERIAL_EXPIRES"), None) => {
            return Err(AwsError::new(
                AwsException::Validation,
                "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES",
            ));
        }
        (Some("KEY_MATERIAL_EXPIRES") | None, Some(valid_to)) => valid_to,
        (Some(other), _) => {
            return Err(validation(
                "ExpirationModel",
                &format!("'{other}'"),
                "Member must satisfy enum value set: [KEY_MATERIAL_EXPIRES, \
                 KEY_MATERIAL_DOES_NOT_EXPIRE]",
            ));
        }
    };
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a time in seconds; the range is checked next"
    )]
    let at = valid_to.floor() as i64;
    let now = unix_now();
    if !valid_to.is_finite() || at <= now || at > now + MAX_VALID_FOR {
        return Err(AwsError::new(
            AwsException::Validation,
            "ValidTo must be in the future and at most 365 days from now",
        ));
    }
    Ok(Expiry::At(at))
}

/// A `KeyMaterialId`, when given: 64 lower-case hexadecimal digits.
fn material_id(given: Option<&str>) -> Result<Option<[u8; 32]>, AwsError> {
    let Some(id) = given else {
        return Ok(None);
    };
    let mut bytes = [0; 32];
    if id.len() != 64
        || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        || hex::decode_to_slice(id, &mut bytes).is_err()
    {
        return Err(validation(
            "KeyMaterialId",
            &format!("'{id}'"),
            "Member must satisfy regular expression pattern: ^[a-f0-9]+$ and have length 64",
        ));
    }
    Ok(Some(bytes))
}

pub(super) async fn import_key_material(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ImportKeyMaterialRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let token = sized_blob(
        "ImportToken",
        request.import_token.as_deref(),
        1,
        MAX_CIPHERTEXT,
    )?;
    let encrypted = sized_blob(
        "EncryptedKeyMaterial",
        request.encrypted_key_material.as_deref(),
        1,
        MAX_CIPHERTEXT,
    )?;
    let expiry = expiry(&request)?;
    let material_id = material_id(request.key_material_id.as_deref())?;
    if request
        .key_material_description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 256)
    {
        return Err(validation(
            "KeyMaterialDescription",
            "(too long)",
            "Member must have length less than or equal to 256",
        ));
    }
    // AWS's pattern: ^[a-zA-Z0-9:/_\s.-]+$ (the description is kept and listed).
    if let Some(description) = &request.key_material_description
        && (description.is_empty()
            || !description
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || ":/_.-".contains(c)))
    {
        return Err(validation(
            "KeyMaterialDescription",
            &format!("'{description}'"),
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_\\s.-]+$",
        ));
    }
    let import_type = match request.import_type.as_deref() {
        None => ImportType::Unstated,
        Some("EXISTING_KEY_MATERIAL") => ImportType::Existing,
        Some("NEW_KEY_MATERIAL") if material_id.is_some() => {
            return Err(AwsError::new(
                AwsException::Validation,
                "KeyMaterialId cannot be specified with ImportType NEW_KEY_MATERIAL",
            ));
        }
        Some("NEW_KEY_MATERIAL") => ImportType::New,
        Some(other) => {
            return Err(validation(
                "ImportType",
                &format!("'{other}'"),
                "Member must satisfy enum value set: [NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL]",
            ));
        }
    };
    let import = MaterialImport {
        token,
        encrypted,
        expiry,
        import_type,
        material_id,
        description: request.key_material_description.clone(),
    };
    let st = state.clone();
    blocking(move || {
        let (record, material) = st
            .shared
            .service
            .import_key_material(&caller, &key, &import)?;
        Ok(json(&KeyMaterialResponse {
            key_id: st.endpoint.key_arn(&record.id.to_string()),
            key_material_id: Some(material),
        }))
    })
    .await
}

pub(super) async fn delete_imported_key_material(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: DeleteImportedKeyMaterialRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let material_id = material_id(request.key_material_id.as_deref())?;
    let st = state.clone();
    blocking(move || {
        let (record, deleted) =
            st.shared
                .service
                .delete_imported_material(&caller, &key, material_id.as_ref())?;
        Ok(json(&KeyMaterialResponse {
            key_id: st.endpoint.key_arn(&record.id.to_string()),
            key_material_id: Some(kastell_core::keys::import::material_id_hex(&deleted)),
        }))
    })
    .await
}
