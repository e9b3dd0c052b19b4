//! Attacks on client-certificate issuance (issue 16, point 1), each performed by one
//! officer through the real server (TLS on loopback) or the real `kastell` binary, and
//! refused by name: a principal keeps its role for life, the system's own names are
//! reserved, issuing a user certificate is under its own quorum class, and the officer's
//! machine never holds a new client's private key.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell::client::{Client, RemoteError};
use kastell_core::clients::ClientKey;
use kastell_tests::server::{TestServer, expect_api_error};
use kastell_tests::text;
use serde_json::{Value, json};

fn request(client: &Client, principal: &str, role: &str) -> Result<Value, RemoteError> {
    let key = ClientKey::generate();
    client.post(
        "/v1/clients",
        &json!({
            "principal": principal,
            "role": role,
            "public_key": key.public_key_pem().expect("pem"),
        }),
    )
}

fn principals(client: &Client) -> Vec<(String, String)> {
    let list: Value = client.get("/v1/clients").expect("list");
    list["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .map(|c| {
            (
                c["principal"].as_str().unwrap().to_owned(),
                c["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// An officer mints a crypto-user certificate under another officer's name (to use keys
/// as that officer's name, or to blur the trail), or under his own in another case; and an
/// officer certificate under a user's name. Each is refused: a name keeps its role.
#[test]
fn a_principal_keeps_its_role_for_life() {
    let server = TestServer::start_soft().expect("server");
    let officer = server.client(&server.officer()).expect("officer");
    let (first_officer, role) = principals(&officer)
        .into_iter()
        .next()
        .expect("init registered the first officer");
    assert_eq!(role, "crypto-officer");

    for name in [first_officer.clone(), first_officer.to_uppercase()] {
        let message =
            expect_api_error(request(&officer, &name, "crypto-user"), 403, "AccessDenied");
        assert!(
            message.contains("keeps its role for life") && message.contains("crypto-officer"),
            "{message}"
        );
    }
    request(&officer, "app", "crypto-user").expect("a new user");
    let message = expect_api_error(
        request(&officer, "app", "crypto-officer"),
        403,
        "AccessDenied",
    );
    assert!(message.contains("is a crypto-user"), "{message}");
    let message = expect_api_error(request(&officer, "App", "auditor"), 403, "AccessDenied");
    assert!(message.contains("is a crypto-user"), "{message}");
    // The same name with its own role again is fine (a renewed certificate).
    request(&officer, "app", "crypto-user").expect("renewal");

    // Offline, with the token (`kastell ca issue-client`), the same rule holds.
    let out = server
        .kastell(&[
            "ca",
            "issue-client",
            "--principal",
            "app",
            "--role",
            "auditor",
            "--out-dir",
            server
                .deployment()
                .data_dir()
                .join("clients/app-auditor")
                .to_str()
                .unwrap(),
            "--config",
            server.deployment().config().to_str().unwrap(),
        ])
        .expect("kastell runs");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("keeps its role for life"), "{stderr}");
    let roles: Vec<_> = principals(&officer)
        .into_iter()
        .filter(|(p, _)| p.eq_ignore_ascii_case("app"))
        .map(|(_, r)| r)
        .collect();
    assert_eq!(roles, ["crypto-user", "crypto-user"]);
}

/// Names the system writes into the audit trail itself cannot be given to a client.
#[test]
fn the_systems_own_principal_names_are_reserved() {
    let server = TestServer::start_soft().expect("server");
    let officer = server.client(&server.officer()).expect("officer");
    for name in ["kastell", "Kastell", "kastell-sweeper", "KASTELL.host"] {
        let message = expect_api_error(request(&officer, name, "crypto-user"), 403, "AccessDenied");
        assert!(message.contains("reserved"), "{name}: {message}");
    }
    assert!(
        principals(&officer)
            .iter()
            .all(|(p, _)| !p.to_ascii_lowercase().starts_with("kastell"))
    );
}

/// With `issue-client` at 2, one officer asks for a crypto-user certificate for himself
/// and approves it alone: nothing is issued.
#[test]
fn one_officer_cannot_mint_himself_a_user_certificate_under_quorum() {
    let server = TestServer::start_soft().expect("server");
    let officer = server.client(&server.officer()).expect("officer");
    for class in ["issue-officer", "issue-client"] {
        officer
            .put::<Value>(&format!("/v1/quorum/{class}"), &json!({ "required": 2 }))
            .expect("raise");
    }
    let answer = request(&officer, "my-own-app", "crypto-user").expect("request");
    assert_eq!(answer["status"], "pending", "{answer}");
    assert_eq!(answer["operation"]["class"], "issue-client");
    let id = answer["operation"]["id"].as_str().unwrap().to_owned();
    let out = server
        .kastell(&[
            "approve",
            &id,
            "--profile",
            server.officer().to_str().unwrap(),
        ])
        .expect("kastell runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 of 2"),
        "{}",
        text(&out.stdout)
    );
    assert!(principals(&officer).iter().all(|(p, _)| p != "my-own-app"));
}

/// `kastell user add` takes the client's public key; the client's private key is made
/// by `kastell user key` where the client lives and never passes through the officer.
#[test]
fn user_add_never_holds_the_new_clients_private_key() {
    let server = TestServer::start_soft().expect("server");
    let data = server.deployment().data_dir();
    let (client_dir, officer_out) = (data.join("client-side"), data.join("officer-side"));
    let made = server
        .kastell(&["user", "key", "--out-dir", client_dir.to_str().unwrap()])
        .expect("kastell runs");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let officer = server.officer().display().to_string();
    let add = |extra: &[&str]| {
        let mut args = vec![
            "user",
            "add",
            "--principal",
            "app2",
            "--role",
            "crypto-user",
            "--out-dir",
            officer_out.to_str().unwrap(),
            "--profile",
            &officer,
        ];
        args.extend_from_slice(extra);
        server.kastell(&args).expect("kastell runs")
    };
    let without = add(&[]);
    assert_eq!(without.status.code(), Some(2), "--public-key is required");
    assert!(
        text(&without.stderr).contains("--public-key"),
        "{}",
        text(&without.stderr)
    );
    let public = client_dir.join("public.pem");
    let issued = add(&["--public-key", public.to_str().unwrap()]);
    assert!(issued.status.success(), "{}", text(&issued.stderr));
    assert!(officer_out.join("cert.pem").is_file());
    assert!(
        !officer_out.join("key.pem").exists(),
        "no private key on the officer's side"
    );
    // The client completes its own folder with the officer's certificate and root.
    for file in ["cert.pem", "root.pem"] {
        std::fs::copy(officer_out.join(file), client_dir.join(file)).expect("copy");
    }
    let profile = std::fs::read_to_string(officer_out.join("profile.toml"))
        .expect("profile")
        .replace(officer_out.to_str().unwrap(), client_dir.to_str().unwrap());
    std::fs::write(client_dir.join("profile.toml"), profile).expect("profile");
    let app = server
        .client(&client_dir.join("profile.toml"))
        .expect("client");
    // Authenticated (a crypto-user may be refused the officer's list, never unknown).
    match app.get::<Value>("/v1/keys") {
        Ok(_) | Err(RemoteError::Api { status: 403, .. }) => {}
        other => panic!("the client's certificate is accepted: {other:?}"),
    }
}
