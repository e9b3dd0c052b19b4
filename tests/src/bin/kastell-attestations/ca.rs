//! The bench CA on disk: a root "Kastell Bench Root" (country DE), a host attestation CA
//! under it, and the host CA's key (SEC1 `EC PRIVATE KEY` PEM, mode 0600; the certificates 0644).
//!
//! The keys are bench keys: drawn from `/dev/urandom` and held in ordinary memory. Never
//! trust a bench root in a deployment that holds real keys.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use kastell_attest::ca::{Owner, issue_host_ca, issue_root};
use kastell_attest::signer::{Signer as _, SoftSigner};
use kastell_attest::x509::{Certificate, parse_certificates};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject as _;

use crate::BoxError;

/// The root's certificate: the file to list in `[release] trusted_roots`.
const ROOT_FILE: &str = "root.pem";
/// The host CA's certificate, the chain of every attestation.
const HOST_CA_FILE: &str = "host-ca.pem";
/// The host CA's private key.
const HOST_CA_KEY_FILE: &str = "host-ca-key.pem";

/// Length of a P-384 private scalar.
const SCALAR_LEN: usize = 48;
/// DER of `ECPrivateKey` (RFC 5915) before the scalar: SEQUENCE (62 bytes), version 1,
/// OCTET STRING (48 bytes).
const SEC1_HEAD: [u8; 7] = [0x30, 0x3e, 0x02, 0x01, 0x01, 0x04, 0x30];
/// DER after the scalar: `[0]` parameters, the named curve secp384r1 (1.3.132.0.34).
const SEC1_TAIL: [u8; 9] = [0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// The host CA that signs the bench's attestation certificates.
pub(crate) struct BenchCa {
    /// Its certificate.
    pub(crate) certificate: Certificate,
    /// Its key.
    pub(crate) signer: SoftSigner,
}

impl BenchCa {
    /// Creates the bench CA in `dir`, valid for `days`; returns the root's path.
    ///
    /// # Errors
    /// When `dir` already holds a bench CA file, or a file cannot be written.
    pub(crate) fn init(dir: &Path, days: u64) -> Result<PathBuf, BoxError> {
        for name in [ROOT_FILE, HOST_CA_FILE, HOST_CA_KEY_FILE] {
            let path = dir.join(name);
            if path.exists() {
                return Err(format!("{} exists: use another --ca-dir", path.display()).into());
            }
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

        let lifetime = Duration::from_secs(days * 86_400);
        let root_signer = SoftSigner::from_bytes(&random_scalar()?)?;
        let owner = Owner {
            common_name: "Kastell Bench Root".into(),
            organization: "Kastell Bench".into(),
            country: "DE".into(),
        };
        let root = issue_root(&root_signer, &owner, SystemTime::now().into(), lifetime)?;
        let host_scalar = random_scalar()?;
        let host_signer = SoftSigner::from_bytes(&host_scalar)?;
        let host_ca = issue_host_ca(
            &root_signer,
            &root,
            &host_signer.public_key(),
            "Kastell Bench Host CA",
            SystemTime::now().into(),
            lifetime,
        )?;

        write_new(
            &dir.join(HOST_CA_KEY_FILE),
            sec1_pem(&host_scalar).as_bytes(),
            0o600,
        )?;
        write_new(&dir.join(HOST_CA_FILE), host_ca.to_pem()?.as_bytes(), 0o644)?;
        // Last: its presence marks a complete bench CA.
        let root_path = dir.join(ROOT_FILE);
        write_new(&root_path, root.to_pem()?.as_bytes(), 0o644)?;
        Ok(root_path)
    }

    /// Reads the bench CA from `dir`: the root, and the host CA with its key.
    ///
    /// # Errors
    /// When a file is missing or malformed, or the key is not the host CA's.
    pub(crate) fn load(dir: &Path) -> Result<(Certificate, Self), BoxError> {
        let root = read_certificate(&dir.join(ROOT_FILE))?;
        let certificate = read_certificate(&dir.join(HOST_CA_FILE))?;
        let key_path = dir.join(HOST_CA_KEY_FILE);
        let pem = std::fs::read(&key_path)
            .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
        let signer = SoftSigner::from_bytes(
            &sec1_scalar(&pem).map_err(|e| format!("{}: {e}", key_path.display()))?,
        )?;
        let certified = kastell_attest::verify::public_key(&certificate)?;
        if certified != signer.public_key() {
            return Err(format!(
                "{} is not the key of {}",
                key_path.display(),
                dir.join(HOST_CA_FILE).display()
            )
            .into());
        }
        Ok((
            root,
            Self {
                certificate,
                signer,
            },
        ))
    }
}

fn read_certificate(path: &Path) -> Result<Certificate, BoxError> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut certificates =
        parse_certificates(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    match certificates.len() {
        1 => Ok(certificates.remove(0)),
        n => Err(format!("{}: {n} certificates, expected one", path.display()).into()),
    }
}

/// Writes a new file (refusing to replace one) with permissions `mode` (less the umask).
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), BoxError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

/// 48 bytes from the kernel's generator (a valid P-384 scalar but with probability 2⁻¹⁹⁰;
/// `SoftSigner::from_bytes` refuses the others).
fn random_scalar() -> Result<[u8; SCALAR_LEN], BoxError> {
    let mut scalar = [0u8; SCALAR_LEN];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut scalar))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(scalar)
}

/// The SEC1 `EC PRIVATE KEY` PEM of a P-384 scalar (without the optional public key).
fn sec1_pem(scalar: &[u8; SCALAR_LEN]) -> String {
    let mut der = Vec::with_capacity(SEC1_HEAD.len() + SCALAR_LEN + SEC1_TAIL.len());
    der.extend_from_slice(&SEC1_HEAD);
    der.extend_from_slice(scalar);
    der.extend_from_slice(&SEC1_TAIL);
    let text = base64::engine::general_purpose::STANDARD.encode(&der);
    let mut pem = String::from("-----BEGIN EC PRIVATE KEY-----\n");
    for line in text.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END EC PRIVATE KEY-----\n");
    pem
}

/// The scalar of a key in the layout [`sec1_pem`] writes.
fn sec1_scalar(pem: &[u8]) -> Result<[u8; SCALAR_LEN], String> {
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("not a PEM key: {e}"))?;
    let PrivateKeyDer::Sec1(der) = key else {
        return Err("not an EC PRIVATE KEY (SEC1)".into());
    };
    let der = der.secret_sec1_der();
    der.strip_prefix(SEC1_HEAD.as_slice())
        .and_then(|rest| rest.strip_suffix(SEC1_TAIL.as_slice()))
        .and_then(|scalar| <[u8; SCALAR_LEN]>::try_from(scalar).ok())
        .ok_or_else(|| "not a P-384 key in the layout `kastell-attestations init` writes".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_from_its_pem() {
        let scalar = random_scalar().expect("random");
        let pem = sec1_pem(&scalar);
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{pem}");
        assert_eq!(sec1_scalar(pem.as_bytes()).expect("parsed"), scalar);
        let garbled = pem.replace("MD4CAQEE", "MD4CAQIE"); // version 2
        assert!(sec1_scalar(garbled.as_bytes()).is_err());
    }

    #[test]
    fn init_writes_a_ca_that_loads_and_is_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_dir = dir.path().join("ca");
        let root_path = BenchCa::init(&ca_dir, 1).expect("init");
        let (root, ca) = BenchCa::load(&ca_dir).expect("load");
        assert_eq!(read_certificate(&root_path).expect("root"), root);
        let subject = ca.certificate.tbs_certificate.subject.to_string();
        assert!(subject.contains("Kastell Bench Host CA"), "{subject}");
        let mode = |name: &str| {
            std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(ca_dir.join(name))
                    .expect("metadata")
                    .permissions(),
            ) & 0o777
        };
        assert_eq!(mode(HOST_CA_KEY_FILE), 0o600);
        let again = BenchCa::init(&ca_dir, 1).expect_err("refused");
        assert!(again.to_string().contains("exists"), "{again}");
    }
}
