//! The server's TLS certificate: issued by the host CA for a key generated in memory, for
//! the configured names, and replaced with a new key and certificate when a third of its
//! validity is left.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use kastell_core::ca::CaFiles;
use kastell_core::deployment::{Deployment as Local, TokenChoice};
use kastell_core::token::KdfCost;
use kastell_server::tls::ServerCertificate;
use kastell_tests::server::{Deployment, Setup};
use time::OffsetDateTime;

#[test]
fn the_server_certificate_names_the_host_and_is_renewed_with_a_new_key_when_due() {
    let deployment = Deployment::init(&Setup::soft()).expect("init");
    let data_dir = deployment.data_dir();
    let passphrase = std::fs::read_to_string(data_dir.join("soft-token.secret")).expect("secret");
    let local = Local {
        store: kastell_core::deployment::StoreChoice::Sqlite,
        data_dir: data_dir.clone(),
        token: TokenChoice::Soft {
            passphrase: passphrase.trim().to_owned().into(),
            cost: KdfCost::Strong,
        },
    };
    let token = local.open_token().expect("token");
    let files = CaFiles::new(&data_dir);
    let names = vec!["kastell.example".to_owned(), "127.0.0.1".to_owned()];
    let day = Duration::from_secs(86_400);
    let certificate =
        Arc::new(ServerCertificate::issue(token, &files, &names, day * 30).expect("issue"));
    let first = certificate.current();
    let leaf = first.cert[0].as_ref().to_vec();
    let text = openssl_text(&leaf);
    assert!(text.contains("DNS:kastell.example"), "{text}");
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    let now = OffsetDateTime::now_utc();
    assert!(certificate.not_after() > now + day * 29);

    assert!(
        !certificate.renew_if_due(now + day).expect("check"),
        "not due yet"
    );
    assert_eq!(certificate.current().cert[0].as_ref(), leaf.as_slice());

    assert!(
        certificate.renew_if_due(now + day * 21).expect("renew"),
        "due"
    );
    let second = certificate.current();
    assert_ne!(
        second.cert[0].as_ref(),
        leaf.as_slice(),
        "a new certificate"
    );
    let new_text = openssl_text(second.cert[0].as_ref());
    let public_key = |t: &str| t.split("pub:").nth(1).map(|rest| rest[..200].to_owned());
    assert_ne!(public_key(&text), public_key(&new_text), "for a new key");
    assert_eq!(second.cert.len(), 2, "leaf and host CA");
}

fn openssl_text(der: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-text"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(der)
        .expect("write");
    let out = child.wait_with_output().expect("openssl output");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("text")
}
