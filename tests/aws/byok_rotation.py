"""Rotation of imported key material through Kastell's AWS KMS-compatible endpoint, driven
with boto3 and `openssl` (material wrapped as byok.py wraps it) as
tests/tests/aws_import_rotation.rs asks: `byok_rotation.py <scenario>` with the
environment byok.py reads. Material A is imported, then B with ImportType
NEW_KEY_MATERIAL (pending rotation), then RotateKeyOnDemand makes B current; every
answer's KeyMaterialId, ListKeyRotations' rows and each refusal (by AWS's exception name)
is printed as one JSON object. A ciphertext sealed outside Kastell with B's bytes (AES-256-
GCM through the `cryptography` package, i.e. OpenSSL, in Kastell's ciphertext format)
decrypts once B is current.
"""

import json
import os
import sys
import time
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from byok import import_material, officer_kms, state, user_kms
from outcomes import refused


def rows(officer, key, include=None):
    """ListKeyRotations' rows, each reduced to the members it names."""
    extra = {"IncludeKeyMaterial": include} if include else {}
    listed = officer.list_key_rotations(KeyId=key, **extra)["Rotations"]
    members = ("KeyMaterialId", "KeyMaterialDescription", "ImportState", "KeyMaterialState",
               "ExpirationModel", "RotationType")
    return [{m: r.get(m) for m in members if m in r} | {"dated": "RotationDate" in r}
            for r in listed]


def sealed_outside(key, version, material, plaintext):
    """A Kastell ciphertext (format 1, key id, version, nonce, AES-256-GCM with the
    header's first 21 bytes and the empty context as AAD) made without Kastell."""
    prefix = b"\x01" + uuid.UUID(key).bytes + version.to_bytes(4, "big")
    nonce = os.urandom(12)
    aad = prefix + (0).to_bytes(4, "big")
    return prefix + nonce + AESGCM(material).encrypt(nonce, plaintext, aad)


def rotation():
    officer, user = officer_kms(), user_kms()
    out = {}
    key = officer.create_key(Origin="EXTERNAL", Description="rotating byok")["KeyMetadata"][
        "KeyId"]
    out["key"] = key
    a, b = os.urandom(32), os.urandom(32)
    a_id = import_material(officer, key, a, KeyMaterialDescription="material A",
                           ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")["KeyMaterialId"]
    out["a_id"] = a_id
    first = user.encrypt(KeyId=key, Plaintext=b"under A")["CiphertextBlob"]
    out["decrypt_a_material"] = user.decrypt(CiphertextBlob=first)["KeyMaterialId"] == a_id

    # B imported as new material: pending, A still current.
    b_id = import_material(officer, key, b, ImportType="NEW_KEY_MATERIAL",
                           KeyMaterialDescription="material B")["KeyMaterialId"]
    out["b_id"] = b_id
    out["b_differs"] = b_id != a_id and len(b_id) == 64
    out["pending_rows"] = rows(officer, key, "ALL_KEY_MATERIAL")
    out["pending_rotations_only"] = rows(officer, key)
    still = user.encrypt(KeyId=key, Plaintext=b"still A")["CiphertextBlob"]
    out["pending_encrypts_with_a"] = (
        user.decrypt(CiphertextBlob=still)["KeyMaterialId"] == a_id)
    out["pending_current"] = state(officer, key).get("CurrentKeyMaterialId") == a_id
    out["second_pending"] = refused(lambda: import_material(
        officer, key, os.urandom(32), ImportType="NEW_KEY_MATERIAL"))
    out["bad_description"] = refused(lambda: import_material(
        officer, key, b, KeyMaterialDescription="no <tags>"))

    # Rotated: B current, A's ciphertexts still decrypt, by A.
    out["rotated"] = officer.rotate_key_on_demand(KeyId=key)["KeyId"] == key
    out["rotated_current"] = state(officer, key).get("CurrentKeyMaterialId") == b_id
    second = user.encrypt(KeyId=key, Plaintext=b"under B")["CiphertextBlob"]
    answer = user.decrypt(CiphertextBlob=second)
    out["decrypt_b"] = [answer["Plaintext"].decode(), answer["KeyMaterialId"] == b_id]
    answer = user.decrypt(CiphertextBlob=first)
    out["decrypt_a_after"] = [answer["Plaintext"].decode(), answer["KeyMaterialId"] == a_id]
    moved = user.re_encrypt(CiphertextBlob=first, DestinationKeyId=key)
    out["re_encrypt_materials"] = [moved.get("SourceKeyMaterialId") == a_id,
                                   moved.get("DestinationKeyMaterialId") == b_id]
    data_key = user.generate_data_key(KeyId=key, KeySpec="AES_256")
    out["data_key_material"] = data_key.get("KeyMaterialId") == b_id
    outside = sealed_outside(key, 2, b, b"sealed outside Kastell")
    answer = user.decrypt(CiphertextBlob=outside)
    out["decrypt_outside"] = [answer["Plaintext"].decode(), answer["KeyMaterialId"] == b_id]
    out["rotated_rows"] = rows(officer, key, "ALL_KEY_MATERIAL")
    out["rotated_rotations_only"] = rows(officer, key)
    out["rotate_without_pending"] = refused(lambda: officer.rotate_key_on_demand(KeyId=key))
    # New material must differ from every material of the key (here the older A).
    out["new_same_as_a"] = refused(lambda: import_material(
        officer, key, a, ImportType="NEW_KEY_MATERIAL"))

    # EXISTING_KEY_MATERIAL names a version's material and must bring its bytes.
    out["existing_a_with_b"] = refused(lambda: import_material(
        officer, key, b, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=a_id))
    out["existing_a"] = refused(lambda: import_material(
        officer, key, a, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=a_id))
    out["unknown_material_import"] = refused(lambda: import_material(
        officer, key, a, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId="1" * 64))
    out["unknown_material_delete"] = refused(lambda: officer.delete_imported_key_material(
        KeyId=key, KeyMaterialId="1" * 64))

    # Deleting the older material A (as at AWS): the whole key is pending import, B's
    # ciphertexts and new encryptions refused too, until A is imported again.
    deleted = officer.delete_imported_key_material(KeyId=key, KeyMaterialId=a_id)
    out["deleted_a"] = deleted.get("KeyMaterialId") == a_id
    out["after_delete_a_state"] = state(officer, key)["KeyState"]
    out["decrypt_a_deleted"] = refused(lambda: user.decrypt(CiphertextBlob=first))
    out["decrypt_b_halted"] = refused(lambda: user.decrypt(CiphertextBlob=second))
    out["encrypt_halted"] = refused(lambda: user.encrypt(KeyId=key, Plaintext=b"x"))
    out["deleted_rows"] = rows(officer, key, "ALL_KEY_MATERIAL")
    import_material(officer, key, a, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=a_id)
    out["after_reimport_a_state"] = state(officer, key)["KeyState"]
    out["decrypt_a_reimported"] = user.decrypt(CiphertextBlob=first)["Plaintext"].decode()
    out["decrypt_b_reimported"] = user.decrypt(CiphertextBlob=second)["Plaintext"].decode()

    # Material pending rotation deleted: dropped, nothing left to rotate to.
    c_id = import_material(officer, key, os.urandom(32),
                           ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    officer.delete_imported_key_material(KeyId=key, KeyMaterialId=c_id)
    out["pending_deleted_rows"] = len(rows(officer, key, "ALL_KEY_MATERIAL"))
    out["rotate_after_pending_deleted"] = refused(
        lambda: officer.rotate_key_on_demand(KeyId=key))

    # Only symmetric encryption keys take new material.
    mac_key = officer.create_key(Origin="EXTERNAL", KeySpec="HMAC_256",
                                 KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    import_material(officer, mac_key, os.urandom(32))
    out["hmac_new_material"] = refused(lambda: import_material(
        officer, mac_key, os.urandom(32), ImportType="NEW_KEY_MATERIAL"))
    out["mac_key"] = mac_key
    out["enable_rotation"] = refused(lambda: officer.enable_key_rotation(KeyId=key))

    # An older material past its ValidTo: the key is refused at once, the current
    # material's ciphertexts too, as at AWS (the test restarts the server; its sweep
    # erases it and the key is pending import).
    expiring = officer.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    valid_to = int(time.time()) + 5
    import_material(officer, expiring, os.urandom(32), ValidTo=valid_to,
                    ExpirationModel="KEY_MATERIAL_EXPIRES")
    older = user.encrypt(KeyId=expiring, Plaintext=b"older")["CiphertextBlob"]
    import_material(officer, expiring, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    officer.rotate_key_on_demand(KeyId=expiring)
    newer = user.encrypt(KeyId=expiring, Plaintext=b"newer")["CiphertextBlob"]
    first_row = officer.list_key_rotations(
        KeyId=expiring, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"][0]
    out["expiring_first_row"] = [first_row.get("ExpirationModel"),
                                 int(first_row["ValidTo"].timestamp()) == valid_to]
    data_key_pair = user.generate_data_key_pair(KeyId=expiring, KeyPairSpec="ECC_NIST_P256")
    out["data_key_pair_material"] = "KeyMaterialId" in data_key_pair
    time.sleep(max(0.0, valid_to - time.time()) + 1.5)
    out["older_expired"] = refused(lambda: user.decrypt(CiphertextBlob=older))
    out["newer_halted"] = refused(lambda: user.decrypt(CiphertextBlob=newer))
    out["expiring_key"] = expiring

    # The tamper key: B pending with its description, for the test to edit in the store.
    tamper = officer.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(officer, tamper, os.urandom(32))
    import_material(officer, tamper, os.urandom(32), ImportType="NEW_KEY_MATERIAL",
                    KeyMaterialDescription="material B")
    out["tamper_key"] = tamper
    return out


def policy():
    """A key policy that denies the officer kms:RotateKeyOnDemand, and kms:ImportKeyMaterial
    of material that expires: new material is decided by kms:ImportKeyMaterial like the
    first, and the rotation to it by kms:RotateKeyOnDemand, each refusal by name."""
    officer = officer_kms()
    account = os.environ["KASTELL_ACCOUNT"]
    me = f"arn:aws:iam::{account}:user/{os.environ['KASTELL_OFFICER_NAME']}"
    document = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Root", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoRotation", "Effect": "Deny", "Principal": {"AWS": me},
         "Action": "kms:RotateKeyOnDemand", "Resource": "*"},
        {"Sid": "NoExpiring", "Effect": "Deny", "Principal": {"AWS": me},
         "Action": "kms:ImportKeyMaterial", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_EXPIRES"}}}]}
    key = officer.create_key(Origin="EXTERNAL",
                             Policy=json.dumps(document))["KeyMetadata"]["KeyId"]
    import_material(officer, key, os.urandom(32))
    out = {"key": key}
    out["new_expiring_denied"] = refused(lambda: import_material(
        officer, key, os.urandom(32), ImportType="NEW_KEY_MATERIAL",
        ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=time.time() + 86400))
    out["new_allowed"] = refused(lambda: import_material(
        officer, key, os.urandom(32), ImportType="NEW_KEY_MATERIAL"))
    out["rotate_denied"] = refused(lambda: officer.rotate_key_on_demand(KeyId=key))
    return out


if __name__ == "__main__":
    print(json.dumps({"rotation": rotation, "policy": policy}[sys.argv[1]](), default=str))
