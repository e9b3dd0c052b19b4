"""Drives AWS KMS grants at Kastell's endpoint with boto3, as tests/tests/aws_grants.rs
asks: `grants.py` with the endpoint and region in the environment (KASTELL_AWS_ENDPOINT,
AWS_DEFAULT_REGION, AWS_CA_BUNDLE), the key in KASTELL_KEY (its key policy lets only the
officer use it), and three access keys: the officer's (KASTELL_OFFICER_KEY_ID /
_SECRET), alice's and bob's (KASTELL_ALICE_…, KASTELL_BOB_…). Prints one JSON object; a
refused call is recorded as its exception name.
"""

import json
import os

import boto3

from outcomes import refused as outcome

ENDPOINT = os.environ["KASTELL_AWS_ENDPOINT"]
REGION = os.environ["AWS_DEFAULT_REGION"]
ACCOUNT = os.environ["KASTELL_ACCOUNT"]
KEY = os.environ["KASTELL_KEY"]


def client(who):
    return boto3.client(
        "kms", endpoint_url=ENDPOINT, region_name=REGION,
        aws_access_key_id=os.environ[f"KASTELL_{who}_KEY_ID"],
        aws_secret_access_key=os.environ[f"KASTELL_{who}_SECRET"])


def arn(name):
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def main():
    officer, alice, bob = client("OFFICER"), client("ALICE"), client("BOB")
    it = {"dept": "IT"}
    before = outcome(lambda: alice.encrypt(KeyId=KEY, Plaintext=b"x", EncryptionContext=it))
    grant = officer.create_grant(
        KeyId=KEY, GranteePrincipal=arn("alice"), Operations=["Encrypt", "Decrypt"],
        RetiringPrincipal=arn("bob"), Constraints={"EncryptionContextEquals": it},
        Name="alice-it")
    again = officer.create_grant(
        KeyId=KEY, GranteePrincipal=arn("alice"), Operations=["Decrypt", "Encrypt"],
        RetiringPrincipal=arn("bob"), Constraints={"EncryptionContextEquals": it},
        Name="alice-it")
    sealed = alice.encrypt(KeyId=KEY, Plaintext=b"payroll", EncryptionContext=it,
                           GrantTokens=[grant["GrantToken"]])
    opened = alice.decrypt(CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext=it,
                           GrantTokens=[grant["GrantToken"]])["Plaintext"].decode()
    other = outcome(lambda: alice.encrypt(KeyId=KEY, Plaintext=b"x",
                                          EncryptionContext={"dept": "HR"}))
    none = outcome(lambda: alice.encrypt(KeyId=KEY, Plaintext=b"x"))
    listed = officer.list_grants(KeyId=KEY)["Grants"]
    pages = []
    for _ in range(2):
        officer.create_grant(KeyId=KEY, GranteePrincipal=arn("bob"), Operations=["Decrypt"])
    marker, ids = None, []
    while True:
        page = officer.list_grants(KeyId=KEY, Limit=2, **({"Marker": marker} if marker else {}))
        pages.append(len(page["Grants"]))
        ids += [g["GrantId"] for g in page["Grants"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    retirable = bob.list_retirable_grants(RetiringPrincipal=arn("bob"))["Grants"]
    malformed = {
        "unknown_operation": outcome(lambda: officer.create_grant(
            KeyId=KEY, GranteePrincipal=arn("alice"), Operations=["Destroy"])),
        "both_constraints": outcome(lambda: officer.create_grant(
            KeyId=KEY, GranteePrincipal=arn("alice"), Operations=["Decrypt"],
            Constraints={"EncryptionContextEquals": it, "EncryptionContextSubset": it})),
        "bad_principal": outcome(lambda: officer.create_grant(
            KeyId=KEY, GranteePrincipal="alice", Operations=["Decrypt"])),
        "bad_token": outcome(lambda: officer.encrypt(
            KeyId=KEY, Plaintext=b"x", GrantTokens=["not-a-token"])),
        "unknown_grant": outcome(lambda: officer.revoke_grant(KeyId=KEY, GrantId="0" * 64)),
    }
    alice_retires = outcome(lambda: alice.retire_grant(GrantToken=grant["GrantToken"]))
    bob.retire_grant(GrantToken=grant["GrantToken"])
    after_retire = outcome(lambda: alice.encrypt(KeyId=KEY, Plaintext=b"x",
                                                 EncryptionContext=it))
    revoked = officer.create_grant(KeyId=KEY, GranteePrincipal=arn("alice"),
                                   Operations=["Encrypt"])
    with_revocable = outcome(lambda: alice.encrypt(KeyId=KEY, Plaintext=b"x"))
    officer.revoke_grant(KeyId=KEY, GrantId=revoked["GrantId"])
    after_revoke = outcome(lambda: alice.encrypt(KeyId=KEY, Plaintext=b"x"))
    print(json.dumps({
        "before": before, "grant_id": grant["GrantId"], "same_grant": again["GrantId"],
        "opened": opened, "other_context": other, "no_context": none,
        "listed": [{"id": g["GrantId"], "grantee": g["GranteePrincipal"],
                    "operations": g["Operations"], "constraints": g.get("Constraints"),
                    "name": g.get("Name"), "key": g["KeyId"]} for g in listed],
        "pages": pages, "paged_ids": ids, "retirable": len(retirable),
        "malformed": malformed, "alice_retires": alice_retires,
        "after_retire": after_retire, "with_revocable": with_revocable,
        "after_revoke": after_revoke,
    }))


main()
