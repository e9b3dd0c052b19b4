"""What the boto3 scenarios in this folder (byok.py, drive.py, grants.py, recipient.py)
share: a call's outcome as the JSON they print records it."""

import botocore.exceptions


def refused(call):
    """The AWS exception name `call` raised, or "accepted"."""
    try:
        call()
    except botocore.exceptions.ClientError as err:
        return err.response["Error"]["Code"]
    return "accepted"
