//! The cache of unwrapped key versions, on a real SQLite file and the soft token (counted
//! through a pass-through wrapper): repeated operations unwrap once; a disabled, rotated
//! or destroyed key is never served from the cache and leaves it; the TTL and the size
//! bound hold; turning the cache off unwraps every time.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_proto::{EncryptionContext, KeySpec, Origin, Role};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kastell_core::crypto::GCM_NONCE_LEN;
use kastell_core::keys::{
    Caller, KeyCacheLimits, KeyError, KeyService, NewKey, ServiceKeys, SignInput,
};

use kastell_core::secret::SecretBytes;
use kastell_core::token::{GcmSealed, SoftToken, Token, TokenError, TokenKeyKind};
use kastell_tests::key_service;

/// The soft token, counting unwraps.
#[derive(Debug)]
struct Counting {
    inner: SoftToken,
    unwraps: AtomicUsize,
}

impl Token for Counting {
    fn description(&self) -> String {
        self.inner.description()
    }
    fn generate(&self, label: &str, kind: TokenKeyKind) -> Result<(), TokenError> {
        self.inner.generate(label, kind)
    }
    fn contains(&self, label: &str) -> Result<bool, TokenError> {
        self.inner.contains(label)
    }
    fn destroy(&self, label: &str) -> Result<(), TokenError> {
        self.inner.destroy(label)
    }
    fn wrap(&self, master: &str, key: &SecretBytes) -> Result<Vec<u8>, TokenError> {
        self.inner.wrap(master, key)
    }
    fn unwrap(&self, master: &str, wrapped: &[u8]) -> Result<SecretBytes, TokenError> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap(master, wrapped)
    }
    fn encrypt(&self, label: &str, aad: &[u8], plaintext: &[u8]) -> Result<GcmSealed, TokenError> {
        self.inner.encrypt(label, aad, plaintext)
    }
    fn decrypt(
        &self,
        label: &str,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, TokenError> {
        self.inner.decrypt(label, nonce, aad, ciphertext)
    }
    fn sign_digest(&self, label: &str, digest: &[u8; 48]) -> Result<Vec<u8>, TokenError> {
        self.inner.sign_digest(label, digest)
    }
    fn public_key(&self, label: &str) -> Result<Vec<u8>, TokenError> {
        self.inner.public_key(label)
    }
    fn mac(&self, label: &str, message: &[u8]) -> Result<[u8; 48], TokenError> {
        self.inner.mac(label, message)
    }
    fn ecdh_p384(&self, label: &str, peer: &[u8]) -> Result<SecretBytes, TokenError> {
        self.inner.ecdh_p384(label, peer)
    }
    fn random(&self, out: &mut [u8]) -> Result<(), TokenError> {
        self.inner.random(out)
    }
}

fn both_roles() -> Caller {
    Caller {
        id: "officer-user".into(),
        roles: vec![Role::CryptoOfficer, Role::CryptoUser],
        tenant: None,
        evidence: None,
    }
}

fn context() -> EncryptionContext {
    EncryptionContext(BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]))
}

struct Fixture {
    _dir: tempfile::TempDir,
    token: Arc<Counting>,
    service: KeyService,
}

fn fixture(limits: KeyCacheLimits) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = kastell_tests::soft_token(dir.path()).expect("soft token");
    let token = Arc::new(Counting {
        inner,
        unwraps: AtomicUsize::new(0),
    });
    let (service, _, _) = key_service(dir.path(), token.clone(), ServiceKeys::default(), &[]);
    Fixture {
        _dir: dir,
        token,
        service: service.with_key_cache(limits),
    }
}

fn create(service: &KeyService, spec: KeySpec) -> String {
    let new = NewKey {
        spec,
        usage: None,
        origin: Origin::Wrapped,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    };
    service
        .create_key(&both_roles(), new, None)
        .expect("create")
        .id
        .to_string()
}

impl Fixture {
    fn unwraps(&self) -> usize {
        self.token.unwraps.load(Ordering::SeqCst)
    }

    fn encrypt(&self, key: &str) -> Result<Vec<u8>, KeyError> {
        self.service
            .encrypt(&both_roles(), key, b"cached", &context())
    }
}

#[test]
fn repeated_operations_unwrap_each_version_once() {
    let f = fixture(KeyCacheLimits::default());
    let aes = create(&f.service, KeySpec::Aes256);
    let p384 = create(&f.service, KeySpec::EccNistP384);
    let hmac = create(&f.service, KeySpec::HmacSha384);
    let before = f.unwraps();
    let mut ciphertexts = Vec::new();
    for _ in 0..20 {
        ciphertexts.push(f.encrypt(&aes).expect("encrypt"));
        let signature = f
            .service
            .sign(&both_roles(), &p384, SignInput::Message(b"m"))
            .expect("sign");
        assert!(
            f.service
                .verify(
                    &both_roles(),
                    &p384,
                    SignInput::Message(b"m"),
                    &signature.der
                )
                .expect("verify")
        );
        f.service
            .generate_mac(&both_roles(), &hmac, b"m")
            .expect("mac");
    }
    for ciphertext in &ciphertexts {
        let (_, plaintext) = f
            .service
            .decrypt(&both_roles(), Some(&aes), ciphertext, &context())
            .expect("decrypt");
        assert_eq!(plaintext.expose(), b"cached");
    }
    assert_eq!(f.unwraps() - before, 3, "one unwrap per key version");
    assert_eq!(f.service.key_cache().len(), 3);
}

#[test]
fn a_rotated_key_uses_its_new_version_and_old_ciphertexts_still_open() {
    let f = fixture(KeyCacheLimits::default());
    let aes = create(&f.service, KeySpec::Aes256);
    let old = f.encrypt(&aes).expect("encrypt v1");
    f.service.rotate(&both_roles(), &aes).expect("rotate");
    let new = f.encrypt(&aes).expect("encrypt v2");
    // The header names the version (big-endian u32 after the 16-byte key id and the format
    // byte): the new ciphertext uses version 2, not a cached version 1.
    assert_ne!(old, new);
    for ciphertext in [&old, &new] {
        f.service
            .decrypt(&both_roles(), Some(&aes), ciphertext, &context())
            .expect("both versions open");
    }
    assert_eq!(f.service.key_cache().len(), 2, "two versions cached");
}

#[test]
fn a_disabled_key_is_refused_and_leaves_the_cache_at_once() {
    let f = fixture(KeyCacheLimits::default());
    let aes = create(&f.service, KeySpec::Aes256);
    let other = create(&f.service, KeySpec::Aes256);
    f.encrypt(&aes).expect("encrypt");
    f.encrypt(&other).expect("encrypt");
    assert_eq!(f.service.key_cache().len(), 2);
    f.service
        .set_enabled(&both_roles(), &aes, false)
        .expect("disable");
    assert_eq!(f.service.key_cache().len(), 1, "only the other key stays");
    assert!(matches!(f.encrypt(&aes), Err(KeyError::Disabled(_))));
    f.service
        .set_enabled(&both_roles(), &aes, true)
        .expect("enable");
    let before = f.unwraps();
    f.encrypt(&aes).expect("encrypt again");
    assert_eq!(f.unwraps() - before, 1, "unwrapped anew after re-enabling");
}

#[test]
fn a_destroyed_key_leaves_the_cache_and_is_never_served_from_it() {
    let f = fixture(KeyCacheLimits::default());
    let aes = create(&f.service, KeySpec::Aes256);
    let ciphertext = f.encrypt(&aes).expect("encrypt");
    f.service
        .schedule_deletion(&both_roles(), &aes, 7)
        .expect("schedule");
    assert!(f.service.key_cache().is_empty());
    let destroyed = f
        .service
        .destroy_due(kastell_core::keys::unix_now() + 8 * 86_400)
        .expect("destroy");
    assert_eq!(destroyed.len(), 1);
    assert!(f.service.key_cache().is_empty());
    let refused = f
        .service
        .decrypt(&both_roles(), Some(&aes), &ciphertext, &context());
    assert!(
        matches!(refused, Err(KeyError::InvalidState(_))),
        "{refused:?}"
    );
}

#[test]
fn entries_expire_after_the_ttl() {
    let f = fixture(KeyCacheLimits {
        entries: 100,
        ttl: Duration::from_millis(200),
    });
    let aes = create(&f.service, KeySpec::Aes256);
    let before = f.unwraps();
    f.encrypt(&aes).expect("encrypt");
    f.encrypt(&aes).expect("encrypt");
    assert_eq!(f.unwraps() - before, 1);
    std::thread::sleep(Duration::from_millis(250));
    f.service.key_cache().purge_expired();
    assert!(f.service.key_cache().is_empty(), "purged after the TTL");
    f.encrypt(&aes).expect("encrypt");
    assert_eq!(f.unwraps() - before, 2, "unwrapped again after the TTL");
}

#[test]
fn the_size_bound_holds_and_a_zero_bound_turns_the_cache_off() {
    let f = fixture(KeyCacheLimits {
        entries: 16,
        ttl: Duration::from_secs(60),
    });
    let keys: Vec<String> = (0..80)
        .map(|_| create(&f.service, KeySpec::Aes256))
        .collect();
    for key in &keys {
        f.encrypt(key).expect("encrypt");
        // 16 entries over 16 shards: at most one per shard.
        assert!(f.service.key_cache().len() <= 16);
    }

    let off = fixture(KeyCacheLimits {
        entries: 0,
        ttl: Duration::from_secs(60),
    });
    let aes = create(&off.service, KeySpec::Aes256);
    let before = off.unwraps();
    for _ in 0..5 {
        off.encrypt(&aes).expect("encrypt");
    }
    assert_eq!(off.unwraps() - before, 5, "every operation unwraps");
    assert!(off.service.key_cache().is_empty());
}
