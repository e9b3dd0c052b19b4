"""Drives Kastell's AWS KMS-compatible endpoint with boto3, as tests/tests/aws_clients.rs
asks: `drive.py <scenario>` with the endpoint, region and access key in the environment
(KASTELL_AWS_ENDPOINT, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_CA_BUNDLE; the scenarios that administer keys also KASTELL_OFFICER_KEY_ID and
KASTELL_OFFICER_SECRET, an officer's access key). Prints one JSON object; a refused call
is recorded as its exception name.
"""

import base64
import datetime
import hashlib
import json
import os
import sys
import time

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import urllib3

from outcomes import refused

ENDPOINT = os.environ["KASTELL_AWS_ENDPOINT"]
REGION = os.environ["AWS_DEFAULT_REGION"]


def kms():
    return boto3.client("kms", endpoint_url=ENDPOINT, region_name=REGION)


def officer_kms():
    return boto3.client(
        "kms",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=os.environ["KASTELL_OFFICER_KEY_ID"],
        aws_secret_access_key=os.environ["KASTELL_OFFICER_SECRET"],
    )


def refused_with(call):
    """The exception name and message of a refused call."""
    try:
        call()
    except botocore.exceptions.ClientError as err:
        return [err.response["Error"]["Code"], err.response["Error"]["Message"]]
    return ["accepted", ""]


def raw(target, body, region=REGION, service="kms", date=None, tamper=None, secret=None,
        officer=False):
    """Signs a request with botocore's SigV4 signer, optionally tampers with it, sends it.
    Bypasses botocore's own checks of the members (ranges, required), so that the server's
    are what answers."""
    if officer:
        creds = botocore.credentials.Credentials(
            os.environ["KASTELL_OFFICER_KEY_ID"], os.environ["KASTELL_OFFICER_SECRET"]
        )
    else:
        creds = botocore.credentials.Credentials(
            os.environ["AWS_ACCESS_KEY_ID"], secret or os.environ["AWS_SECRET_ACCESS_KEY"]
        )
    request = botocore.awsrequest.AWSRequest(
        method="POST",
        url=ENDPOINT + "/",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "TrentService." + target,
        },
    )
    signer = botocore.auth.SigV4Auth(creds, service, region)
    if date is not None:
        # botocore takes the signing time from the clock: pin it for a stale date.
        class Stale(botocore.auth.SigV4Auth):
            def add_auth(self, request):
                real = datetime.datetime
                class Fixed(real):
                    @classmethod
                    def utcnow(cls):
                        return date
                    @classmethod
                    def now(cls, tz=None):
                        return date.replace(tzinfo=tz) if tz else date
                botocore.auth.datetime.datetime = Fixed
                try:
                    super().add_auth(request)
                finally:
                    botocore.auth.datetime.datetime = real
        signer = Stale(creds, service, region)
    signer.add_auth(request)
    prepared = request.prepare()
    data = prepared.body
    if tamper is not None:
        data = tamper(data)
    http = urllib3.PoolManager(ca_certs=os.environ["AWS_CA_BUNDLE"])
    answer = http.request("POST", prepared.url, body=data, headers=dict(prepared.headers))
    try:
        return answer.status, json.loads(answer.data).get("__type", "ok")
    except ValueError:
        return answer.status, answer.data.decode(errors="replace")


def roundtrip():
    client = kms()
    key = client.describe_key(KeyId=os.environ["KASTELL_KEY"])["KeyMetadata"]
    context = {"tenant": "acme"}
    encrypted = client.encrypt(KeyId=key["Arn"], Plaintext=b"hello kastell", EncryptionContext=context)
    decrypted = client.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext=context)
    data_key = client.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    opened = client.decrypt(CiphertextBlob=data_key["CiphertextBlob"])
    without = client.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=32)
    random = client.generate_random(NumberOfBytes=16)
    aliases = client.list_aliases()["Aliases"]
    by_alias = client.encrypt(KeyId="alias/records", Plaintext=b"x")
    keys = client.list_keys()["Keys"]
    native = base64.b64decode(os.environ["KASTELL_NATIVE_CIPHERTEXT"])
    from_v1 = client.decrypt(CiphertextBlob=native)
    print(json.dumps({
        "key_state": key["KeyState"],
        "key_spec": key["KeySpec"],
        "arn": key["Arn"],
        "decrypted": decrypted["Plaintext"].decode(),
        "encrypted_key": encrypted["KeyId"],
        "data_key_matches": data_key["Plaintext"] == opened["Plaintext"],
        "data_key_len": len(data_key["Plaintext"]),
        "without_has_plaintext": "Plaintext" in without,
        "random_len": len(random["Plaintext"]),
        "aliases": sorted(a["AliasName"] for a in aliases),
        "by_alias_key": by_alias["KeyId"],
        "keys": len(keys),
        "from_v1": from_v1["Plaintext"].decode(),
        "for_v1": base64.b64encode(encrypted["CiphertextBlob"]).decode(),
        "wrong_context": refused(lambda: client.decrypt(
            CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"tenant": "other"})),
        # Grants are served now; multi-Region keys are not offered.
        "unsupported": refused(lambda: client.replicate_key(
            KeyId=key["KeyId"], ReplicaRegion="eu-west-1")),
        "sm2": refused(lambda: client.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")),
        "user_creates_key": refused(lambda: client.create_key()),
    }))


def attacks():
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    body = {"NumberOfBytes": 8}
    results = {
        "honest": raw("GenerateRandom", body),
        "wrong_secret": raw("GenerateRandom", body, secret="A" * 40),
        "tampered_body": raw("GenerateRandom", body, tamper=lambda d: d.replace(b"8", b"9")),
        "stale_date": raw("GenerateRandom", body, date=now - datetime.timedelta(minutes=20)),
        "wrong_region": raw("GenerateRandom", body, region="us-east-1"),
        "wrong_service": raw("GenerateRandom", body, service="s3"),
    }
    print(json.dumps(results))


def refused_as():
    print(json.dumps({"error": refused(lambda: kms().generate_random(NumberOfBytes=8))}))



# Every spec Kastell creates through the AWS API, with the usage asked for.
SPECS = [
    ("SYMMETRIC_DEFAULT", None),
    ("RSA_2048", "ENCRYPT_DECRYPT"),
    ("RSA_2048", "SIGN_VERIFY"),
    ("RSA_3072", "SIGN_VERIFY"),
    ("RSA_4096", "ENCRYPT_DECRYPT"),
    ("ECC_NIST_P256", "SIGN_VERIFY"),
    ("ECC_NIST_P256", "KEY_AGREEMENT"),
    ("ECC_NIST_P384", "SIGN_VERIFY"),
    ("ECC_NIST_P521", "SIGN_VERIFY"),
    ("ECC_NIST_P521", "KEY_AGREEMENT"),
    ("ECC_SECG_P256K1", "SIGN_VERIFY"),
    ("HMAC_224", "GENERATE_VERIFY_MAC"),
    ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ("HMAC_384", "GENERATE_VERIFY_MAC"),
    ("HMAC_512", "GENERATE_VERIFY_MAC"),
    ("ML_DSA_44", "SIGN_VERIFY"),
    ("ML_DSA_65", "SIGN_VERIFY"),
    ("ML_DSA_87", "SIGN_VERIFY"),
]

HASHES = {"SHA_256": hashlib.sha256, "SHA_384": hashlib.sha384, "SHA_512": hashlib.sha512}


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text)


def pages(call, key, **kwargs):
    """Every item of a paged list, following NextMarker; and how many pages it took."""
    items, marker, count = [], None, 0
    while True:
        answer = call(**kwargs, **({"Marker": marker} if marker else {}))
        items += answer[key]
        count += 1
        if not answer["Truncated"]:
            return items, count
        marker = answer["NextMarker"]


def create_keys(officer):
    keys, metadata = {}, {}
    for spec, usage in SPECS:
        args = {"KeySpec": spec, "Description": f"{spec} {usage or ''}".strip()}
        if usage:
            args["KeyUsage"] = usage
        meta = officer.create_key(**args)["KeyMetadata"]
        name = f"{spec}/{usage or 'ENCRYPT_DECRYPT'}"
        keys[name] = meta["KeyId"]
        described = officer.describe_key(KeyId=meta["Arn"])["KeyMetadata"]
        metadata[name] = {
            member: (described[member].timestamp() if member == "CreationDate"
                     else described.get(member))
            for member in [
                "KeySpec", "CustomerMasterKeySpec", "KeyUsage", "KeyState", "Enabled",
                "Origin", "KeyManager", "MultiRegion", "Arn", "AWSAccountId", "Description",
                "EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms",
                "KeyAgreementAlgorithms", "CreationDate", "DeletionDate",
            ]
        }
    return keys, metadata


def bad_creates(officer, user):
    return {
        "rsa_without_usage": refused(lambda: officer.create_key(KeySpec="RSA_2048")),
        "hmac_for_signing": refused(
            lambda: officer.create_key(KeySpec="HMAC_256", KeyUsage="SIGN_VERIFY")),
        "secp256k1_agreement": refused(
            lambda: officer.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="KEY_AGREEMENT")),
        "sm2": refused(lambda: officer.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")),
        "unknown_spec": refused(lambda: officer.create_key(KeySpec="RSA_1024")),
        "both_spec_names": refused(lambda: officer.create_key(
            KeySpec="RSA_2048", CustomerMasterKeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")),
        "policy": refused(lambda: officer.create_key(Policy='{"Version": "2012-10-17"}')),
        "multi_region": refused(lambda: officer.create_key(MultiRegion=True)),
        # Imported material of ML-DSA keys is not offered (AES, HMAC, RSA and EC are).
        "external": refused(lambda: officer.create_key(
            Origin="EXTERNAL", KeySpec="ML_DSA_44", KeyUsage="SIGN_VERIFY")),
        "custom_store": refused(lambda: officer.create_key(CustomKeyStoreId="cks-1234567890")),
        "user_creates": refused(lambda: user.create_key()),
        "reserved_tag": refused(
            lambda: officer.create_key(Tags=[{"TagKey": "aws:owner", "TagValue": "x"}])),
        "too_many_tags": refused(lambda: officer.create_key(
            Tags=[{"TagKey": f"t{i}", "TagValue": ""} for i in range(51)])),
        "long_description": raw("CreateKey", {"Description": "d" * 8193}, officer=True),
    }


def list_keys(officer):
    everything = officer.list_keys(Limit=1000)
    paged, count = pages(officer.list_keys, "Keys", Limit=3)
    return {
        "all": sorted(k["KeyId"] for k in everything["Keys"]),
        "paged": sorted(k["KeyId"] for k in paged),
        "pages": count,
        "arns_match": all(k["KeyArn"].endswith("key/" + k["KeyId"]) for k in paged),
        "bad_marker": raw("ListKeys", {"Marker": "not-a-marker"}, officer=True),
        "limit_zero": raw("ListKeys", {"Limit": 0}, officer=True),
        "limit_over": raw("ListKeys", {"Limit": 1001}, officer=True),
    }


def encryption(user, keys):
    sym, rsa = keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"], keys["RSA_2048/ENCRYPT_DECRYPT"]
    signer = keys["RSA_2048/SIGN_VERIFY"]
    out = {"oaep": {}}
    for algorithm in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]:
        made = user.encrypt(KeyId=rsa, Plaintext=b"to rsa", EncryptionAlgorithm=algorithm)
        back = user.decrypt(CiphertextBlob=made["CiphertextBlob"], KeyId=rsa,
                            EncryptionAlgorithm=algorithm)
        out["oaep"][algorithm] = [made["EncryptionAlgorithm"], back["Plaintext"].decode(),
                                  back["EncryptionAlgorithm"], len(made["CiphertextBlob"])]
    sealed = user.encrypt(KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    out["rsa_decrypt_without_key"] = refused(lambda: user.decrypt(
        CiphertextBlob=sealed["CiphertextBlob"], EncryptionAlgorithm="RSAES_OAEP_SHA_256"))
    out["rsa_without_algorithm"] = refused(lambda: user.encrypt(KeyId=rsa, Plaintext=b"x"))
    out["rsa_symmetric_default"] = refused(lambda: user.encrypt(
        KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="SYMMETRIC_DEFAULT"))
    out["oaep_on_symmetric"] = refused(lambda: user.encrypt(
        KeyId=sym, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256"))
    out["rsa_too_long"] = refused(lambda: user.encrypt(
        KeyId=rsa, Plaintext=b"p" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256"))
    out["rsa_longest"] = len(user.encrypt(
        KeyId=rsa, Plaintext=b"p" * 190, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"])
    out["rsa_context"] = refused(lambda: user.encrypt(
        KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256",
        EncryptionContext={"a": "b"}))
    out["encrypt_with_signing_key"] = refused(lambda: user.encrypt(
        KeyId=signer, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256"))
    out["sm2pke"] = refused(lambda: user.encrypt(
        KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="SM2PKE"))
    out["unknown_algorithm"] = refused(lambda: user.encrypt(
        KeyId=sym, Plaintext=b"x", EncryptionAlgorithm="AES_GCM"))
    out["plaintext_too_long"] = refused(lambda: user.encrypt(KeyId=sym, Plaintext=b"p" * 4097))
    out["plaintext_bounds"] = [
        refused_with(lambda: user.encrypt(KeyId=sym, Plaintext=b"")),
        refused_with(lambda: user.encrypt(KeyId=sym, Plaintext=b"p" * 4097)),
    ]
    out["not_a_key_id"] = [
        refused_with(lambda: user.encrypt(KeyId="not-a-uuid", Plaintext=b"x")),
        refused_with(lambda: user.describe_key(KeyId="invalid")),
        refused_with(lambda: user.generate_data_key(
            KeyId=f"arn:aws:kms:{REGION}:{user.describe_key(KeyId=sym)['KeyMetadata']['AWSAccountId']}"
                  ":key/not-a-uuid", KeySpec="AES_256")),
    ]
    out["bad_ciphertext"] = refused(lambda: user.decrypt(CiphertextBlob=b"not a ciphertext"))
    out["recipient"] = refused(lambda: user.decrypt(
        CiphertextBlob=sealed["CiphertextBlob"], KeyId=rsa,
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
        Recipient={"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
                   "AttestationDocument": b"doc"}))

    # Data keys of every length AWS offers.
    out["aes_128"] = len(user.generate_data_key(KeyId=sym, KeySpec="AES_128")["Plaintext"])
    out["bytes_64"] = len(user.generate_data_key(KeyId=sym, NumberOfBytes=64)["Plaintext"])
    out["spec_and_bytes"] = refused(
        lambda: user.generate_data_key(KeyId=sym, KeySpec="AES_256", NumberOfBytes=32))
    out["data_key_on_rsa"] = refused(lambda: user.generate_data_key(KeyId=rsa, KeySpec="AES_256"))
    return out


def re_encryption(user, keys, other_sym):
    sym, rsa = keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"], keys["RSA_2048/ENCRYPT_DECRYPT"]
    out = {}
    made = user.encrypt(KeyId=sym, Plaintext=b"moving", EncryptionContext={"stage": "a"})
    moved = user.re_encrypt(
        CiphertextBlob=made["CiphertextBlob"], SourceEncryptionContext={"stage": "a"},
        DestinationKeyId=other_sym, DestinationEncryptionContext={"stage": "b"})
    out["sym_to_sym"] = [
        moved["SourceKeyId"].endswith(sym), moved["KeyId"].endswith(other_sym),
        moved["SourceEncryptionAlgorithm"], moved["DestinationEncryptionAlgorithm"],
        user.decrypt(CiphertextBlob=moved["CiphertextBlob"],
                     EncryptionContext={"stage": "b"})["Plaintext"].decode(),
    ]
    out["old_context_refused"] = refused(lambda: user.decrypt(
        CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"stage": "a"}))
    out["wrong_source_context"] = refused(lambda: user.re_encrypt(
        CiphertextBlob=made["CiphertextBlob"], SourceEncryptionContext={"stage": "x"},
        DestinationKeyId=other_sym))
    out["wrong_source_key"] = refused(lambda: user.re_encrypt(
        CiphertextBlob=made["CiphertextBlob"], SourceEncryptionContext={"stage": "a"},
        SourceKeyId=other_sym, DestinationKeyId=other_sym))
    to_rsa = user.re_encrypt(
        CiphertextBlob=made["CiphertextBlob"], SourceEncryptionContext={"stage": "a"},
        DestinationKeyId=rsa, DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
    out["sym_to_rsa"] = [
        to_rsa["DestinationEncryptionAlgorithm"],
        user.decrypt(CiphertextBlob=to_rsa["CiphertextBlob"], KeyId=rsa,
                     EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"].decode(),
    ]
    back = user.re_encrypt(
        CiphertextBlob=to_rsa["CiphertextBlob"], SourceKeyId=rsa,
        SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256", DestinationKeyId=sym)
    out["rsa_to_sym"] = [
        back["SourceEncryptionAlgorithm"], back["SourceKeyId"].endswith(rsa),
        user.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"].decode(),
    ]
    out["rsa_source_unnamed"] = refused(lambda: user.re_encrypt(
        CiphertextBlob=to_rsa["CiphertextBlob"], SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
        DestinationKeyId=sym))
    out["to_rsa_without_algorithm"] = refused(lambda: user.re_encrypt(
        CiphertextBlob=made["CiphertextBlob"], SourceEncryptionContext={"stage": "a"},
        DestinationKeyId=rsa))
    return out


def data_key_pairs(user, keys):
    sym = keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"]
    out = {"pairs": {}}
    for spec in ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                 "ECC_NIST_P521", "ECC_SECG_P256K1"]:
        pair = user.generate_data_key_pair(KeyId=sym, KeyPairSpec=spec,
                                           EncryptionContext={"pair": spec})
        opened = user.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"],
                              EncryptionContext={"pair": spec})["Plaintext"]
        out["pairs"][spec] = [
            pair["KeyPairSpec"], opened == pair["PrivateKeyPlaintext"],
            pair["PublicKey"][:1] == b"\x30", pair["PrivateKeyPlaintext"][:1] == b"\x30",
        ]
    without = user.generate_data_key_pair_without_plaintext(KeyId=sym, KeyPairSpec="ECC_NIST_P256")
    out["without_plaintext"] = ["PrivateKeyPlaintext" in without, without["KeyPairSpec"]]
    out["for_v1"] = b64(without["PrivateKeyCiphertextBlob"])
    out["hmac_pair"] = refused(
        lambda: user.generate_data_key_pair(KeyId=sym, KeyPairSpec="HMAC_256"))
    out["sm2_pair"] = refused(lambda: user.generate_data_key_pair(KeyId=sym, KeyPairSpec="SM2"))
    out["pair_under_rsa"] = refused(lambda: user.generate_data_key_pair(
        KeyId=keys["RSA_2048/ENCRYPT_DECRYPT"], KeyPairSpec="ECC_NIST_P256"))
    return out


def signing(user, keys, metadata):
    message = b"signed through the AWS API"
    out = {"signed": {}, "public_keys": {}}
    for name, meta in metadata.items():
        if meta["KeyUsage"] != "SIGN_VERIFY":
            continue
        key = keys[name]
        public = user.get_public_key(KeyId=key)
        out["public_keys"][name] = [
            public["KeySpec"], public["KeyUsage"], public.get("SigningAlgorithms"),
            public["PublicKey"][:1] == b"\x30", public.get("CustomerMasterKeySpec"),
        ]
        for algorithm in meta["SigningAlgorithms"]:
            signed = user.sign(KeyId=key, Message=message, SigningAlgorithm=algorithm)
            valid = user.verify(KeyId=key, Message=message, Signature=signed["Signature"],
                                SigningAlgorithm=algorithm)["SignatureValid"]
            result = [signed["SigningAlgorithm"], valid]
            hash_name = algorithm[-7:]
            if hash_name in HASHES:
                digest = HASHES[hash_name](message).digest()
                by_digest = user.sign(KeyId=key, Message=digest, MessageType="DIGEST",
                                      SigningAlgorithm=algorithm)
                # A signature over the digest verifies against the message, and back.
                result.append(user.verify(
                    KeyId=key, Message=message, Signature=by_digest["Signature"],
                    SigningAlgorithm=algorithm)["SignatureValid"])
                result.append(user.verify(
                    KeyId=key, Message=digest, MessageType="DIGEST",
                    Signature=signed["Signature"], SigningAlgorithm=algorithm)["SignatureValid"])
            tampered = bytearray(signed["Signature"])
            tampered[len(tampered) // 2] ^= 1
            result.append(refused(lambda: user.verify(
                KeyId=key, Message=message, Signature=bytes(tampered),
                SigningAlgorithm=algorithm)))
            result.append(refused(lambda: user.verify(
                KeyId=key, Message=b"another message", Signature=signed["Signature"],
                SigningAlgorithm=algorithm)))
            out["signed"][f"{name} {algorithm}"] = result
    p256, rsa = keys["ECC_NIST_P256/SIGN_VERIFY"], keys["RSA_2048/SIGN_VERIFY"]
    mldsa = keys["ML_DSA_65/SIGN_VERIFY"]
    out["ecdsa_on_rsa"] = refused(
        lambda: user.sign(KeyId=rsa, Message=message, SigningAlgorithm="ECDSA_SHA_256"))
    out["other_curve_hash"] = refused(
        lambda: user.sign(KeyId=p256, Message=message, SigningAlgorithm="ECDSA_SHA_384"))
    out["digest_too_long"] = refused(lambda: user.sign(
        KeyId=p256, Message=b"d" * 33, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"))
    out["digest_too_short"] = refused(lambda: user.sign(
        KeyId=rsa, Message=b"d" * 31, MessageType="DIGEST",
        SigningAlgorithm="RSASSA_PSS_SHA_256"))
    out["mldsa_digest"] = refused(lambda: user.sign(
        KeyId=mldsa, Message=b"d" * 64, MessageType="DIGEST",
        SigningAlgorithm="ML_DSA_SHAKE_256"))
    out["external_mu"] = refused(lambda: user.sign(
        KeyId=mldsa, Message=b"m" * 64, MessageType="EXTERNAL_MU",
        SigningAlgorithm="ML_DSA_SHAKE_256"))
    out["ed25519"] = refused(
        lambda: user.sign(KeyId=p256, Message=message, SigningAlgorithm="ED25519_SHA_512"))
    out["message_too_long"] = refused(
        lambda: user.sign(KeyId=p256, Message=b"m" * 4097, SigningAlgorithm="ECDSA_SHA_256"))
    out["sign_with_mac_key"] = refused(lambda: user.sign(
        KeyId=keys["HMAC_256/GENERATE_VERIFY_MAC"], Message=message,
        SigningAlgorithm="ECDSA_SHA_256"))
    out["public_key_of_symmetric"] = refused(
        lambda: user.get_public_key(KeyId=keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"]))
    rsa_enc = user.get_public_key(KeyId=keys["RSA_2048/ENCRYPT_DECRYPT"])
    out["rsa_encryption_public_key"] = [rsa_enc["KeyUsage"], rsa_enc.get("EncryptionAlgorithms")]
    agree = user.get_public_key(KeyId=keys["ECC_NIST_P256/KEY_AGREEMENT"])
    out["agreement_public_key"] = [agree["KeyUsage"], agree.get("KeyAgreementAlgorithms")]
    return out


def macs(user, keys):
    message = b"authenticated through the AWS API"
    out = {"macs": {}}
    for size in ["224", "256", "384", "512"]:
        key = keys[f"HMAC_{size}/GENERATE_VERIFY_MAC"]
        algorithm = f"HMAC_SHA_{size}"
        made = user.generate_mac(KeyId=key, Message=message, MacAlgorithm=algorithm)
        checked = user.verify_mac(KeyId=key, Message=message, Mac=made["Mac"],
                                  MacAlgorithm=algorithm)
        out["macs"][size] = [
            len(made["Mac"]), made["MacAlgorithm"], checked["MacValid"],
            refused(lambda: user.verify_mac(KeyId=key, Message=b"other", Mac=made["Mac"],
                                            MacAlgorithm=algorithm)),
        ]
    key = keys["HMAC_384/GENERATE_VERIFY_MAC"]
    out["wrong_algorithm"] = refused(
        lambda: user.generate_mac(KeyId=key, Message=message, MacAlgorithm="HMAC_SHA_256"))
    out["mac_with_aes"] = refused(lambda: user.generate_mac(
        KeyId=keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"], Message=message,
        MacAlgorithm="HMAC_SHA_256"))
    return out


def agreement(user, keys):
    a, b = keys["ECC_NIST_P256/KEY_AGREEMENT"], keys["ECC_NIST_P521/KEY_AGREEMENT"]
    peer = kms()
    a_public = user.get_public_key(KeyId=a)["PublicKey"]
    b_public = user.get_public_key(KeyId=b)["PublicKey"]
    # A second P-256 key agreement pair: a data key pair's public key.
    pair = user.generate_data_key_pair(
        KeyId=keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"], KeyPairSpec="ECC_NIST_P256")
    derived = peer.derive_shared_secret(KeyId=a, KeyAgreementAlgorithm="ECDH",
                                        PublicKey=pair["PublicKey"])
    return {
        "derived": [len(derived["SharedSecret"]), derived["KeyAgreementAlgorithm"],
                    derived["KeyOrigin"], derived["KeyId"].endswith(a)],
        "a_public": b64(a_public),
        "other_curve": refused(lambda: user.derive_shared_secret(
            KeyId=a, KeyAgreementAlgorithm="ECDH", PublicKey=b_public)),
        "not_spki": refused(lambda: user.derive_shared_secret(
            KeyId=a, KeyAgreementAlgorithm="ECDH", PublicKey=b"\x04" + b"\x01" * 64)),
        "signing_key": refused(lambda: user.derive_shared_secret(
            KeyId=keys["ECC_NIST_P256/SIGN_VERIFY"], KeyAgreementAlgorithm="ECDH",
            PublicKey=pair["PublicKey"])),
    }


def dry_runs(user, officer, keys):
    sym, rsa = keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"], keys["RSA_2048/ENCRYPT_DECRYPT"]
    p256, hmac = keys["ECC_NIST_P256/SIGN_VERIFY"], keys["HMAC_256/GENERATE_VERIFY_MAC"]
    agree = keys["ECC_NIST_P256/KEY_AGREEMENT"]
    made = user.encrypt(KeyId=sym, Plaintext=b"dry")
    signature = user.sign(KeyId=p256, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    mac = user.generate_mac(KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    peer = user.generate_data_key_pair(KeyId=sym, KeyPairSpec="ECC_NIST_P256")["PublicKey"]
    return {
        "encrypt": refused(lambda: user.encrypt(KeyId=sym, Plaintext=b"x", DryRun=True)),
        "encrypt_rsa": refused(lambda: user.encrypt(
            KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_1", DryRun=True)),
        "decrypt": refused(
            lambda: user.decrypt(CiphertextBlob=made["CiphertextBlob"], DryRun=True)),
        "re_encrypt": refused(lambda: user.re_encrypt(
            CiphertextBlob=made["CiphertextBlob"], DestinationKeyId=sym, DryRun=True)),
        "data_key": refused(
            lambda: user.generate_data_key(KeyId=sym, KeySpec="AES_256", DryRun=True)),
        "data_key_pair": refused(lambda: user.generate_data_key_pair(
            KeyId=sym, KeyPairSpec="RSA_2048", DryRun=True)),
        "sign": refused(lambda: user.sign(
            KeyId=p256, Message=b"m", SigningAlgorithm="ECDSA_SHA_256", DryRun=True)),
        "verify": refused(lambda: user.verify(
            KeyId=p256, Message=b"m", Signature=signature, SigningAlgorithm="ECDSA_SHA_256",
            DryRun=True)),
        "generate_mac": refused(lambda: user.generate_mac(
            KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256", DryRun=True)),
        "verify_mac": refused(lambda: user.verify_mac(
            KeyId=hmac, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256", DryRun=True)),
        "derive": refused(lambda: user.derive_shared_secret(
            KeyId=agree, KeyAgreementAlgorithm="ECDH", PublicKey=peer, DryRun=True)),
        # A dry run is refused as the operation would be.
        "wrong_algorithm": refused(lambda: user.sign(
            KeyId=p256, Message=b"m", SigningAlgorithm="ECDSA_SHA_384", DryRun=True)),
        "bad_digest": refused(lambda: user.sign(
            KeyId=p256, Message=b"d" * 33, MessageType="DIGEST",
            SigningAlgorithm="ECDSA_SHA_256", DryRun=True)),
        "officer": refused(lambda: officer.encrypt(KeyId=sym, Plaintext=b"x", DryRun=True)),
        "unknown_key": refused(lambda: user.encrypt(
            KeyId="alias/no-such-key", Plaintext=b"x", DryRun=True)),
        "bad_ciphertext": refused(lambda: user.decrypt(
            CiphertextBlob=b"not a ciphertext", DryRun=True)),
    }


def disabled(user, officer, key):
    made = user.encrypt(KeyId=key, Plaintext=b"before")
    officer.disable_key(KeyId=key)
    out = {
        "state": officer.describe_key(KeyId=key)["KeyMetadata"]["KeyState"],
        "encrypt": refused(lambda: user.encrypt(KeyId=key, Plaintext=b"x")),
        "decrypt": refused(lambda: user.decrypt(CiphertextBlob=made["CiphertextBlob"])),
        "dry_run": refused(lambda: user.encrypt(KeyId=key, Plaintext=b"x", DryRun=True)),
        "enable_rotation": refused(lambda: officer.enable_key_rotation(KeyId=key)),
        "rotate": refused(lambda: officer.rotate_key_on_demand(KeyId=key)),
    }
    officer.enable_key(KeyId=key)
    out["after_enable"] = user.decrypt(CiphertextBlob=made["CiphertextBlob"])["Plaintext"].decode()
    return out


def aliases(user, officer, keys):
    sym, rsa = keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"], keys["RSA_2048/ENCRYPT_DECRYPT"]
    other = officer.create_key(Description="second symmetric")["KeyMetadata"]["KeyId"]
    out = {"other": other}
    officer.create_alias(AliasName="alias/ops", TargetKeyId=sym)
    out["by_alias"] = user.encrypt(KeyId="alias/ops", Plaintext=b"x")["KeyId"].endswith(sym)
    alias_arn = f"arn:aws:kms:{REGION}:{officer.describe_key(KeyId=sym)['KeyMetadata']['AWSAccountId']}:alias/ops"
    out["by_alias_arn"] = user.encrypt(KeyId=alias_arn, Plaintext=b"x")["KeyId"].endswith(sym)
    out["create_again"] = refused(
        lambda: officer.create_alias(AliasName="alias/ops", TargetKeyId=other))
    out["create_again_words"] = refused_with(
        lambda: officer.create_alias(AliasName="alias/ops", TargetKeyId=other))
    officer.update_alias(AliasName="alias/ops", TargetKeyId=other)
    out["updated"] = user.encrypt(KeyId="alias/ops", Plaintext=b"x")["KeyId"].endswith(other)
    out["update_to_other_kind"] = refused(
        lambda: officer.update_alias(AliasName="alias/ops", TargetKeyId=rsa))
    out["update_missing"] = refused(
        lambda: officer.update_alias(AliasName="alias/missing", TargetKeyId=sym))
    out["reserved"] = refused(lambda: officer.create_alias(AliasName="alias/aws/s3", TargetKeyId=sym))
    out["no_prefix"] = refused(lambda: officer.create_alias(AliasName="ops2", TargetKeyId=sym))
    out["bad_character"] = refused(
        lambda: officer.create_alias(AliasName="alias/a b", TargetKeyId=sym))
    out["to_alias"] = refused(
        lambda: officer.create_alias(AliasName="alias/ops2", TargetKeyId="alias/ops"))
    out["user_creates"] = refused(
        lambda: user.create_alias(AliasName="alias/mine", TargetKeyId=sym))
    out["user_deletes"] = refused(lambda: user.delete_alias(AliasName="alias/ops"))
    officer.delete_alias(AliasName="alias/ops")
    out["deleted_twice"] = refused(lambda: officer.delete_alias(AliasName="alias/ops"))
    out["deleted_twice_words"] = refused_with(lambda: officer.delete_alias(AliasName="alias/ops"))
    out["delete_no_prefix"] = refused(lambda: officer.delete_alias(AliasName="ops"))
    out["delete_reserved"] = refused(lambda: officer.delete_alias(AliasName="alias/aws/s3"))
    out["unknown_alias"] = refused(lambda: user.encrypt(KeyId="alias/ops", Plaintext=b"x"))
    out["other_region_arn"] = refused(lambda: user.encrypt(
        KeyId=f"arn:aws:kms:us-east-1:111122223333:key/{sym}", Plaintext=b"x"))
    out["malformed_arn"] = refused(lambda: user.encrypt(KeyId="arn:aws:kms", Plaintext=b"x"))
    for i in range(5):
        officer.create_alias(AliasName=f"alias/page-{i}", TargetKeyId=other)
    paged, count = pages(user.list_aliases, "Aliases", Limit=2)
    out["paged"] = sorted(a["AliasName"] for a in paged)
    out["pages"] = count
    out["alias_arns"] = all(a["AliasArn"].endswith(":" + a["AliasName"]) for a in paged)
    of_key, count = pages(user.list_aliases, "Aliases", KeyId=other, Limit=2)
    out["of_key"] = [sorted(a["AliasName"] for a in of_key), count,
                     all(a["TargetKeyId"] == other for a in of_key)]
    out["filter_by_alias"] = refused(lambda: user.list_aliases(KeyId="alias/page-1"))
    out["limit_over"] = raw("ListAliases", {"Limit": 101})
    out["bad_marker"] = raw("ListAliases", {"Marker": "alias/with space"})
    return out


def tags(user, officer, keys):
    key = keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"]
    officer.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "billing"},
                                          {"TagKey": "env", "TagValue": "prod"},
                                          {"TagKey": "empty", "TagValue": ""}])
    officer.tag_resource(KeyId=key, Tags=[{"TagKey": "env", "TagValue": "staging"}])
    listed = user.list_resource_tags(KeyId=key)
    officer.untag_resource(KeyId=key, TagKeys=["team", "absent"])
    after = officer.list_resource_tags(KeyId=key)["Tags"]
    paged, count = pages(officer.list_resource_tags, "Tags", KeyId=key, Limit=1)
    officer.update_key_description(KeyId=key, Description="described again")
    out = {
        "listed": sorted((t["TagKey"], t["TagValue"]) for t in listed["Tags"]),
        "after_untag": sorted((t["TagKey"], t["TagValue"]) for t in after),
        "paged": [sorted(t["TagKey"] for t in paged), count],
        "description": officer.describe_key(KeyId=key)["KeyMetadata"]["Description"],
        "reserved": refused(lambda: officer.tag_resource(
            KeyId=key, Tags=[{"TagKey": "aws:team", "TagValue": "x"}])),
        "reserved_upper": refused(lambda: officer.tag_resource(
            KeyId=key, Tags=[{"TagKey": "AWS:team", "TagValue": "x"}])),
        "key_too_long": refused(lambda: officer.tag_resource(
            KeyId=key, Tags=[{"TagKey": "k" * 129, "TagValue": "x"}])),
        "value_too_long": refused(lambda: officer.tag_resource(
            KeyId=key, Tags=[{"TagKey": "k", "TagValue": "v" * 257}])),
        "given_twice": refused(lambda: officer.tag_resource(
            KeyId=key, Tags=[{"TagKey": "k", "TagValue": "1"}, {"TagKey": "k", "TagValue": "2"}])),
        "too_many": refused(lambda: officer.tag_resource(
            KeyId=key, Tags=[{"TagKey": f"n{i}", "TagValue": ""} for i in range(49)])),
        "by_alias": refused(lambda: officer.tag_resource(
            KeyId="alias/page-1", Tags=[{"TagKey": "k", "TagValue": "v"}])),
        "untag_reserved": refused(lambda: officer.untag_resource(KeyId=key, TagKeys=["aws:x"])),
        "user_tags": refused(lambda: user.tag_resource(
            KeyId=key, Tags=[{"TagKey": "k", "TagValue": "v"}])),
        "long_description": raw("UpdateKeyDescription", {"KeyId": key, "Description": "d" * 8193},
                                officer=True),
        "missing_description": raw("UpdateKeyDescription", {"KeyId": key}, officer=True),
        "unknown_key": refused(lambda: officer.list_resource_tags(
            KeyId="00000000-0000-4000-8000-000000000000")),
        "bad_marker": raw("ListResourceTags", {"KeyId": key, "Marker": "!!"}),
    }
    return out


def rotation(user, officer, keys):
    key = keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"]
    made = user.encrypt(KeyId=key, Plaintext=b"before rotation")
    out = {"initial": user.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"]}
    officer.enable_key_rotation(KeyId=key, RotationPeriodInDays=180)
    status = user.get_key_rotation_status(KeyId=key)
    out["enabled"] = [status["KeyRotationEnabled"], status["RotationPeriodInDays"],
                      round((status["NextRotationDate"].timestamp() - time.time()) / 86400),
                      status["KeyId"].endswith(key)]
    officer.enable_key_rotation(KeyId=key)
    out["default_period"] = user.get_key_rotation_status(KeyId=key)["RotationPeriodInDays"]
    officer.disable_key_rotation(KeyId=key)
    status = user.get_key_rotation_status(KeyId=key)
    out["disabled"] = [status["KeyRotationEnabled"], "RotationPeriodInDays" in status]
    rotated = officer.rotate_key_on_demand(KeyId=key)
    officer.rotate_key_on_demand(KeyId=key)
    out["rotated"] = rotated["KeyId"] == key
    out["status_names_key_id"] = user.get_key_rotation_status(KeyId=key)["KeyId"] == key
    rotations, count = pages(user.list_key_rotations, "Rotations", KeyId=key, Limit=1)
    out["rotations"] = [[r["RotationType"], r["KeyId"] == key] for r in rotations] + [count]
    out["old_ciphertext"] = user.decrypt(CiphertextBlob=made["CiphertextBlob"])["Plaintext"].decode()
    out["period_too_short"] = raw("EnableKeyRotation", {"KeyId": key, "RotationPeriodInDays": 89},
                                  officer=True)
    out["period_too_long"] = raw("EnableKeyRotation",
                                 {"KeyId": key, "RotationPeriodInDays": 2561}, officer=True)
    rsa = keys["RSA_2048/ENCRYPT_DECRYPT"]
    out["rsa_enable"] = refused(lambda: officer.enable_key_rotation(KeyId=rsa))
    out["rsa_status"] = refused(lambda: user.get_key_rotation_status(KeyId=rsa))
    out["hmac_rotate"] = refused(lambda: officer.rotate_key_on_demand(
        KeyId=keys["HMAC_256/GENERATE_VERIFY_MAC"]))
    out["rsa_list"] = refused(lambda: user.list_key_rotations(KeyId=rsa))
    out["by_alias"] = refused(lambda: user.get_key_rotation_status(KeyId="alias/page-1"))
    out["user_enables"] = refused(lambda: user.enable_key_rotation(KeyId=key))
    out["user_rotates"] = refused(lambda: user.rotate_key_on_demand(KeyId=key))
    out["bad_marker"] = raw("ListKeyRotations", {"KeyId": key, "Marker": "x"})
    out["bad_material"] = raw("ListKeyRotations", {"KeyId": key, "IncludeKeyMaterial": "SOME"})
    return out


def later(officer, keys):
    key = keys["SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"]
    answers = {
        "CreateGrant": raw("CreateGrant", {"KeyId": key, "GranteePrincipal": "x",
                                           "Operations": ["Decrypt"]}, officer=True),
        # Import into a key Kastell made (origin AWS_KMS) is refused as at AWS.
        "GetParametersForImport": raw("GetParametersForImport", {
            "KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
            "WrappingKeySpec": "RSA_2048"}, officer=True),
        "ImportKeyMaterial": raw("ImportKeyMaterial", {
            "KeyId": key, "ImportToken": "AAAA", "EncryptedKeyMaterial": "AAAA"},
            officer=True),
        "CreateCustomKeyStore": raw("CreateCustomKeyStore", {"CustomKeyStoreName": "x"},
                                    officer=True),
        "ReplicateKey": raw("ReplicateKey", {"KeyId": key, "ReplicaRegion": "us-east-1"},
                            officer=True),
        "Encapsulate": raw("Encapsulate", {"KeyId": key}, officer=True),
        "NoSuchOperation": raw("NoSuchOperation", {}, officer=True),
    }
    # Grants are served (tests/aws/grants.py drives them): a grant to bob is made.
    answers["grant_id"] = officer.create_grant(
        KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:user/bob",
        Operations=["Decrypt"])["GrantId"]
    return answers


def native(user, keys):
    """What the native API made, checked through the AWS API; and what the AWS API makes,
    for the native API to check."""
    given = json.loads(os.environ["KASTELL_NATIVE"])
    message = unb64(given["message"])
    out = {
        "verify_pss": user.verify(
            KeyId=given["rsa_sign"], Message=message, Signature=unb64(given["pss_signature"]),
            SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"],
        "verify_ecdsa": user.verify(
            KeyId=given["ecc_sign"], Message=message, Signature=unb64(given["ecdsa_signature"]),
            SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"],
        "decrypt_oaep": user.decrypt(
            CiphertextBlob=unb64(given["oaep_ciphertext"]), KeyId=given["rsa_enc"],
            EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"].decode(),
        "verify_mac": user.verify_mac(
            KeyId=given["hmac"], Message=message, Mac=unb64(given["mac"]),
            MacAlgorithm="HMAC_SHA_256")["MacValid"],
        "public_key": b64(user.get_public_key(KeyId=given["ecc_sign"])["PublicKey"]),
        "shared_secret": b64(user.derive_shared_secret(
            KeyId=given["ecdh"], KeyAgreementAlgorithm="ECDH",
            PublicKey=unb64(given["ecdh_peer"]))["SharedSecret"]),
        "pss_signature": b64(user.sign(
            KeyId=given["rsa_sign"], Message=message,
            SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]),
        "pkcs1_digest_signature": b64(user.sign(
            KeyId=given["rsa_sign"], Message=hashlib.sha384(message).digest(),
            MessageType="DIGEST", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_384")["Signature"]),
        "oaep_ciphertext": b64(user.encrypt(
            KeyId=given["rsa_enc"], Plaintext=b"from the AWS API",
            EncryptionAlgorithm="RSAES_OAEP_SHA_1")["CiphertextBlob"]),
        "mac": b64(user.generate_mac(KeyId=given["hmac"], Message=message,
                                     MacAlgorithm="HMAC_SHA_256")["Mac"]),
    }
    return out


def operations():
    user, officer = kms(), officer_kms()
    keys, metadata = create_keys(officer)
    result = {"keys": keys, "metadata": metadata, "bad_creates": bad_creates(officer, user)}
    result["list_keys"] = list_keys(officer)
    result["encryption"] = encryption(user, keys)
    result["data_key_pairs"] = data_key_pairs(user, keys)
    result["signing"] = signing(user, keys, metadata)
    result["macs"] = macs(user, keys)
    result["agreement"] = agreement(user, keys)
    result["dry_runs"] = dry_runs(user, officer, keys)
    result["aliases"] = aliases(user, officer, keys)
    result["re_encryption"] = re_encryption(user, keys, result["aliases"]["other"])
    result["disabled"] = disabled(user, officer, result["aliases"]["other"])
    result["tags"] = tags(user, officer, keys)
    result["rotation"] = rotation(user, officer, keys)
    result["later"] = later(officer, keys)
    result["native"] = native(user, keys)
    print(json.dumps(result))


def policies():
    """Keys the test bound to policies: `pss-only` (RSA signing) and `tenant-context`
    (symmetric, both ends of a re-encryption), used by a crypto-user of tenant acme."""
    user = kms()
    pss, source, destination = (os.environ["KASTELL_PSS_KEY"], os.environ["KASTELL_TENANT_KEY"],
                                os.environ["KASTELL_TENANT_DESTINATION"])
    acme, other = {"tenant": "acme"}, {"tenant": "globex"}
    made = user.encrypt(KeyId=source, Plaintext=b"tenant data", EncryptionContext=acme)
    moved = user.re_encrypt(CiphertextBlob=made["CiphertextBlob"], SourceEncryptionContext=acme,
                            DestinationKeyId=destination, DestinationEncryptionContext=acme)
    print(json.dumps({
        "pss": user.sign(KeyId=pss, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")[
            "SigningAlgorithm"],
        "pkcs1": refused(lambda: user.sign(
            KeyId=pss, Message=b"m", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")),
        "pkcs1_dry_run": refused(lambda: user.sign(
            KeyId=pss, Message=b"m", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
            DryRun=True)),
        "pss_dry_run": refused(lambda: user.sign(
            KeyId=pss, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256", DryRun=True)),
        "other_tenant": refused(
            lambda: user.encrypt(KeyId=source, Plaintext=b"x", EncryptionContext=other)),
        "moved": user.decrypt(CiphertextBlob=moved["CiphertextBlob"],
                              EncryptionContext=acme)["Plaintext"].decode(),
        # The destination's policy refuses to take it under another tenant's context.
        "to_other_tenant": refused(lambda: user.re_encrypt(
            CiphertextBlob=made["CiphertextBlob"], SourceEncryptionContext=acme,
            DestinationKeyId=destination, DestinationEncryptionContext=other)),
        "to_other_tenant_dry_run": refused(lambda: user.re_encrypt(
            CiphertextBlob=made["CiphertextBlob"], SourceEncryptionContext=acme,
            DestinationKeyId=destination, DestinationEncryptionContext=other, DryRun=True)),
    }))


def refusal(call):
    """A refused call's exception name and message; ["accepted", ""] when it was not."""
    try:
        call()
    except botocore.exceptions.ClientError as err:
        return [err.response["Error"]["Code"], err.response["Error"]["Message"]]
    return ["accepted", ""]


def quorum():
    """Administration under the `bind-policy` quorum class (set to 2 by the test): each
    change waits for officers' approvals instead of happening."""
    officer = officer_kms()
    key = os.environ["KASTELL_KEY"]
    print(json.dumps({
        "tag": refusal(lambda: officer.tag_resource(
            KeyId=key, Tags=[{"TagKey": "allowed-guests", "TagValue": "sha384:00"}])),
        "untag": refusal(lambda: officer.untag_resource(KeyId=key, TagKeys=["team"])),
        "describe": refusal(
            lambda: officer.update_key_description(KeyId=key, Description="changed")),
        "create_alias": refusal(
            lambda: officer.create_alias(AliasName="alias/new", TargetKeyId=key)),
        "update_alias": refusal(
            lambda: officer.update_alias(AliasName="alias/existing", TargetKeyId=key)),
        # Deleting an alias points no name at a key: no approvals.
        "delete_alias": refusal(lambda: officer.delete_alias(AliasName="alias/existing")),
        "tags_now": officer.list_resource_tags(KeyId=key)["Tags"],
    }))


{
    "roundtrip": roundtrip,
    "attacks": attacks,
    "refused": refused_as,
    "operations": operations,
    "policies": policies,
    "quorum": quorum,
}[sys.argv[1]]()
