"""Drives the identity side of Kastell's AWS endpoint (issue 18) with boto3, botocore's
SigV4 signers (header and presigned forms) and urllib3, as tests/tests/aws_identity.rs
asks: `identity.py <scenario>` with the endpoint, region and access key in the environment
(KASTELL_AWS_ENDPOINT, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_CA_BUNDLE). Prints one JSON object; a refused call is [status, exception or code,
message].
"""

import datetime
import json
import os
import re
import sys
import time

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import urllib3

ENDPOINT = os.environ["KASTELL_AWS_ENDPOINT"]
REGION = os.environ["AWS_DEFAULT_REGION"]
HTTP = urllib3.PoolManager(ca_certs=os.environ["AWS_CA_BUNDLE"])


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION)


def refused(call):
    try:
        call()
    except botocore.exceptions.ClientError as err:
        return [
            err.response["ResponseMetadata"]["HTTPStatusCode"],
            err.response["Error"]["Code"],
            err.response["Error"].get("Message", ""),
        ]
    return "accepted"


def answer(response):
    """[status, __type or STS <Code> or "ok", message] of a raw response."""
    text = response.data.decode(errors="replace")
    if text.lstrip().startswith("<"):
        code = re.search(r"<Code>(.*?)</Code>", text)
        message = re.search(r"<Message>(.*?)</Message>", text, re.S)
        return [
            response.status,
            code.group(1) if code else "ok",
            message.group(1) if message else text,
        ]
    try:
        body = json.loads(text)
    except ValueError:
        return [response.status, "unreadable", text]
    return [response.status, body.get("__type", "ok"), body.get("message", "")]


def credentials(secret=None):
    return botocore.credentials.Credentials(
        os.environ["AWS_ACCESS_KEY_ID"], secret or os.environ["AWS_SECRET_ACCESS_KEY"]
    )


class Pinned:
    """Pins botocore's signing clock to `at` (naive UTC) while signing."""

    def __init__(self, at):
        self.at = at

    def __enter__(self):
        at = self.at
        self.real = real = botocore.auth.datetime.datetime

        class Fixed(real):
            @classmethod
            def utcnow(cls):
                return at

            @classmethod
            def now(cls, tz=None):
                return at.replace(tzinfo=tz) if tz else at

        botocore.auth.datetime.datetime = Fixed

    def __exit__(self, *exc):
        botocore.auth.datetime.datetime = self.real


def kms_request(target, body, headers=None):
    return botocore.awsrequest.AWSRequest(
        method="POST",
        url=ENDPOINT + "/",
        data=json.dumps(body).encode(),
        headers=headers
        if headers is not None
        else {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "TrentService." + target,
        },
    )


def send(prepared, body=None, extra_headers=None):
    headers = dict(prepared.headers)
    headers.update(extra_headers or {})
    data = prepared.body if body is None else body
    return answer(HTTP.request(prepared.method, prepared.url, body=data, headers=headers))


def signed(target, body, service="kms", region=REGION, at=None, secret=None):
    """A KMS request signed in the Authorization header by botocore's SigV4 signer."""
    request = kms_request(target, body)
    signer = botocore.auth.SigV4Auth(credentials(secret), service, region)
    if at is None:
        signer.add_auth(request)
    else:
        with Pinned(at):
            signer.add_auth(request)
    return send(request.prepare())


class KeepBody(botocore.auth.SigV4QueryAuth):
    """botocore's presigning signer, keeping the JSON body (its payload hash signed) as the
    AWS JSON protocol needs, where botocore would move the members into the query."""

    def _modify_request_before_signing(self, request):
        data = request.data
        super()._modify_request_before_signing(request)
        request.data = data


def presigned_kms(target, body, expires=60, headers=None):
    request = kms_request(target, body, headers)
    KeepBody(credentials(), "kms", REGION, expires=expires).add_auth(request)
    return request.prepare()


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def whoami():
    """STS GetCallerIdentity through boto3."""
    identity = client("sts").get_caller_identity()
    print(json.dumps({k: identity[k] for k in ("Arn", "UserId", "Account")}))


def presigned():
    """Presigned requests: STS GetCallerIdentity URLs as boto3 makes them (a GET), and a
    KMS call presigned by botocore's query signer; then each tampered with or expired."""
    sts = client("sts")
    url = sts.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET"
    )
    short = sts.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=1, HttpMethod="GET"
    )
    with Pinned(utcnow() - datetime.timedelta(minutes=20)):
        stale = sts.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=3600, HttpMethod="GET"
        )
    ok = HTTP.request("GET", url)
    arn = re.search(r"<Arn>(.*?)</Arn>", ok.data.decode())
    kms_ok = presigned_kms("GenerateRandom", {"NumberOfBytes": 8})
    kms_short = presigned_kms("GenerateRandom", {"NumberOfBytes": 8}, expires=1)
    # The operation added after signing: the signature does not cover it.
    unsigned_target = presigned_kms(
        "GenerateRandom",
        {"NumberOfBytes": 8},
        headers={"Content-Type": "application/x-amz-json-1.1"},
    )
    results = {
        "sts": [ok.status, arn.group(1) if arn else ok.data.decode()],
        "sts_tampered": answer(
            HTTP.request("GET", url.replace("X-Amz-Expires=60", "X-Amz-Expires=600"))
        ),
        "sts_stale": answer(HTTP.request("GET", stale)),
        "kms": send(kms_ok),
        "kms_tampered_body": send(kms_ok, body=b'{"NumberOfBytes": 9}'),
        "kms_unsigned_target": send(
            unsigned_target, extra_headers={"X-Amz-Target": "TrentService.GenerateRandom"}
        ),
    }
    time.sleep(2.5)
    results["sts_expired"] = answer(HTTP.request("GET", short))
    results["kms_expired"] = send(kms_short)
    print(json.dumps(results))


def attacks():
    """Requests signed in the header form with something wrong, each as an attacker sends
    it; `honest` is the same request signed right."""
    body = {"NumberOfBytes": 8}
    now = utcnow()
    print(json.dumps({
        "honest": signed("GenerateRandom", body),
        "wrong_secret": signed("GenerateRandom", body, secret="A" * 40),
        "wrong_region": signed("GenerateRandom", body, region="us-east-1"),
        "wrong_service": signed("GenerateRandom", body, service="sts"),
        "stale_date": signed("GenerateRandom", body, at=now - datetime.timedelta(minutes=16)),
        "future_date": signed("GenerateRandom", body, at=now + datetime.timedelta(minutes=16)),
        "sts_wrong_secret": refused(
            lambda: boto3.client(
                "sts",
                endpoint_url=ENDPOINT,
                region_name=REGION,
                aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key="A" * 40,
            ).get_caller_identity()
        ),
    }))


def refused_as():
    """One KMS call and one STS call with the access key in the environment."""
    print(json.dumps({
        "kms": refused(lambda: client("kms").generate_random(NumberOfBytes=8)),
        "sts": refused(lambda: client("sts").get_caller_identity()),
    }))


def duties():
    """What an access key may do: administer (CreateKey) and use (Encrypt) keys."""
    kms = client("kms")
    created = refused(lambda: kms.create_key(Description="duties"))
    if created == "accepted":
        key = kms.create_key(Description="duties")["KeyMetadata"]["KeyId"]
    else:
        key = os.environ.get("KASTELL_KEY", "alias/none")
    print(json.dumps({
        "create_key": created,
        "encrypt": refused(lambda: kms.encrypt(KeyId=key, Plaintext=b"x")),
    }))


{
    "whoami": whoami,
    "presigned": presigned,
    "attacks": attacks,
    "refused": refused_as,
    "duties": duties,
}[sys.argv[1]]()
