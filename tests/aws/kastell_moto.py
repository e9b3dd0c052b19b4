"""pytest plugin: runs moto's own KMS test suite (server mode) against Kastell.

A Kastell deployment serves one region, as an AWS KMS endpoint does; the suite's clients
use several, so the harness runs one deployment per region and names them in
KASTELL_MOTO_REGIONS (JSON: region -> {"endpoint", "ca_bundle", "access_key_id",
"secret_access_key"}; each deployment has its own root).
This plugin sends each boto3 client to its region's endpoint, signed with that
deployment's access key (moto's server mode would sign with fixed fake credentials), records
which tests reached an endpoint, and writes one JSON line per test to KASTELL_MOTO_REPORT:
{"test", "outcome", "reached", "error"}. A region without a deployment goes to
TEST_SERVER_MODE_ENDPOINT, whose deployment refuses it by name.
"""

import json
import os

import boto3
import botocore.httpsession
import pytest
from moto.core import models

_DEFAULT_ENDPOINT = os.environ["TEST_SERVER_MODE_ENDPOINT"]
_REGIONS = json.loads(os.environ["KASTELL_MOTO_REGIONS"])
_ENDPOINTS = tuple(r["endpoint"] for r in _REGIONS.values()) + (_DEFAULT_ENDPOINT,)
_REPORT = os.environ["KASTELL_MOTO_REPORT"]
_reached = False

_original_client = boto3.client


def _client_in_its_region(*args, **kwargs):
    """boto3.client, sent to the deployment of the client's region (moto's server mode
    wraps this and sets endpoint_url to TEST_SERVER_MODE_ENDPOINT)."""
    region = kwargs.get("region_name")
    if region is None and len(args) >= 2:
        region = args[1]
    region = region or os.environ.get("AWS_DEFAULT_REGION")
    served = _REGIONS.get(region)
    if served is not None and kwargs.get("endpoint_url") in (None, _DEFAULT_ENDPOINT):
        kwargs["endpoint_url"] = served["endpoint"]
        kwargs["verify"] = served["ca_bundle"]
        kwargs["aws_access_key_id"] = served["access_key_id"]
        kwargs["aws_secret_access_key"] = served["secret_access_key"]
    return _original_client(*args, **kwargs)


boto3.client = _client_in_its_region

_original_init = models.MockAWS.__init__


def _init_with_kastell_credentials(self, *args, **kwargs):
    """Clients made without a region (or a region without a deployment) sign with the
    default deployment's access key."""
    _original_init(self, *args, **kwargs)
    default = _REGIONS[os.environ["AWS_DEFAULT_REGION"]]
    self._fake_creds = {
        "AWS_ACCESS_KEY_ID": default["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": default["secret_access_key"],
    }


models.MockAWS.__init__ = _init_with_kastell_credentials

_original_send = botocore.httpsession.URLLib3Session.send


def _send_and_note(self, request):
    global _reached
    if request.url.startswith(_ENDPOINTS):
        _reached = True
    return _original_send(self, request)


botocore.httpsession.URLLib3Session.send = _send_and_note


def pytest_configure(config):
    config.addinivalue_line("markers", "aws_verified: verified against AWS by moto")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    global _reached
    _reached = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    item.stash.setdefault(_RESULT, []).append(report)
    if report.when == "teardown":
        reports = item.stash[_RESULT]
        failure = next((r for r in reports if r.failed), None)
        skipped = any(r.skipped for r in reports)
        line = {
            "test": item.nodeid,
            "outcome": "failed" if failure else ("skipped" if skipped else "passed"),
            "reached": _reached,
            "error": _summary(failure) if failure else None,
        }
        with open(_REPORT, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


_RESULT = pytest.StashKey[list]()


def _summary(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.splitlines()[0][:300] if text else ""
