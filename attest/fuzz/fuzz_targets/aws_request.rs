//! The AWS endpoint's request parsers in `kastell-proto`: any bytes, the first line as the
//! KMS operation or content type and the rest as the body, go to every KMS request shape
//! (AWS JSON 1.1), to the STS query protocol (form pairs, `GetCallerIdentity`) and its XML
//! errors. Nothing may panic, and no markup of the input survives into an XML answer.

#![no_main]

use kastell_proto::aws::sigv4::query_pairs;
use kastell_proto::aws::{
    CreateAliasRequest, CreateKeyRequest, DecryptRequest, DeleteAliasRequest,
    DeriveSharedSecretRequest, EnableKeyRotationRequest, EncryptRequest,
    GenerateDataKeyPairRequest, GenerateDataKeyRequest, GenerateRandomRequest, KeyIdRequest,
    ListRequest, MacRequest, ReEncryptRequest, ScheduleKeyDeletionRequest, SignRequest,
    TagResourceRequest, UntagResourceRequest, UpdateKeyDescriptionRequest, sts,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let split = input
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(input.len());
    let (first, body) = input.split_at(split);
    let body = body.get(1..).unwrap_or_default();

    let _ = serde_json::from_slice::<CreateAliasRequest>(body);
    let _ = serde_json::from_slice::<CreateKeyRequest>(body);
    let _ = serde_json::from_slice::<DecryptRequest>(body);
    let _ = serde_json::from_slice::<DeleteAliasRequest>(body);
    let _ = serde_json::from_slice::<DeriveSharedSecretRequest>(body);
    let _ = serde_json::from_slice::<EnableKeyRotationRequest>(body);
    let _ = serde_json::from_slice::<EncryptRequest>(body);
    let _ = serde_json::from_slice::<GenerateDataKeyPairRequest>(body);
    let _ = serde_json::from_slice::<GenerateDataKeyRequest>(body);
    let _ = serde_json::from_slice::<GenerateRandomRequest>(body);
    let _ = serde_json::from_slice::<KeyIdRequest>(body);
    let _ = serde_json::from_slice::<ListRequest>(body);
    let _ = serde_json::from_slice::<MacRequest>(body);
    let _ = serde_json::from_slice::<ReEncryptRequest>(body);
    let _ = serde_json::from_slice::<ScheduleKeyDeletionRequest>(body);
    let _ = serde_json::from_slice::<SignRequest>(body);
    let _ = serde_json::from_slice::<TagResourceRequest>(body);
    let _ = serde_json::from_slice::<UntagResourceRequest>(body);
    let _ = serde_json::from_slice::<UpdateKeyDescriptionRequest>(body);

    let text = String::from_utf8_lossy(body);
    let _ = sts::is_sts(Some(first), false, &text);
    if let Ok(pairs) = query_pairs(&text) {
        let error = match sts::action(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(sts::Action::GetCallerIdentity) => return,
            Err(error) => error,
        };
        let xml = error.to_xml(&text);
        let inner = xml
            .split("<Message>")
            .nth(1)
            .and_then(|rest| rest.split("</Message>").next())
            .unwrap_or_default();
        assert!(!inner.contains('<') && !inner.contains('>'), "{xml}");
    }
    let escaped = sts::escape(&text);
    assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('"'));
});
