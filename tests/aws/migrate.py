"""A service written for AWS KMS, moved to Kastell by its environment alone.

Nothing here names Kastell: the endpoint comes from AWS_ENDPOINT_URL_KMS, the root from
AWS_CA_BUNDLE, the credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (as the
README's migration section says). The key ARN comes from KASTELL_KEY_ARN.
Prints one JSON object with what each client saw.
"""

import json
import os
import subprocess
import sys

import aws_encryption_sdk
import boto3
from aws_encryption_sdk import CommitmentPolicy

key = os.environ["KASTELL_KEY_ARN"]
seen = {}

# boto3, as the application had it: no endpoint_url in the code.
kms = boto3.client("kms")
blob = kms.encrypt(KeyId=key, Plaintext=b"moved", EncryptionContext={"app": "billing"})
seen["boto3_key"] = blob["KeyId"]
seen["boto3_roundtrip"] = kms.decrypt(
    CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"app": "billing"}
)["Plaintext"].decode()

# The AWS Encryption SDK (envelope encryption, key commitment, signed algorithm suite).
esdk = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key])
message, header = esdk.encrypt(
    source=b"envelope through kastell",
    key_provider=provider,
    encryption_context={"tenant": "acme"},
)
plaintext, decrypted_header = esdk.decrypt(source=message, key_provider=provider)
seen["esdk_plaintext"] = plaintext.decode()
seen["esdk_context"] = decrypted_header.encryption_context.get("tenant")
seen["esdk_data_key_from"] = [k.key_provider.key_info.decode() for k in header.encrypted_data_keys]

# The AWS CLI, also without --endpoint-url.
cli = subprocess.run(
    [os.path.join(os.path.dirname(sys.executable), "aws"), "kms", "describe-key",
     "--key-id", key, "--output", "json"],
    capture_output=True, text=True, check=False,
)
seen["cli_status"] = cli.returncode
seen["cli_key_state"] = json.loads(cli.stdout)["KeyMetadata"]["KeyState"] if cli.returncode == 0 else cli.stderr

print(json.dumps(seen))
