"""`Recipient` (a Nitro-format attestation document) through boto3 at Kastell's AWS
KMS-compatible endpoint, as tests/tests/aws_recipient.rs asks: `recipient.py` with the
endpoint, region and a crypto-user's access key in the environment (KASTELL_AWS_ENDPOINT,
AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_CA_BUNDLE), the key in
KASTELL_KEY, the document's file in KASTELL_DOCUMENT and a directory for the answers in
KASTELL_OUT. Decrypt and GenerateDataKey are called with
`Recipient={"AttestationDocument": …, "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}`;
each `CiphertextForRecipient` is written to KASTELL_OUT for `openssl cms -decrypt`, with
the data key as a plain Decrypt of its `CiphertextBlob` returns it. Prints one JSON object;
a refused call is recorded as its exception name.
"""

import json
import os

import boto3

from outcomes import refused

SECRET = b"payroll 2026: the enclave's eyes only"
OUT = os.environ["KASTELL_OUT"]


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as out:
        out.write(data)


def main():
    kms = boto3.client("kms", endpoint_url=os.environ["KASTELL_AWS_ENDPOINT"],
                       region_name=os.environ["AWS_DEFAULT_REGION"])
    key = os.environ["KASTELL_KEY"]
    with open(os.environ["KASTELL_DOCUMENT"], "rb") as f:
        document = f.read()
    recipient = {"AttestationDocument": document,
                 "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}
    out = {}
    ciphertext = kms.encrypt(KeyId=key, Plaintext=SECRET)["CiphertextBlob"]
    decrypted = kms.decrypt(CiphertextBlob=ciphertext, Recipient=recipient)
    out["decrypt_plaintext"] = "Plaintext" in decrypted
    out["decrypt_key_id"] = decrypted["KeyId"]
    write("decrypt.der", decrypted["CiphertextForRecipient"])
    data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256", Recipient=recipient)
    out["data_key_plaintext"] = "Plaintext" in data_key
    write("data-key.der", data_key["CiphertextForRecipient"])
    write("data-key.bin",
          kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"])
    tampered = bytearray(document)
    tampered[len(tampered) // 2] ^= 1
    out["tampered_document"] = refused(lambda: kms.decrypt(
        CiphertextBlob=ciphertext,
        Recipient={"AttestationDocument": bytes(tampered),
                   "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}))
    out["other_algorithm"] = refused(lambda: kms.generate_data_key(
        KeyId=key, KeySpec="AES_256",
        Recipient={"AttestationDocument": document,
                   "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_1"}))
    return out


print(json.dumps(main()))
