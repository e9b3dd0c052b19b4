#!/usr/bin/env python3
"""Writes hpke-p384-sha384-aes256gcm.json: known answers for RFC 9180 HPKE base mode with
DHKEM(P-384, HKDF-SHA384), HKDF-SHA384, AES-256-GCM (kem 0x0011, kdf 0x0002, aead 0x0002).

    python3 attest/tests/data/gen-hpke-p384.py CFRG-test-vectors.json \
        > attest/tests/data/hpke-p384-sha384-aes256gcm.json

RFC 9180 publishes no vector for this suite (its appendix and the CFRG's test-vectors.json
cover P-256 and P-521 only), so the P-384 values come from this script: RFC 9180 sections
4.1, 5.1, 5.2, 7.1 written out on pyca/cryptography's ECDH and AEADs and Python's hmac,
sharing no code with the `hpke` crate. It writes nothing unless every check below passes:

1. It reproduces every base-mode P-256 and P-521 case of the CFRG test-vectors.json (the
   argument, pinned by SHA-256; the `hpke` crate ships the same file as
   `test-vectors-5f503c5.json`): DeriveKeyPair, enc, shared secret, key schedule, every
   encryption and export. P-384 runs the same code with other parameters.
2. It reproduces the P-384 vector published by chipsalliance/caliptra-sw (made with pyhpke,
   checked there with filippo.io/hpke): DeriveKeyPair from ikmR, Decap, key schedule, and
   the plaintext of its one ciphertext.
3. pyca/cryptography's own HPKE opens a message this script seals, and this script opens a
   message pyca seals; that pyca message is also stored (its ephemeral key is random, so
   it changes on every run; every other value is deterministic).
"""

import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

CFRG_SHA256 = "61fc662f01996cd06d713dacf5e133167bd309a1f329442d53f1e21a47b3ede6"

# kem_id -> (curve, group order, Nsk, bitmask, Nsecret, KEM hash)
KEMS = {
    0x0010: (
        ec.SECP256R1(),
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        32, 0xFF, 32, hashlib.sha256,
    ),
    0x0011: (
        ec.SECP384R1(),
        int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
            "581A0DB248B0A77AECEC196ACCC52973", 16),
        48, 0xFF, 48, hashlib.sha384,
    ),
    0x0012: (
        ec.SECP521R1(),
        int("1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
            "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16),
        66, 0x01, 64, hashlib.sha512,
    ),
}
KDFS = {0x0001: hashlib.sha256, 0x0002: hashlib.sha384, 0x0003: hashlib.sha512}
# aead_id -> (Nk, Nn, constructor); 0xFFFF is the export-only AEAD.
AEADS = {
    0x0001: (16, 12, AESGCM),
    0x0002: (32, 12, AESGCM),
    0x0003: (32, 12, ChaCha20Poly1305),
    0xFFFF: (0, 0, None),
}

KEM, KDF, AEAD = 0x0011, 0x0002, 0x0002

# RFC 9180 appendix A's inputs, so this file reads like the CFRG's.
INFO = b"Ode on a Grecian Urn"
PT = b"Beauty is truth, truth beauty"
SEQS = [0, 1, 2, 4, 255, 256]
EXPORTS = [(b"", 32), (b"\x00", 32), (b"TestContext", 32)]

# The Kastell key-release info (attest/src/hpke.rs): each field as a 2-byte big-endian
# length followed by its bytes, in this order.
RELEASE_TAG = b"kastell-key-release-v1"


def ikm(label):
    """A fixed, reproducible input keying material of Nsk = 48 bytes."""
    return hashlib.sha384(b"kastell hpke p-384 vector " + label).digest()


def i2osp(n, width):
    return n.to_bytes(width, "big")


def extract(h, salt, key_material):
    return hmac.new(salt if salt else b"\x00" * h().digest_size, key_material, h).digest()


def expand(h, prk, info, length):
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), h).digest()
        out += block
        counter += 1
    return out[:length]


def labeled_extract(h, suite_id, salt, label, key_material):
    return extract(h, salt, b"HPKE-v1" + suite_id + label + key_material)


def labeled_expand(h, suite_id, prk, label, info, length):
    return expand(h, prk, i2osp(length, 2) + b"HPKE-v1" + suite_id + label + info, length)


def kem_suite(kem_id):
    return b"KEM" + i2osp(kem_id, 2)


def derive_key_pair(kem_id, key_material):
    """RFC 9180 section 7.1.3 (NIST curves). Returns (skXm, private key object)."""
    curve, order, nsk, bitmask, _, h = KEMS[kem_id]
    prk = labeled_extract(h, kem_suite(kem_id), b"", b"dkp_prk", key_material)
    for counter in range(256):
        candidate = bytearray(
            labeled_expand(h, kem_suite(kem_id), prk, b"candidate", bytes([counter]), nsk))
        candidate[0] &= bitmask
        scalar = int.from_bytes(candidate, "big")
        if 0 < scalar < order:
            return i2osp(scalar, nsk), ec.derive_private_key(scalar, curve)
    raise ValueError("DeriveKeyPairError")


def public_bytes(private_key):
    return private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def shared_secret(kem_id, private_key, peer_bytes, kem_context):
    curve, _, _, _, nsecret, h = KEMS[kem_id]
    peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, peer_bytes)
    dh = private_key.exchange(ec.ECDH(), peer)
    prk = labeled_extract(h, kem_suite(kem_id), b"", b"eae_prk", dh)
    return labeled_expand(h, kem_suite(kem_id), prk, b"shared_secret", kem_context, nsecret)


def encap(kem_id, ephemeral, pk_r):
    enc = public_bytes(ephemeral)
    return enc, shared_secret(kem_id, ephemeral, pk_r, enc + pk_r)


def decap(kem_id, recipient, enc):
    return shared_secret(kem_id, recipient, enc, enc + public_bytes(recipient))


def key_schedule(kem_id, kdf_id, aead_id, secret_in, info):
    """RFC 9180 section 5.1, base mode (psk and psk_id empty)."""
    h = KDFS[kdf_id]
    suite_id = b"HPKE" + i2osp(kem_id, 2) + i2osp(kdf_id, 2) + i2osp(aead_id, 2)
    nk, nn, _ = AEADS[aead_id]
    psk_id_hash = labeled_extract(h, suite_id, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(h, suite_id, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = labeled_extract(h, suite_id, secret_in, b"secret", b"")
    return {
        "h": h,
        "suite_id": suite_id,
        "key_schedule_context": context,
        "secret": secret,
        "key": labeled_expand(h, suite_id, secret, b"key", context, nk) if nk else b"",
        "base_nonce": labeled_expand(h, suite_id, secret, b"base_nonce", context, nn) if nn else b"",
        "exporter_secret": labeled_expand(h, suite_id, secret, b"exp", context, h().digest_size),
    }


def nonce_for(base_nonce, seq):
    return bytes(a ^ b for a, b in zip(base_nonce, i2osp(seq, len(base_nonce))))


def aead(aead_id, key):
    return AEADS[aead_id][2](key)


def export(ks, context, length):
    return labeled_expand(ks["h"], ks["suite_id"], ks["exporter_secret"], b"sec", context, length)


def fail(message):
    raise SystemExit("gen-hpke-p384: " + message)


def check_orders():
    """Each order is its group's: OpenSSL takes n - 1 as a private key and refuses n (a
    mistyped order would otherwise go unnoticed, as a candidate above it is rarely drawn)."""
    for kem_id, (curve, order, *_) in KEMS.items():
        ec.derive_private_key(order - 1, curve)
        try:
            ec.derive_private_key(order, curve)
        except ValueError:
            continue
        fail(f"the group order for kem {kem_id:#06x} is wrong")


def check_cfrg(path):
    """Check 1: every base-mode P-256 and P-521 case of the CFRG file."""
    with open(path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != CFRG_SHA256:
        fail(f"{path} is not the CFRG test-vectors.json this script pins")
    checked = 0
    for t in json.loads(data):
        if t["mode"] != 0 or t["kem_id"] not in (0x0010, 0x0012):
            continue
        kem_id, kdf_id, aead_id = t["kem_id"], t["kdf_id"], t["aead_id"]
        sk_e, ephemeral = derive_key_pair(kem_id, bytes.fromhex(t["ikmE"]))
        sk_r, recipient = derive_key_pair(kem_id, bytes.fromhex(t["ikmR"]))
        pk_r = public_bytes(recipient)
        enc, secret = encap(kem_id, ephemeral, pk_r)
        if decap(kem_id, recipient, enc) != secret:
            fail("Decap disagrees with Encap")
        ks = key_schedule(kem_id, kdf_id, aead_id, secret, bytes.fromhex(t["info"]))
        got = {
            "skEm": sk_e, "pkEm": public_bytes(ephemeral), "skRm": sk_r, "pkRm": pk_r,
            "enc": enc, "shared_secret": secret,
        }
        got.update({k: ks[k] for k in (
            "key_schedule_context", "secret", "key", "base_nonce", "exporter_secret")})
        for name, value in got.items():
            if value.hex() != t[name]:
                fail(f"CFRG kem {kem_id:#06x} kdf {kdf_id} aead {aead_id:#06x}: {name} differs")
        for seq, e in enumerate(t["encryptions"]):
            nonce = nonce_for(ks["base_nonce"], seq)
            ct = aead(aead_id, ks["key"]).encrypt(
                nonce, bytes.fromhex(e["pt"]), bytes.fromhex(e["aad"]))
            if nonce.hex() != e["nonce"] or ct.hex() != e["ct"]:
                fail(f"CFRG kem {kem_id:#06x} aead {aead_id:#06x}: encryption {seq} differs")
        for x in t["exports"]:
            if export(ks, bytes.fromhex(x["exporter_context"]), x["L"]).hex() != x["exported_value"]:
                fail(f"CFRG kem {kem_id:#06x}: an export differs")
        checked += 1
    if checked != 16:
        fail(f"expected 16 base-mode P-256/P-521 cases in the CFRG file, checked {checked}")
    return checked


# chipsalliance/caliptra-sw, test/src/crypto/test_vectors/hpke-p384.json (Apache-2.0),
# the fields this script and the Rust test use. Its "ikmE" is a placeholder ("DEAD"): the
# ephemeral key was random, so only the recipient's side can be replayed.
CALIPTRA = {
    "source": "chipsalliance/caliptra-sw test/src/crypto/test_vectors/hpke-p384.json "
              "(Apache-2.0), generated there with pyhpke and checked with filippo.io/hpke",
    "mode": 0, "kem_id": KEM, "kdf_id": KDF, "aead_id": AEAD,
    "info": "746573745f696e666f5f737472696e67",
    "ikmR": "466ad52290edbefe36c99ff0ab5978c0511e498d2ed42e655f5d9e1f2d6555fc"
            "4896ad967370d5da5c2b2431138999fa",
    "skRm": "28e9d73133fd107428befffce0edbe064925027d1fa390afe5a66ff7725ad874"
            "4a74721d85420e60fac3c906b5a50654",
    "pkRm": "04a8bbc248b2c2b56f43de52b5f0d82ff5bcbc008302f094e9628723e02b1239"
            "cdb263c19c7863ba35e1f647a777b52d3d2711fa5616e557461d86c371cc6a1c"
            "2a157c6db9ff5bc4708079b2ed95fa617b568cb2ca61d0bf2a75f4198b5f406212",
    "enc": "0408a4adffefc93f98395af7a97257a79ff116ee1b65e648845a6051e374c200"
           "d6e253fc79dca8dca7ca3da613dd758a54665bc85cdfc819d3459ed94e1d670a"
           "60606b0dcfb972bd702ea0a590e67fb3ad051f48af71b51c5d134a43bc1708f15b",
    "shared_secret": "68a36041a52cf6fba3aec06c99184c1912d06190ac7650e644b93edc92513b75"
                     "26f3bc3309ad583f58e1eab193265307",
    "key_schedule_context": "00cb6b6c22166837986129d57dd606893c6d38ce24b765e577f45d3c72"
                            "59947d44ac499819e00b3d260abffeebb7e108c96f340ec88c35c3ea2a"
                            "5cea06d92460632438685e0bbd1334755d942ab84d407b1e3b9c1ad887"
                            "aee868aca38c805f34e7",
    "secret": "4f68367dde06d3e07508d35164bd0c1a74121b429c205a2c3651d2293fb5bca0"
              "6980f93ddb80fbe36417aefd42136bb4",
    "key": "83ed3a1db1393f0639a9921f7e1b84ad4e35a6121b8808c965d1756a5fd199b7",
    "base_nonce": "8333d9eb6d73a31e188903f2",
    "exporter_secret": "333c375154709bdb12c63efb637d773aa21e4a1369c436081d27d0d73051f5bd"
                       "0588beb610d8ecd55176a0c05f71eefa",
    "encryptions": [{
        "seq": 0,
        "pt": "48656c6c6f2c2048504b4520576f726c6421",
        "aad": "746573745f6161645f737472696e67",
        "nonce": "8333d9eb6d73a31e188903f2",
        "ct": "e2218f096501e87da83838b3045885c80699777e7b5a5f55c7911cc063a82e3d08cb",
    }],
}


def check_caliptra():
    """Check 2: the recipient's side of the third-party P-384 vector."""
    v = CALIPTRA
    sk_r, recipient = derive_key_pair(KEM, bytes.fromhex(v["ikmR"]))
    if sk_r.hex() != v["skRm"] or public_bytes(recipient).hex() != v["pkRm"]:
        fail("caliptra: DeriveKeyPair(ikmR) differs")
    secret = decap(KEM, recipient, bytes.fromhex(v["enc"]))
    ks = key_schedule(KEM, KDF, AEAD, secret, bytes.fromhex(v["info"]))
    if secret.hex() != v["shared_secret"]:
        fail("caliptra: shared_secret differs")
    for name in ("key_schedule_context", "secret", "key", "base_nonce", "exporter_secret"):
        if ks[name].hex() != v[name]:
            fail(f"caliptra: {name} differs")
    e = v["encryptions"][0]
    pt = AESGCM(ks["key"]).decrypt(ks["base_nonce"], bytes.fromhex(e["ct"]), bytes.fromhex(e["aad"]))
    if pt.hex() != e["pt"]:
        fail("caliptra: plaintext differs")


def release_info(key_id, guest, nonce):
    out = b""
    for field in (RELEASE_TAG, key_id, guest, nonce):
        out += i2osp(len(field), 2) + field
    return out


def check_pyca_and_seal_one(recipient, info, pt):
    """Check 3, both ways; returns pyca's sealed message as (enc, ct)."""
    suite = hpke.Suite(hpke.KEM.P384, hpke.KDF.HKDF_SHA384, hpke.AEAD.AES_256_GCM)
    _, ephemeral = derive_key_pair(KEM, ikm(b"pyca check ikmE"))
    enc, secret = encap(KEM, ephemeral, public_bytes(recipient))
    ks = key_schedule(KEM, KDF, AEAD, secret, info)
    ours = enc + AESGCM(ks["key"]).encrypt(ks["base_nonce"], pt, b"")
    if suite.decrypt(ours, recipient, info) != pt:
        fail("pyca/cryptography did not open this script's message")
    theirs = suite.encrypt(pt, recipient.public_key(), info)
    enc, ct = theirs[:97], theirs[97:]
    ks = key_schedule(KEM, KDF, AEAD, decap(KEM, recipient, enc), info)
    if AESGCM(ks["key"]).decrypt(ks["base_nonce"], ct, b"") != pt:
        fail("this script did not open pyca/cryptography's message")
    return enc, ct


def rfc_style_vector():
    """The suite through RFC 9180 appendix A's inputs, at the appendix's sequence numbers."""
    ikm_e, ikm_r = ikm(b"ikmE"), ikm(b"ikmR")
    sk_e, ephemeral = derive_key_pair(KEM, ikm_e)
    sk_r, recipient = derive_key_pair(KEM, ikm_r)
    pk_r = public_bytes(recipient)
    enc, secret = encap(KEM, ephemeral, pk_r)
    ks = key_schedule(KEM, KDF, AEAD, secret, INFO)
    encryptions = []
    for seq in SEQS:
        aad = f"Count-{seq}".encode()
        nonce = nonce_for(ks["base_nonce"], seq)
        ct = AESGCM(ks["key"]).encrypt(nonce, PT, aad)
        encryptions.append(
            {"seq": seq, "aad": aad.hex(), "nonce": nonce.hex(), "pt": PT.hex(), "ct": ct.hex()})
    return {
        "source": "gen-hpke-p384.py (this folder): RFC 9180 appendix A's info, plaintext and "
                  "aad, ikmE and ikmR chosen by the script",
        "mode": 0, "kem_id": KEM, "kdf_id": KDF, "aead_id": AEAD, "info": INFO.hex(),
        "ikmE": ikm_e.hex(), "ikmR": ikm_r.hex(),
        "skEm": sk_e.hex(), "pkEm": public_bytes(ephemeral).hex(),
        "skRm": sk_r.hex(), "pkRm": pk_r.hex(),
        "enc": enc.hex(), "shared_secret": secret.hex(),
        "key_schedule_context": ks["key_schedule_context"].hex(), "secret": ks["secret"].hex(),
        "key": ks["key"].hex(), "base_nonce": ks["base_nonce"].hex(),
        "exporter_secret": ks["exporter_secret"].hex(),
        "encryptions": encryptions,
        "exports": [
            {"exporter_context": c.hex(), "L": n, "exported_value": export(ks, c, n).hex()}
            for c, n in EXPORTS
        ],
    }


def release_vectors():
    """Messages sealed to a Kastell key-release info (one by this script, one by pyca)."""
    ikm_r = ikm(b"release ikmR")
    sk_r, recipient = derive_key_pair(KEM, ikm_r)
    pk_r = public_bytes(recipient)
    key_id = bytes.fromhex("6b617374656c6c2d6b65792d69642d31")  # "kastell-key-id-1"
    guest = hashlib.sha384(b"\x00asm kastell test guest").digest()
    nonce = hashlib.sha256(b"relying party nonce").digest()
    info = release_info(key_id, guest, nonce)
    data_key = hashlib.sha256(b"kastell data key").digest()
    common = {
        "key_id": key_id.hex(), "guest": guest.hex(), "nonce": nonce.hex(), "info": info.hex(),
        "ikmR": ikm_r.hex(), "skRm": sk_r.hex(), "pkRm": pk_r.hex(), "pt": data_key.hex(),
    }
    _, ephemeral = derive_key_pair(KEM, ikm(b"release ikmE"))
    enc, secret = encap(KEM, ephemeral, pk_r)
    ks = key_schedule(KEM, KDF, AEAD, secret, info)
    aad = b"kastell key release test aad"
    ct = AESGCM(ks["key"]).encrypt(ks["base_nonce"], data_key, aad)
    pyca_enc, pyca_ct = check_pyca_and_seal_one(recipient, info, data_key)
    return [
        {"source": "gen-hpke-p384.py", **common, "aad": aad.hex(), "enc": enc.hex(), "ct": ct.hex()},
        {"source": "pyca/cryptography's HPKE (hpke.Suite.encrypt), called by gen-hpke-p384.py",
         **common, "aad": "", "enc": pyca_enc.hex(), "ct": pyca_ct.hex()},
    ]


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    check_orders()
    checked = check_cfrg(sys.argv[1])
    check_caliptra()
    out = {
        "suite": "RFC 9180 base mode, DHKEM(P-384, HKDF-SHA384) 0x0011, HKDF-SHA384 0x0002, "
                 "AES-256-GCM 0x0002",
        "provenance": "No published RFC 9180 vector covers this suite. See README.md. The "
                      f"generator first reproduced the {checked} base-mode P-256 and P-521 "
                      "cases of the CFRG test-vectors.json (SHA-256 " + CFRG_SHA256 + "), "
                      "the caliptra-sw P-384 vector, and exchanged a message each way with "
                      "pyca/cryptography's HPKE.",
        "vectors": [rfc_style_vector(), CALIPTRA],
        "release": release_vectors(),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
