//! The crypto floor of one attested release, in bare aws-lc-rs: an ECDSA P-384
//! verification (the attestation certificate's signature by its issuer), an ephemeral
//! P-384 key pair and the ECDH with the recipient's key (HPKE's encapsulation). Measured
//! in releases per second on one thread and on every core (the ceiling this crypto alone
//! sets), or counted in instructions: `BENCH_RELEASE_FLOOR_COUNT=N` runs it exactly N
//! times in [`release_floor_once`] and nothing else of the bench, for
//! `valgrind --tool=callgrind --toggle-collect='*release_floor_once*'` (the per-release
//! figure beside `scripts/bench-instructions`' release phase).

use std::time::{Duration, Instant};

use aws_lc_rs::agreement::{ECDH_P384, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _, Signature,
    UnparsedPublicKey as SignatureKey,
};

/// What one release's crypto works on: a signed certificate body and a recipient key.
pub struct Floor {
    rng: SystemRandom,
    tbs: [u8; 600],
    signature: Signature,
    issuer_public: Vec<u8>,
    recipient_public: Vec<u8>,
}

impl Floor {
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        let issuer = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).expect("key");
        let tbs = [0x3c_u8; 600]; // about an attestation certificate's signed part
        let signature = issuer.sign(&rng, &tbs).expect("sign");
        let recipient = EphemeralPrivateKey::generate(&ECDH_P384, &rng).expect("key");
        let recipient_public = recipient
            .compute_public_key()
            .expect("public key")
            .as_ref()
            .to_vec();
        Self {
            issuer_public: issuer.public_key().as_ref().to_vec(),
            rng,
            tbs,
            signature,
            recipient_public,
        }
    }
}

/// One release's crypto: verify, ephemeral key pair, ECDH. Not inlined, so that callgrind
/// can count exactly its instructions.
#[inline(never)]
pub fn release_floor_once(floor: &Floor) {
    SignatureKey::new(&ECDSA_P384_SHA384_ASN1, &floor.issuer_public)
        .verify(&floor.tbs, floor.signature.as_ref())
        .expect("verify");
    let ephemeral = EphemeralPrivateKey::generate(&ECDH_P384, &floor.rng).expect("ephemeral key");
    let enc = ephemeral.compute_public_key().expect("enc");
    let shared = agree_ephemeral(
        ephemeral,
        UnparsedPublicKey::new(&ECDH_P384, &floor.recipient_public),
        aws_lc_rs::error::Unspecified,
        |secret| Ok(secret.to_vec()),
    )
    .expect("ecdh");
    std::hint::black_box((enc, shared));
}

/// `BENCH_RELEASE_FLOOR_COUNT`, when set: how many floors to run for a count.
pub fn count_requested() -> Option<u64> {
    let text = std::env::var("BENCH_RELEASE_FLOOR_COUNT").ok()?;
    Some(
        text.parse()
            .ok()
            .filter(|&n| n > 0)
            .expect("BENCH_RELEASE_FLOOR_COUNT: a whole number above 0"),
    )
}

/// Runs the floor `n` times (after one untimed run, which callgrind counts too: the
/// caller divides by `n + 1`).
pub fn count(n: u64) {
    let floor = Floor::new();
    release_floor_once(&floor);
    for _ in 0..n {
        release_floor_once(&floor);
    }
    println!(
        "release floor run {} times in release_floor_once (ECDSA P-384 verify + P-384 key \
         pair + ECDH, bare aws-lc-rs)",
        n + 1
    );
}

/// Releases per second of the floor on `threads` threads at once, each running for
/// `slice` × 4.
pub fn rate(threads: usize, slice: Duration) -> f64 {
    let floor = Floor::new();
    release_floor_once(&floor);
    let slice = slice * 4;
    let start = Instant::now();
    let done: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while start.elapsed() < slice {
                        release_floor_once(&floor);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("thread")).sum()
    });
    done as f64 / start.elapsed().as_secs_f64()
}
