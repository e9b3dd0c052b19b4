//! `kastell key … --profile P`: the same commands, sent to a Kastell server over mutual
//! TLS. The server's client certificate decides the role and tenant; the output is the
//! same as the local command's (or the server's JSON with `--json`).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::{DataKeyOut, KeyCommand, UseArgs, print_json, read_binary, read_data, write_output};
use crate::cli::CliError;
use crate::client::{Client, RemoteError, segment};
use kastell_core::clients::ClientProfile;
use kastell_proto::ErrorCode;

/// Maps a remote failure to the command's exit code, the same as the local command's for
/// the same error: the server's error name is an [`ErrorCode`], whose exit code is that of
/// the local command (refusals 1, bad input 2, failures 3). An answer without a known name
/// (a proxy's, say) is classed by its status; an unreadable profile is bad input; the
/// network failing is a failure.
pub(in crate::cli) fn remote_error(err: RemoteError) -> CliError {
    let code = match &err {
        RemoteError::Api { name, status, .. } => {
            name.parse::<ErrorCode>().unwrap_or(match status {
                400 | 413 | 415 | 422 => ErrorCode::InvalidInput,
                500.. => ErrorCode::Internal,
                _ => ErrorCode::AccessDenied,
            })
        }
        RemoteError::Profile(_) => ErrorCode::InvalidInput,
        RemoteError::Transport(_) => ErrorCode::Internal,
    };
    CliError::coded(code, err.to_string())
}

/// Opens the client a profile names.
///
/// # Errors
/// An unreadable profile (exit 2).
pub(in crate::cli) fn connect(profile: &Path) -> Result<Client, CliError> {
    let profile = ClientProfile::load(profile).map_err(|e| CliError::Usage(e.to_string()))?;
    Client::new(&profile).map_err(remote_error)
}

/// Prints a JSON answer: pretty, or as it came with `--json` (one line).
pub(in crate::cli) fn print_answer(value: &Value, raw: bool) -> Result<(), CliError> {
    if raw {
        println!("{value}");
        Ok(())
    } else {
        print_json(value)
    }
}

/// Prints an administrative answer; a pending quorum operation is reported on stderr
/// with what the officers must do.
pub(in crate::cli) fn print_admin(value: &Value, raw: bool) -> Result<(), CliError> {
    if value.get("status").and_then(Value::as_str) == Some("pending") {
        let id = value
            .pointer("/operation/id")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let need = value.get("required").and_then(Value::as_u64).unwrap_or(0);
        eprintln!(
            "pending approval: operation {id} needs {need} officer approvals \
             (`kastell approve {id} --profile …`)"
        );
    }
    print_answer(value, raw)
}

fn field_bytes(value: &Value, field: &str) -> Result<Vec<u8>, CliError> {
    let text = value
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::Internal(format!("the server's answer has no `{field}`")))?;
    BASE64
        .decode(text)
        .map_err(|e| CliError::Internal(format!("the server's `{field}` is not base64: {e}")))
}

fn context(args: &UseArgs) -> Result<Value, CliError> {
    if args.tenant.is_some() {
        return Err(CliError::Usage(
            "--tenant: with --profile the tenant comes from the client certificate".into(),
        ));
    }
    Ok(json!(args.context().0))
}

fn key_path(key: &str, action: &str) -> String {
    format!("/v1/keys/{}{action}", segment(key))
}

/// Runs a key command against the server in `profile`.
#[allow(
    clippy::too_many_lines,
    reason = "one arm per command, each a request and its output"
)]
pub(super) fn run(profile: &Path, raw: bool, command: KeyCommand) -> Result<(), CliError> {
    let client = connect(profile)?;
    let admin = |value: Result<Value, RemoteError>| print_admin(&value.map_err(remote_error)?, raw);
    let valid = |value: Result<Value, RemoteError>| -> Result<(), CliError> {
        let value = value.map_err(remote_error)?;
        if raw {
            println!("{value}");
        }
        match value.get("valid").and_then(Value::as_bool) {
            Some(true) => Ok(()),
            _ => Err(CliError::Invalid("invalid: does not verify".into())),
        }
    };
    match command {
        KeyCommand::Create {
            spec,
            origin,
            alias,
            description,
            tags,
            policy,
            releasable,
            ..
        } => {
            let body = json!({
                "spec": spec,
                "origin": origin,
                "alias": alias,
                "description": description,
                "tags": tags.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                "policy": policy,
                "releasable": releasable,
            });
            admin(client.post("/v1/keys", &body))
        }
        KeyCommand::Show { key, .. } => admin(client.get(&key_path(&key, ""))),
        KeyCommand::List { after, limit, .. } => {
            let mut path = format!("/v1/keys?limit={limit}");
            if let Some(after) = after {
                path.push_str(&format!("&after={}", segment(&after)));
            }
            let page: Value = client.get(&path).map_err(remote_error)?;
            if raw {
                print_answer(&page, true)
            } else {
                print_json(page.get("keys").unwrap_or(&Value::Null))
            }
        }
        KeyCommand::Rotate { key, .. } => {
            admin(client.post(&key_path(&key, "/rotate"), &json!({})))
        }
        KeyCommand::Enable { key, .. } => {
            admin(client.post(&key_path(&key, "/enable"), &json!({})))
        }
        KeyCommand::Disable { key, .. } => {
            admin(client.post(&key_path(&key, "/disable"), &json!({})))
        }
        KeyCommand::ScheduleDeletion { key, days, .. } => admin(client.post(
            &key_path(&key, "/schedule-deletion"),
            &json!({ "days": days }),
        )),
        KeyCommand::CancelDeletion { key, .. } => {
            admin(client.post(&key_path(&key, "/cancel-deletion"), &json!({})))
        }
        KeyCommand::DestroyDue { .. } => Err(CliError::Usage(
            "destroy-due runs locally (--data-dir); a server sweeps every hour by itself".into(),
        )),
        KeyCommand::Alias { alias, key, .. } => {
            let name = alias.strip_prefix("alias/").ok_or_else(|| {
                CliError::Usage(format!("alias `{alias}` must start with `alias/`"))
            })?;
            let value: Value = client
                .put(
                    &format!("/v1/aliases/{}", segment(name)),
                    &json!({ "key": key }),
                )
                .map_err(remote_error)?;
            if raw {
                print_answer(&value, true)
            } else {
                println!("{alias}");
                Ok(())
            }
        }
        KeyCommand::Tag {
            key,
            tags,
            description,
            ..
        } => admin(client.put(
            &key_path(&key, "/tags"),
            &json!({
                "tags": tags.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                "description": description,
            }),
        )),
        KeyCommand::BindPolicy { key, policy, .. } => {
            admin(client.put(&key_path(&key, "/policy"), &json!({ "policy": policy })))
        }
        KeyCommand::SetMinVersion { key, version, .. } => admin(client.put(
            &key_path(&key, "/min-decryption-version"),
            &json!({ "version": version }),
        )),
        KeyCommand::Encrypt { key, io, use_args } => {
            let body = json!({
                "plaintext": BASE64.encode(read_data(&io.input)?),
                "context": context(&use_args)?,
            });
            let value: Value = client
                .post(&key_path(&key, "/encrypt"), &body)
                .map_err(remote_error)?;
            if raw {
                return print_answer(&value, true);
            }
            write_output(io.out.as_deref(), &field_bytes(&value, "ciphertext")?, true)
        }
        KeyCommand::Decrypt { key, io, use_args } => {
            let is_ciphertext = |b: &[u8]| b.first() == Some(&kastell_proto::ciphertext::FORMAT_V1);
            let body = json!({
                "ciphertext": BASE64.encode(read_binary(&io.input, is_ciphertext)?),
                "context": context(&use_args)?,
                "key": key,
            });
            let value: Value = client.post("/v1/decrypt", &body).map_err(remote_error)?;
            if raw {
                return print_answer(&value, true);
            }
            let plaintext = zeroize::Zeroizing::new(field_bytes(&value, "plaintext")?);
            write_output(io.out.as_deref(), &plaintext, false)
        }
        KeyCommand::ReEncrypt { to, io, use_args } => {
            let is_ciphertext = |b: &[u8]| b.first() == Some(&kastell_proto::ciphertext::FORMAT_V1);
            let body = json!({
                "ciphertext": BASE64.encode(read_binary(&io.input, is_ciphertext)?),
                "context": context(&use_args)?,
                "destination": to,
            });
            let value: Value = client.post("/v1/re-encrypt", &body).map_err(remote_error)?;
            if raw {
                return print_answer(&value, true);
            }
            write_output(io.out.as_deref(), &field_bytes(&value, "ciphertext")?, true)
        }
        KeyCommand::GenerateDataKey {
            key,
            without_plaintext,
            use_args,
        } => {
            let body = json!({
                "context": context(&use_args)?,
                "without_plaintext": without_plaintext,
            });
            let value: Value = client
                .post(&key_path(&key, "/generate-data-key"), &body)
                .map_err(remote_error)?;
            if raw {
                return print_answer(&value, true);
            }
            print_json(&DataKeyOut {
                key,
                ciphertext: value
                    .get("ciphertext")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                plaintext: value
                    .get("plaintext")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        }
        KeyCommand::Sign {
            key,
            digest,
            io,
            use_args,
        } => {
            context(&use_args)?;
            let data = BASE64.encode(read_data(&io.input)?);
            let body = if digest {
                json!({ "digest": data })
            } else {
                json!({ "message": data })
            };
            let value: Value = client
                .post(&key_path(&key, "/sign"), &body)
                .map_err(remote_error)?;
            if raw {
                return print_answer(&value, true);
            }
            write_output(io.out.as_deref(), &field_bytes(&value, "signature")?, true)
        }
        KeyCommand::Verify {
            key,
            signature,
            digest,
            io,
            use_args,
        } => {
            context(&use_args)?;
            let is_der = |b: &[u8]| b.first() == Some(&0x30);
            let data = BASE64.encode(read_data(&io.input)?);
            let signature = BASE64.encode(read_binary(&signature, is_der)?);
            let body = if digest {
                json!({ "digest": data, "signature": signature })
            } else {
                json!({ "message": data, "signature": signature })
            };
            valid(client.post(&key_path(&key, "/verify"), &body))
        }
        KeyCommand::PublicKey { key, der, out, .. } => {
            let value: Value = client
                .get(&key_path(&key, "/public-key"))
                .map_err(remote_error)?;
            if raw {
                return print_answer(&value, true);
            }
            if der {
                write_output(out.as_deref(), &field_bytes(&value, "spki")?, true)
            } else {
                let pem = value.get("pem").and_then(Value::as_str).unwrap_or_default();
                write_output(out.as_deref(), pem.as_bytes(), false)
            }
        }
        KeyCommand::Mac { key, io, use_args } => {
            context(&use_args)?;
            let body = json!({ "message": BASE64.encode(read_data(&io.input)?) });
            let value: Value = client
                .post(&key_path(&key, "/mac"), &body)
                .map_err(remote_error)?;
            if raw {
                return print_answer(&value, true);
            }
            write_output(io.out.as_deref(), &field_bytes(&value, "mac")?, true)
        }
        KeyCommand::VerifyMac {
            key,
            mac,
            io,
            use_args,
        } => {
            context(&use_args)?;
            let is_mac = |b: &[u8]| b.len() == 48;
            let body = json!({
                "message": BASE64.encode(read_data(&io.input)?),
                "mac": BASE64.encode(read_binary(&mac, is_mac)?),
            });
            valid(client.post(&key_path(&key, "/verify-mac"), &body))
        }
        KeyCommand::Random {
            bytes,
            out,
            use_args,
        } => {
            context(&use_args)?;
            let value: Value = client
                .post("/v1/random", &json!({ "length": bytes }))
                .map_err(remote_error)?;
            if raw {
                return print_answer(&value, true);
            }
            write_output(out.as_deref(), &field_bytes(&value, "random")?, true)
        }
    }
}
