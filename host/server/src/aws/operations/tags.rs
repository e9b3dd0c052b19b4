//! `TagResource`, `UntagResource`, `ListResourceTags` (and the tag edit
//! `UpdateKeyDescription` shares): AWS's tag rules (keys of 1–128 characters not starting
//! with `aws:`, values of 0–256, at most 50 per key), under the quorum class `bind-policy`
//! as `/v1`'s tag changes are (policies decide on tags).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::Response;
use base64::Engine as _;
use kastell_core::keys::{Caller, MAX_TAGS};
use kastell_proto::QuorumAction;
use kastell_proto::aws::{
    AwsException, ListRequest, ListResourceTagsResponse, Tag, TagResourceRequest,
    UntagResourceRequest,
};

use super::shared::{
    bad_marker, blocking, empty, gated, json, key_id_only, missing, parse, quorum_error, within,
};
use super::{AwsError, AwsState};

/// A `TagException` naming what is wrong.
fn tag_error(message: String) -> AwsError {
    AwsError::new(AwsException::Tag, message)
}

/// A tag key as AWS takes it.
fn checked_tag_key(key: &str) -> Result<(), AwsError> {
    let length = key.chars().count();
    if !(1..=128).contains(&length) {
        return Err(tag_error(format!(
            "TagKey `{key}` has {length} characters; a tag key has 1 to 128"
        )));
    }
    if key
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:"))
    {
        return Err(tag_error(format!(
            "TagKey `{key}`: tag keys starting with aws: are reserved for AWS"
        )));
    }
    Ok(())
}

/// The tags of a request as a map, each checked; a key given twice, or more than
/// [`MAX_TAGS`], is refused.
pub(super) fn tag_map(tags: &[Tag]) -> Result<BTreeMap<String, String>, AwsError> {
    let mut map = BTreeMap::new();
    for tag in tags {
        checked_tag_key(&tag.tag_key)?;
        let length = tag.tag_value.chars().count();
        if length > 256 {
            return Err(tag_error(format!(
                "the value of tag `{}` has {length} characters; a tag value has 0 to 256",
                tag.tag_key
            )));
        }
        if map
            .insert(tag.tag_key.clone(), tag.tag_value.clone())
            .is_some()
        {
            return Err(tag_error(format!(
                "TagKey `{}` is given twice",
                tag.tag_key
            )));
        }
    }
    if map.len() > MAX_TAGS {
        return Err(AwsError::new(
            AwsException::LimitExceeded,
            format!("{} tags; a key holds at most {MAX_TAGS}", map.len()),
        ));
    }
    Ok(map)
}

/// Sets `set`, removes `remove` and replaces the description when given, on the key as
/// stored (`KeyService::edit_tags`); when the `bind-policy` class needs approvals, the
/// resulting tags and description are submitted as a pending `update-tags` operation.
pub(super) fn gated_edit(
    app: &crate::AppState,
    caller: &Caller,
    key: &str,
    set: &BTreeMap<String, String>,
    remove: &[String],
    description: Option<&str>,
) -> Result<Response, AwsError> {
    let edit = || {
        app.service
            .edit_tags(caller, key, set, remove, description)?;
        Ok(empty())
    };
    let probe = QuorumAction::UpdateTags {
        key: key.to_owned(),
        tags: BTreeMap::new(),
        description: None,
    };
    let required = app.quorum.required(probe.class()).map_err(quorum_error)?;
    if required <= 1 {
        return edit();
    }
    let mut tags = app.service.describe_key(caller, key)?.tags;
    tags.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
    for name in remove {
        tags.remove(name);
    }
    let action = QuorumAction::UpdateTags {
        key: key.to_owned(),
        tags,
        description: description.map(str::to_owned),
    };
    gated(app, caller, action, edit)
}

pub(super) async fn tag_resource(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: TagResourceRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let tags = tag_map(&request.tags.ok_or_else(|| missing("Tags"))?)?;
    let st = state.clone();
    blocking(move || gated_edit(&st.shared, &caller, &key, &tags, &[], None)).await
}

pub(super) async fn untag_resource(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: UntagResourceRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let remove = request.tag_keys.ok_or_else(|| missing("TagKeys"))?;
    for name in &remove {
        checked_tag_key(name)?;
    }
    let st = state.clone();
    blocking(move || gated_edit(&st.shared, &caller, &key, &BTreeMap::new(), &remove, None)).await
}

/// The marker of the page after tag `key` (opaque to clients, within AWS's marker
/// characters).
fn tag_marker(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

pub(super) async fn list_resource_tags(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ListRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", request.key_id.as_deref().unwrap_or(""))?;
    let limit = within("Limit", request.limit, 1..=50, 50)?;
    let after = request
        .marker
        .as_deref()
        .map(|marker| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(marker)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| bad_marker(marker))
        })
        .transpose()?;
    let st = state.clone();
    blocking(move || {
        let tags = st.shared.service.describe_key(&caller, &key)?.tags;
        let mut page: Vec<Tag> = tags
            .into_iter()
            .filter(|(name, _)| after.as_ref().is_none_or(|after| name > after))
            .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
            .take(usize::try_from(limit).unwrap_or(usize::MAX) + 1)
            .collect();
        let truncated = page.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_marker = truncated
            .then(|| page.last().map(|tag| tag_marker(&tag.tag_key)))
            .flatten();
        Ok(json(&ListResourceTagsResponse {
            tags: page,
            truncated: next_marker.is_some(),
            next_marker,
        }))
    })
    .await
}
