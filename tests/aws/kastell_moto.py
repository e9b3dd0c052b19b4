"""pytest plugin: runs moto's own KMS test suite (server mode) against Kastell.

A Kastell deployment serves one region, as an AWS KMS endpoint does; the suite's clients
use several, so the harness runs one deployment per region and names them in
KASTELL_MOTO_REGIONS (JSON: region -> {"endpoint", "ca_bundle", "access_key_id",
"secret_access_key"}; each deployment has its own root).
This plugin sends each boto3 client to its region's endpoint, signed with that
deployment's access key (moto's server mode would sign with fixed fake credentials), records
which tests reached an endpoint, and writes one JSON line per test to KASTELL_MOTO_REPORT:
{"test", "outcome", "reached", "error"}. A region without a deployment goes to the
deployment of AWS_DEFAULT_REGION, which refuses it by name (another region in the scope).

Isolation: moto resets its backend before every test; a Kastell deployment keeps its keys
and aliases. So each test gets fresh deployments: the first client a test makes for a
region whose deployment an earlier test used asks the harness (a line `reset <region>` on
the TCP connection KASTELL_MOTO_CONTROL names, answered with `{"endpoint": …}`) to serve
that region from a fresh copy of its data directory as it was before the first test (the
same root and access key, no keys, no aliases), as moto's reset does.
"""

import json
import os
import socket

import boto3
import botocore.httpsession
import pytest
from moto.core import models

_DEFAULT_ENDPOINT = os.environ["TEST_SERVER_MODE_ENDPOINT"]
_DEFAULT_REGION = os.environ["AWS_DEFAULT_REGION"]
_REGIONS = json.loads(os.environ["KASTELL_MOTO_REGIONS"])
_REPORT = os.environ["KASTELL_MOTO_REPORT"]
# Every endpoint a deployment has served from (a reset serves from a new port).
_endpoints = {r["endpoint"] for r in _REGIONS.values()} | {_DEFAULT_ENDPOINT}
_reached = False
# Regions whose deployment a test used since it was last reset, and those of this test.
_used = set()
_this_test = set()
_control = None


def _reset(region):
    """Asks the harness for a fresh deployment of `region`; returns its endpoint."""
    global _control
    if _control is None:
        host, port = os.environ["KASTELL_MOTO_CONTROL"].rsplit(":", 1)
        _control = socket.create_connection((host, int(port))).makefile("rw", encoding="utf-8")
    _control.write(f"reset {region}\n")
    _control.flush()
    answer = json.loads(_control.readline())
    if "endpoint" not in answer:
        raise RuntimeError(f"the harness did not reset {region}: {answer}")
    return answer["endpoint"]


def _deployment(region):
    """The deployment serving `region` for the running test, fresh for it."""
    served = _REGIONS[region]
    if region not in _this_test:
        if region in _used:
            served["endpoint"] = _reset(region)
            _endpoints.add(served["endpoint"])
        _this_test.add(region)
        _used.add(region)
    return served


_original_client = boto3.client


def _client_in_its_region(*args, **kwargs):
    """boto3.client, sent to the deployment of the client's region (moto's server mode
    wraps this and sets endpoint_url to TEST_SERVER_MODE_ENDPOINT)."""
    region = kwargs.get("region_name")
    if region is None and len(args) >= 2:
        region = args[1]
    region = region or _DEFAULT_REGION
    if kwargs.get("endpoint_url") in (None, _DEFAULT_ENDPOINT):
        served = _deployment(region if region in _REGIONS else _DEFAULT_REGION)
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
    default = _REGIONS[_DEFAULT_REGION]
    self._fake_creds = {
        "AWS_ACCESS_KEY_ID": default["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": default["secret_access_key"],
    }


models.MockAWS.__init__ = _init_with_kastell_credentials

_original_send = botocore.httpsession.URLLib3Session.send


def _send_and_note(self, request):
    global _reached
    if request.url.startswith(tuple(_endpoints)):
        _reached = True
    return _original_send(self, request)


botocore.httpsession.URLLib3Session.send = _send_and_note


def pytest_configure(config):
    config.addinivalue_line("markers", "aws_verified: verified against AWS by moto")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    global _reached
    _reached = False
    _this_test.clear()


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
