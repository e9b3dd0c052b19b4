//! `kastell key … --profile P`: the same commands, sent to a Kastell server over mutual
//! TLS. The server's client certificate decides the role and tenant; the output is the
//! same as the local command's (or the server's JSON with `--json`).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;

use super::{DataKeyOut, KeyCommand, UseArgs, print_json, read_binary, read_data, write_output};
use crate::cli::CliError;
use crate::client::{Client, RemoteError};
use kastell_core::clients::ClientProfile;
use kastell_proto::api::{
    AliasRequest, BindPolicyRequest, CreateKeyRequest, DataKeyRequest, DecryptRequest,
    EncryptRequest, Gated, KeyDescription, ListQuery, MacRequest, MinVersionRequest, RandomRequest,
    ReEncryptRequest, ScheduleDeletionRequest, SecretBase64, SignRequest, TagsRequest,
    ValidResponse, VerifyMacRequest, VerifyRequest,
};
use kastell_proto::{EncryptionContext, ErrorCode};

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
    CliError::new(code, err.to_string())
}

/// Opens the client a profile names.
///
/// # Errors
/// An unreadable profile (exit 2).
pub(in crate::cli) fn connect(profile: &Path) -> Result<Client, CliError> {
    let profile = ClientProfile::load(profile).map_err(|e| CliError::usage(e.to_string()))?;
    Client::new(&profile).map_err(remote_error)
}

/// Prints a server answer as JSON: pretty, or on one line with `--json` (the answer's
/// fields in name order either way, as the server's JSON was always printed).
pub(in crate::cli) fn print_answer(answer: &impl Serialize, raw: bool) -> Result<(), CliError> {
    let value = serde_json::to_value(answer).map_err(|e| CliError::internal(e.to_string()))?;
    if raw {
        println!("{value}");
        Ok(())
    } else {
        print_json(&value)
    }
}

/// Prints the answer of a request under quorum; a pending operation is reported on stderr
/// with what the officers must do.
pub(in crate::cli) fn print_admin<T: Serialize>(
    answer: &Gated<T>,
    raw: bool,
) -> Result<(), CliError> {
    if let Gated::Pending(pending) = answer {
        let id = &pending.operation.id;
        eprintln!(
            "pending approval: operation {id} needs {} officer approvals \
             (`kastell approve {id} --profile …`)",
            pending.required
        );
    }
    print_answer(answer, raw)
}

/// The bytes of the base64 field `field` of the server's answer.
fn decoded(field: &str, text: &str) -> Result<Vec<u8>, CliError> {
    BASE64
        .decode(text)
        .map_err(|e| CliError::internal(format!("the server's `{field}` is not base64: {e}")))
}

fn context(args: &UseArgs) -> Result<EncryptionContext, CliError> {
    if args.tenant.is_some() {
        return Err(CliError::usage(
            "--tenant: with --profile the tenant comes from the client certificate",
        ));
    }
    Ok(args.context())
}

fn base64_of(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Runs a key command against the server in `profile`.
#[allow(
    clippy::too_many_lines,
    reason = "one arm per command, each a request and its output"
)]
pub(super) fn run(profile: &Path, raw: bool, command: KeyCommand) -> Result<(), CliError> {
    let client = connect(profile)?;
    let answer = |answer: Result<KeyDescription, RemoteError>| -> Result<(), CliError> {
        print_answer(&answer.map_err(remote_error)?, raw)
    };
    let admin = |answer: Result<Gated<KeyDescription>, RemoteError>| -> Result<(), CliError> {
        print_admin(&answer.map_err(remote_error)?, raw)
    };
    let valid = |answer: Result<ValidResponse, RemoteError>| -> Result<(), CliError> {
        let answer = answer.map_err(remote_error)?;
        if raw {
            print_answer(&answer, true)?;
        }
        if answer.valid {
            Ok(())
        } else {
            Err(CliError::new(
                ErrorCode::InvalidSignature,
                "invalid: does not verify",
            ))
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
        } => answer(client.create_key(&CreateKeyRequest {
            spec: spec.as_str().to_owned(),
            origin: Some(origin.as_str().to_owned()),
            alias,
            description,
            tags: tags.into_iter().collect(),
            policy,
            releasable,
        })),
        KeyCommand::Show { key, .. } => answer(client.describe_key(&key)),
        KeyCommand::List { after, limit, .. } => {
            let page = client
                .list_keys(&ListQuery {
                    after,
                    limit: Some(limit),
                })
                .map_err(remote_error)?;
            if raw {
                print_answer(&page, true)
            } else {
                print_answer(&page.keys, false)
            }
        }
        KeyCommand::Rotate { key, .. } => answer(client.rotate_key(&key)),
        KeyCommand::Enable { key, .. } => answer(client.set_enabled(&key, true)),
        KeyCommand::Disable { key, .. } => answer(client.set_enabled(&key, false)),
        KeyCommand::ScheduleDeletion { key, days, .. } => {
            admin(client.schedule_deletion(&key, &ScheduleDeletionRequest { days }))
        }
        KeyCommand::CancelDeletion { key, .. } => answer(client.cancel_deletion(&key)),
        KeyCommand::DestroyDue { .. } => Err(CliError::usage(
            "destroy-due runs locally (--data-dir); a server sweeps every hour by itself",
        )),
        KeyCommand::Alias { alias, key, .. } => {
            let name = alias.strip_prefix("alias/").ok_or_else(|| {
                CliError::usage(format!("alias `{alias}` must start with `alias/`"))
            })?;
            let answer = client
                .set_alias(name, &AliasRequest { key })
                .map_err(remote_error)?;
            if raw {
                print_answer(&answer, true)
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
        } => answer(client.update_tags(
            &key,
            &TagsRequest {
                tags: tags.into_iter().collect(),
                description,
            },
        )),
        KeyCommand::BindPolicy { key, policy, .. } => {
            admin(client.bind_policy(&key, &BindPolicyRequest { policy }))
        }
        KeyCommand::SetMinVersion { key, version, .. } => {
            answer(client.set_min_decryption_version(&key, &MinVersionRequest { version }))
        }
        KeyCommand::Encrypt { key, io, use_args } => {
            let request = EncryptRequest {
                plaintext: SecretBase64::new(base64_of(&zeroize::Zeroizing::new(read_data(
                    &io.input,
                )?))),
                context: Some(context(&use_args)?),
            };
            let answer = client.encrypt(&key, &request).map_err(remote_error)?;
            if raw {
                return print_answer(&answer, true);
            }
            let ciphertext = decoded("ciphertext", &answer.ciphertext)?;
            write_output(io.out.as_deref(), &ciphertext, true)
        }
        KeyCommand::Decrypt { key, io, use_args } => {
            let is_ciphertext = |b: &[u8]| b.first() == Some(&kastell_proto::ciphertext::FORMAT_V1);
            let request = DecryptRequest {
                ciphertext: base64_of(&read_binary(&io.input, is_ciphertext)?),
                context: Some(context(&use_args)?),
                key,
            };
            let answer = client.decrypt(&request).map_err(remote_error)?;
            if raw {
                return print_answer(&answer, true);
            }
            let plaintext =
                zeroize::Zeroizing::new(decoded("plaintext", answer.plaintext.expose())?);
            write_output(io.out.as_deref(), &plaintext, false)
        }
        KeyCommand::ReEncrypt { to, io, use_args } => {
            let is_ciphertext = |b: &[u8]| b.first() == Some(&kastell_proto::ciphertext::FORMAT_V1);
            let request = ReEncryptRequest {
                ciphertext: base64_of(&read_binary(&io.input, is_ciphertext)?),
                context: Some(context(&use_args)?),
                destination: to,
            };
            let answer = client.re_encrypt(&request).map_err(remote_error)?;
            if raw {
                return print_answer(&answer, true);
            }
            let ciphertext = decoded("ciphertext", &answer.ciphertext)?;
            write_output(io.out.as_deref(), &ciphertext, true)
        }
        KeyCommand::GenerateDataKey {
            key,
            without_plaintext,
            use_args,
        } => {
            let request = DataKeyRequest {
                context: Some(context(&use_args)?),
                without_plaintext,
            };
            let answer = client
                .generate_data_key(&key, &request)
                .map_err(remote_error)?;
            if raw {
                return print_answer(&answer, true);
            }
            print_json(&DataKeyOut {
                key,
                ciphertext: answer.ciphertext.clone(),
                plaintext: answer.plaintext.as_ref().map(|p| p.expose().to_owned()),
            })
        }
        KeyCommand::Sign {
            key,
            digest,
            io,
            use_args,
        } => {
            context(&use_args)?;
            let data = base64_of(&read_data(&io.input)?);
            let request = if digest {
                SignRequest {
                    digest: Some(data),
                    ..SignRequest::default()
                }
            } else {
                SignRequest {
                    message: Some(data),
                    ..SignRequest::default()
                }
            };
            let answer = client.sign(&key, &request).map_err(remote_error)?;
            if raw {
                return print_answer(&answer, true);
            }
            let signature = decoded("signature", &answer.signature)?;
            write_output(io.out.as_deref(), &signature, true)
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
            let data = base64_of(&read_data(&io.input)?);
            let signature = base64_of(&read_binary(&signature, is_der)?);
            let request = if digest {
                VerifyRequest {
                    digest: Some(data),
                    signature,
                    ..VerifyRequest::default()
                }
            } else {
                VerifyRequest {
                    message: Some(data),
                    signature,
                    ..VerifyRequest::default()
                }
            };
            valid(client.verify(&key, &request))
        }
        KeyCommand::PublicKey { key, der, out, .. } => {
            let answer = client.public_key(&key).map_err(remote_error)?;
            if raw {
                return print_answer(&answer, true);
            }
            if der {
                write_output(out.as_deref(), &decoded("spki", &answer.spki)?, true)
            } else {
                write_output(out.as_deref(), answer.pem.as_bytes(), false)
            }
        }
        KeyCommand::Mac { key, io, use_args } => {
            context(&use_args)?;
            let request = MacRequest {
                message: base64_of(&read_data(&io.input)?),
            };
            let answer = client.generate_mac(&key, &request).map_err(remote_error)?;
            if raw {
                return print_answer(&answer, true);
            }
            write_output(io.out.as_deref(), &decoded("mac", &answer.mac)?, true)
        }
        KeyCommand::VerifyMac {
            key,
            mac,
            io,
            use_args,
        } => {
            context(&use_args)?;
            let is_mac = |b: &[u8]| b.len() == 48;
            let request = VerifyMacRequest {
                message: base64_of(&read_data(&io.input)?),
                mac: base64_of(&read_binary(&mac, is_mac)?),
            };
            valid(client.verify_mac(&key, &request))
        }
        KeyCommand::Random {
            bytes,
            out,
            use_args,
        } => {
            context(&use_args)?;
            let answer = client
                .random(&RandomRequest { length: bytes })
                .map_err(remote_error)?;
            if raw {
                return print_answer(&answer, true);
            }
            let random = zeroize::Zeroizing::new(decoded("random", answer.random.expose())?);
            write_output(out.as_deref(), &random, true)
        }
    }
}
