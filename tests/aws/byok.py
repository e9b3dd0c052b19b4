"""Imported key material (BYOK) through Kastell's AWS KMS-compatible endpoint, driven with
boto3 and the `openssl` command line as tests/tests/aws_import.rs asks: `byok.py
<scenario>` with the endpoint, region and a crypto-user's access key in the environment
(KASTELL_AWS_ENDPOINT, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_CA_BUNDLE) and an officer's (KASTELL_OFFICER_KEY_ID, KASTELL_OFFICER_SECRET). Key
material is wrapped as AWS's documentation does it: `openssl pkeyutl -encrypt` with
RSA-OAEP for RSAES_OAEP_*, and `openssl enc -id-aes256-wrap-pad` under a fresh AES key
(itself under RSA-OAEP) for RSA_AES_KEY_WRAP_*. Prints one JSON object; a refused call is
recorded as its exception name. The scenario `policy_actions` reads the account
(KASTELL_ACCOUNT) and the officer's principal (KASTELL_OFFICER_NAME) for its policies.
"""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time

import boto3

from outcomes import refused

ENDPOINT = os.environ["KASTELL_AWS_ENDPOINT"]
REGION = os.environ["AWS_DEFAULT_REGION"]
WORK = tempfile.mkdtemp(prefix="kastell-byok-")


def user_kms():
    return boto3.client("kms", endpoint_url=ENDPOINT, region_name=REGION)


def officer_kms():
    return boto3.client(
        "kms",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=os.environ["KASTELL_OFFICER_KEY_ID"],
        aws_secret_access_key=os.environ["KASTELL_OFFICER_SECRET"],
    )


def path(name):
    return os.path.join(WORK, name)


def write(name, data):
    with open(path(name), "wb") as out:
        out.write(data)
    return path(name)


def read(name):
    with open(path(name), "rb") as f:
        return f.read()


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def oaep_md(algorithm):
    return "sha1" if algorithm.endswith("SHA_1") else "sha256"


def wrap(material, public_key_der, algorithm):
    """The material wrapped for import as AWS documents it, with openssl."""
    write("wrapping.der", public_key_der)
    md = oaep_md(algorithm)
    oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}",
            "-pkeyopt", f"rsa_mgf1_md:{md}"]
    if algorithm.startswith("RSAES_OAEP"):
        write("material.bin", material)
        openssl("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey",
                path("wrapping.der"), "-in", path("material.bin"), "-out",
                path("wrapped.bin"), *oaep)
        return read("wrapped.bin")
    aes = os.urandom(32)
    write("aes.bin", aes)
    write("material.bin", material)
    openssl("enc", "-id-aes256-wrap-pad", "-K", aes.hex(), "-iv", "A65959A6", "-in",
            path("material.bin"), "-out", path("material.wrapped"))
    openssl("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey",
            path("wrapping.der"), "-in", path("aes.bin"), "-out", path("aes.wrapped"), *oaep)
    return read("aes.wrapped") + read("material.wrapped")


def parameters(officer, key, algorithm, spec):
    return officer.get_parameters_for_import(
        KeyId=key, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)


def import_material(officer, key, material, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048",
                    **extra):
    params = parameters(officer, key, algorithm, spec)
    wrapped = wrap(material, params["PublicKey"], algorithm)
    return officer.import_key_material(
        KeyId=key, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped, **extra)


def state(officer, key):
    return officer.describe_key(KeyId=key)["KeyMetadata"]


def symmetric():
    """An AES key imported with each wrapping algorithm and spec AWS lists, used; its
    material deleted, imported again; every bad input refused by name."""
    officer, user = officer_kms(), user_kms()
    out = {}
    created = officer.create_key(Origin="EXTERNAL", Description="byok")["KeyMetadata"]
    key = created["KeyId"]
    out["created"] = {m: created.get(m) for m in ("KeyState", "Origin", "Enabled")}
    out["pending_encrypt"] = refused(lambda: user.encrypt(KeyId=key, Plaintext=b"x"))
    out["user_parameters"] = refused(lambda: parameters(user, key, "RSAES_OAEP_SHA_256",
                                                         "RSA_2048"))
    params = parameters(officer, key, "RSAES_OAEP_SHA_256", "RSA_2048")
    valid_for = params["ParametersValidTo"].timestamp() - time.time()
    out["valid_for_hours"] = round(valid_for / 3600)
    out["public_key_is_rsa_2048"] = len(params["PublicKey"]) in (294, 292)
    material = os.urandom(32)
    done = officer.import_key_material(
        KeyId=key, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(material, params["PublicKey"], "RSAES_OAEP_SHA_256"),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    out["material_id_len"] = len(done["KeyMaterialId"])
    meta = state(officer, key)
    out["imported"] = {m: meta.get(m) for m in ("KeyState", "Origin", "ExpirationModel",
                                                 "Enabled")}
    out["imported"]["has_valid_to"] = "ValidTo" in meta
    out["current_material_id"] = meta.get("CurrentKeyMaterialId") == done["KeyMaterialId"]
    ciphertext = user.encrypt(KeyId=key, Plaintext=b"hello byok")["CiphertextBlob"]
    out["decrypted"] = user.decrypt(CiphertextBlob=ciphertext)["Plaintext"].decode()

    # Every wrapping algorithm and spec: the same material imports again.
    for algorithm in ("RSAES_OAEP_SHA_1", "RSA_AES_KEY_WRAP_SHA_1",
                      "RSA_AES_KEY_WRAP_SHA_256"):
        for spec in ("RSA_2048", "RSA_3072", "RSA_4096"):
            again = import_material(officer, key, material, algorithm, spec)
            out[f"again {algorithm} {spec}"] = again["KeyMaterialId"] == done["KeyMaterialId"]

    # Bad input, each refused by AWS's name.
    other = officer.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    foreign = parameters(officer, other, "RSAES_OAEP_SHA_256", "RSA_2048")
    out["token_for_another_key"] = refused(lambda: officer.import_key_material(
        KeyId=key, ImportToken=foreign["ImportToken"],
        EncryptedKeyMaterial=wrap(material, foreign["PublicKey"], "RSAES_OAEP_SHA_256")))
    params = parameters(officer, key, "RSAES_OAEP_SHA_256", "RSA_2048")
    token = bytearray(params["ImportToken"])
    token[30] ^= 1
    out["tampered_token"] = refused(lambda: officer.import_key_material(
        KeyId=key, ImportToken=bytes(token),
        EncryptedKeyMaterial=wrap(material, params["PublicKey"], "RSAES_OAEP_SHA_256")))
    # Wrapped with SHA-1 for a SHA-256 token: does not unwrap.
    out["wrong_algorithm"] = refused(lambda: officer.import_key_material(
        KeyId=key, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(material, params["PublicKey"], "RSAES_OAEP_SHA_1")))
    out["garbage_ciphertext"] = refused(lambda: officer.import_key_material(
        KeyId=key, ImportToken=params["ImportToken"], EncryptedKeyMaterial=b"\x01" * 256))
    out["short_material"] = refused(lambda: officer.import_key_material(
        KeyId=other, ImportToken=foreign["ImportToken"],
        EncryptedKeyMaterial=wrap(os.urandom(16), foreign["PublicKey"],
                                  "RSAES_OAEP_SHA_256")))
    out["different_material"] = refused(lambda: import_material(
        officer, key, os.urandom(32)))
    kastell_key = officer.create_key()["KeyMetadata"]["KeyId"]
    out["not_external_parameters"] = refused(lambda: parameters(
        officer, kastell_key, "RSAES_OAEP_SHA_256", "RSA_2048"))
    out["not_external_import"] = refused(lambda: officer.import_key_material(
        KeyId=kastell_key, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=b"\x01" * 256))
    out["pkcs1_v15"] = refused(lambda: parameters(officer, key, "RSAES_PKCS1_V1_5",
                                                   "RSA_2048"))
    out["sm2"] = refused(lambda: parameters(officer, key, "SM2PKE", "SM2"))
    out["valid_to_past"] = refused(lambda: import_material(
        officer, key, material, ValidTo=time.time() - 60,
        ExpirationModel="KEY_MATERIAL_EXPIRES"))
    out["expires_without_valid_to"] = refused(lambda: import_material(
        officer, key, material, ExpirationModel="KEY_MATERIAL_EXPIRES"))
    out["new_key_material"] = refused(lambda: import_material(
        officer, key, material, ImportType="NEW_KEY_MATERIAL"))
    out["rotate_imported"] = refused(lambda: officer.rotate_key_on_demand(KeyId=key))
    out["user_deletes"] = refused(lambda: user.delete_imported_key_material(KeyId=key))
    # KeyMaterialId: the key's own imports; another is refused, and so is naming one with
    # NEW_KEY_MATERIAL; a key's first material may say NEW_KEY_MATERIAL (AWS's default).
    out["material_id_own"] = refused(lambda: import_material(
        officer, key, material, KeyMaterialId=done["KeyMaterialId"]))
    out["material_id_other"] = refused(lambda: import_material(
        officer, key, material, KeyMaterialId="0" * 64))
    out["material_id_with_new"] = refused(lambda: import_material(
        officer, key, material, ImportType="NEW_KEY_MATERIAL",
        KeyMaterialId=done["KeyMaterialId"]))
    fresh = officer.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    out["first_import_new"] = refused(lambda: import_material(
        officer, fresh, os.urandom(32), ImportType="NEW_KEY_MATERIAL"))
    out["delete_other_material_id"] = refused(lambda: officer.delete_imported_key_material(
        KeyId=key, KeyMaterialId="0" * 64))

    # Deleted: pending import, the ciphertext refused; the same material brings it back.
    deleted = officer.delete_imported_key_material(KeyId=key,
                                                   KeyMaterialId=done["KeyMaterialId"])
    out["deleted_material_id"] = deleted.get("KeyMaterialId") == done["KeyMaterialId"]
    out["after_delete"] = state(officer, key)["KeyState"]
    out["decrypt_after_delete"] = refused(lambda: user.decrypt(CiphertextBlob=ciphertext))
    out["delete_twice"] = refused(lambda: officer.delete_imported_key_material(KeyId=key))
    out["other_material_after_delete"] = refused(lambda: import_material(
        officer, key, os.urandom(32)))
    import_material(officer, key, material, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    out["reimported"] = state(officer, key)["KeyState"]
    out["decrypted_again"] = user.decrypt(CiphertextBlob=ciphertext)["Plaintext"].decode()
    out["key"] = key
    return out


def expiring():
    """Material imported with ValidTo a few seconds ahead: used, then refused once past."""
    officer, user = officer_kms(), user_kms()
    key = officer.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    valid_to = int(time.time()) + 4
    import_material(officer, key, os.urandom(32), ValidTo=valid_to,
                    ExpirationModel="KEY_MATERIAL_EXPIRES")
    meta = state(officer, key)
    out = {
        "key": key,
        "model": meta.get("ExpirationModel"),
        "valid_to": int(meta["ValidTo"].timestamp()) == valid_to,
        "state_before": meta["KeyState"],
    }
    # A second key, expiring alike, for the test to edit in the store file.
    out["tamper_key"] = officer.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(officer, out["tamper_key"], os.urandom(32), ValidTo=valid_to,
                    ExpirationModel="KEY_MATERIAL_EXPIRES")
    ciphertext = user.encrypt(KeyId=key, Plaintext=b"soon gone")["CiphertextBlob"]
    out["decrypted_before"] = user.decrypt(CiphertextBlob=ciphertext)["Plaintext"].decode()
    time.sleep(max(0.0, valid_to - time.time()) + 1.5)
    out["decrypt_after"] = refused(lambda: user.decrypt(CiphertextBlob=ciphertext))
    out["encrypt_after"] = refused(lambda: user.encrypt(KeyId=key, Plaintext=b"x"))
    out["state_after"] = state(officer, key)["KeyState"]
    return out


def asymmetric():
    """An HMAC key and an RSA key whose material openssl and Python made: Kastell's MAC is
    Python's HMAC under that material, and Kastell decrypts what openssl encrypted to the
    imported RSA key's public key."""
    officer, user = officer_kms(), user_kms()
    out = {}
    mac_key = officer.create_key(Origin="EXTERNAL", KeySpec="HMAC_256",
                                 KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    secret = os.urandom(32)
    import_material(officer, mac_key, secret, "RSAES_OAEP_SHA_1", "RSA_3072")
    message = b"imported material, checked outside Kastell"
    mac = user.generate_mac(KeyId=mac_key, Message=message,
                            MacAlgorithm="HMAC_SHA_256")["Mac"]
    out["mac_is_python_hmac"] = mac == hmac.new(secret, message, hashlib.sha256).digest()
    out["hmac_current_material_id"] = "CurrentKeyMaterialId" in state(officer, mac_key)

    rsa_key = officer.create_key(Origin="EXTERNAL", KeySpec="RSA_2048",
                                 KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform",
            "DER", "-out", path("rsa.der"))
    openssl("pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", path("rsa.der"),
            "-outform", "DER", "-out", path("rsa.pk8"))
    openssl("pkey", "-inform", "DER", "-in", path("rsa.pk8"), "-pubout", "-outform", "DER",
            "-out", path("rsa.pub"))
    private = read("rsa.pk8")
    import_material(officer, rsa_key, private, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
    public = user.get_public_key(KeyId=rsa_key)["PublicKey"]
    out["public_key_is_openssls"] = public == read("rsa.pub")
    write("secret.txt", b"sealed by openssl")
    openssl("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", path("rsa.pub"),
            "-in", path("secret.txt"), "-out", path("secret.enc"), "-pkeyopt",
            "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt",
            "rsa_mgf1_md:sha256")
    out["decrypted_openssl"] = user.decrypt(
        KeyId=rsa_key, CiphertextBlob=read("secret.enc"),
        EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"].decode()
    other = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                            "rsa_keygen_bits:3072", "-outform", "DER"], check=True,
                           capture_output=True).stdout
    write("rsa3072.der", other)
    openssl("pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", path("rsa3072.der"),
            "-outform", "DER", "-out", path("rsa3072.pk8"))
    wrong = officer.create_key(Origin="EXTERNAL", KeySpec="RSA_2048",
                               KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    out["rsa_of_another_size"] = refused(lambda: import_material(
        officer, wrong, read("rsa3072.pk8"), "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"))
    return out


def ec_pkcs8(name, curve):
    """A new EC private key on `curve` made by openssl: PKCS#8 DER in `<name>.pk8`, its
    public key as PEM in `<name>.pub.pem` and DER in `<name>.pub`."""
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}",
            "-outform", "DER", "-out", path(f"{name}.der"))
    openssl("pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", path(f"{name}.der"),
            "-outform", "DER", "-out", path(f"{name}.pk8"))
    openssl("pkey", "-inform", "DER", "-in", path(f"{name}.pk8"), "-pubout", "-out",
            path(f"{name}.pub.pem"))
    openssl("pkey", "-inform", "DER", "-in", path(f"{name}.pk8"), "-pubout", "-outform",
            "DER", "-out", path(f"{name}.pub"))
    return read(f"{name}.pk8")


def openssl_verifies(digest, name, signature):
    """Whether `openssl dgst -verify` accepts `signature` of message.txt by `<name>`'s key."""
    write(f"{name}.sig", signature)
    verified = subprocess.run(
        ["openssl", "dgst", f"-{digest}", "-verify", path(f"{name}.pub.pem"), "-signature",
         path(f"{name}.sig"), path("message.txt")], capture_output=True, text=True)
    return verified.returncode == 0 and "Verified OK" in verified.stdout


def ecc():
    """A P-384 signing key made by openssl, imported: Kastell's public key is openssl's
    and `openssl dgst -verify` accepts Kastell's signature; a P-256 key likewise; material
    of another curve, of another kind, with a public key that is not its private key's,
    or wrapped with another algorithm than the token's, refused by AWS's names."""
    officer, user = officer_kms(), user_kms()
    out = {}
    key = officer.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P384",
                             KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    out["created"] = {m: key.get(m) for m in ("KeyState", "Origin", "KeySpec")}
    key = key["KeyId"]
    private = ec_pkcs8("p384", "P-384")
    # Bad input first: the key is pending import, each refusal leaves it so.
    p256 = ec_pkcs8("p256", "P-256")
    out["other_curve"] = refused(lambda: import_material(
        officer, key, p256, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"))
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform",
            "DER", "-out", path("rsa.der"))
    openssl("pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", path("rsa.der"),
            "-outform", "DER", "-out", path("rsa.pk8"))
    out["rsa_into_ecc"] = refused(lambda: import_material(
        officer, key, read("rsa.pk8"), "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"))
    other = ec_pkcs8("other384", "P-384")
    # openssl's PKCS#8 P-384 key ends with its public point (97 bytes): another key's
    # point in its place is well-formed DER stating a public key that is not the key's.
    swapped = private[:-97] + other[-97:]
    out["public_key_not_its_own"] = refused(lambda: import_material(
        officer, key, swapped, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"))
    out["sec1_not_pkcs8"] = refused(lambda: import_material(
        officer, key, read("p384.der"), "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"))
    out["raw_scalar"] = refused(lambda: import_material(
        officer, key, os.urandom(48), "RSAES_OAEP_SHA_256", "RSA_2048"))
    params = parameters(officer, key, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    out["wrong_wrapping_algorithm"] = refused(lambda: officer.import_key_material(
        KeyId=key, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(private, params["PublicKey"], "RSAES_OAEP_SHA_256")))
    out["still_pending"] = state(officer, key)["KeyState"]

    done = import_material(officer, key, private, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    out["material_id_len"] = len(done["KeyMaterialId"])
    out["state"] = state(officer, key)["KeyState"]
    out["public_key_is_openssls"] = (
        user.get_public_key(KeyId=key)["PublicKey"] == read("p384.pub"))
    message = b"signed by an imported P-384 key"
    write("message.txt", message)
    signature = user.sign(KeyId=key, Message=message, MessageType="RAW",
                          SigningAlgorithm="ECDSA_SHA_384")["Signature"]
    out["openssl_verifies"] = openssl_verifies("sha384", "p384", signature)
    out["kastell_verifies"] = user.verify(
        KeyId=key, Message=message, MessageType="RAW", Signature=signature,
        SigningAlgorithm="ECDSA_SHA_384")["SignatureValid"]
    out["same_again"] = import_material(
        officer, key, private, "RSAES_OAEP_SHA_256", "RSA_2048")["KeyMaterialId"] == (
        done["KeyMaterialId"])
    out["another_p384_later"] = refused(lambda: import_material(
        officer, key, other, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"))

    small = officer.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256",
                               KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    import_material(officer, small, p256, "RSAES_OAEP_SHA_256", "RSA_2048")
    signature = user.sign(KeyId=small, Message=message, MessageType="RAW",
                          SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    out["p256_openssl_verifies"] = openssl_verifies("sha256", "p256", signature)
    out["key"] = key
    return out


def policy_actions():
    """Key policies deciding the import operations: a Deny of each action to the officer
    refuses it; a Deny conditioned on kms:WrappingAlgorithm refuses that algorithm only."""
    officer = officer_kms()
    account = os.environ["KASTELL_ACCOUNT"]
    me = f"arn:aws:iam::{account}:user/{os.environ['KASTELL_OFFICER_NAME']}"

    def denying(action, condition=None):
        deny = {"Sid": "NoImport", "Effect": "Deny", "Principal": {"AWS": me},
                "Action": action, "Resource": "*"}
        if condition:
            deny["Condition"] = condition
        policy = {"Version": "2012-10-17", "Statement": [
            {"Sid": "Root", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
             "Action": "kms:*", "Resource": "*"}, deny]}
        return officer.create_key(Origin="EXTERNAL",
                                  Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]

    out = {}
    material = os.urandom(32)
    key = denying("kms:GetParametersForImport")
    out["get_parameters"] = refused(lambda: parameters(
        officer, key, "RSAES_OAEP_SHA_256", "RSA_2048"))
    out["get_parameters_key"] = key
    key = denying("kms:ImportKeyMaterial")
    out["import_parameters_allowed"] = refused(lambda: parameters(
        officer, key, "RSAES_OAEP_SHA_256", "RSA_2048"))
    out["import"] = refused(lambda: import_material(officer, key, material))
    out["import_key"] = key
    key = denying("kms:DeleteImportedKeyMaterial")
    out["delete_import_allowed"] = refused(lambda: import_material(officer, key, material))
    out["delete"] = refused(lambda: officer.delete_imported_key_material(KeyId=key))
    out["delete_key"] = key
    key = denying("kms:GetParametersForImport",
                  {"StringEquals": {"kms:WrappingAlgorithm": "RSAES_OAEP_SHA_1"}})
    out["sha1_parameters"] = refused(lambda: parameters(
        officer, key, "RSAES_OAEP_SHA_1", "RSA_2048"))
    out["sha256_parameters"] = refused(lambda: parameters(
        officer, key, "RSAES_OAEP_SHA_256", "RSA_2048"))
    key = denying("kms:ImportKeyMaterial",
                  {"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}})
    out["import_forever"] = refused(lambda: import_material(
        officer, key, material, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"))
    out["import_expiring"] = refused(lambda: import_material(
        officer, key, material, ExpirationModel="KEY_MATERIAL_EXPIRES",
        ValidTo=time.time() + 86400))
    return out


if __name__ == "__main__":
    print(json.dumps({
        "symmetric": symmetric,
        "expiring": expiring,
        "asymmetric": asymmetric,
        "ecc": ecc,
        "policy_actions": policy_actions,
    }[sys.argv[1]](), default=str))
