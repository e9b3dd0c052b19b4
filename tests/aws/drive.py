"""Drives Kastell's AWS KMS-compatible endpoint with boto3, as tests/tests/aws_clients.rs
asks: `drive.py <scenario>` with the endpoint, region and access key in the environment
(KASTELL_AWS_ENDPOINT, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_CA_BUNDLE). Prints one JSON object; a refused call prints {"error": <exception name>}.
"""

import base64
import datetime
import json
import os
import sys

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import urllib3

ENDPOINT = os.environ["KASTELL_AWS_ENDPOINT"]
REGION = os.environ["AWS_DEFAULT_REGION"]


def kms():
    return boto3.client("kms", endpoint_url=ENDPOINT, region_name=REGION)


def refused(call):
    try:
        call()
    except botocore.exceptions.ClientError as err:
        return err.response["Error"]["Code"]
    return "accepted"


def raw(target, body, region=REGION, service="kms", date=None, tamper=None, secret=None):
    """Signs a request with botocore's SigV4 signer, optionally tampers with it, sends it."""
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
        "unsupported": refused(lambda: client.get_key_rotation_status(KeyId=key["KeyId"])),
        "rsa": refused(lambda: client.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")),
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


{"roundtrip": roundtrip, "attacks": attacks, "refused": refused_as}[sys.argv[1]]()
