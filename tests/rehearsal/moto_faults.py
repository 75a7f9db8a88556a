"""Fault injection (issue 29): the test server answers a share of AWS calls with throttling and server errors, as
AWS does under load, so a deploy is rehearsed through the SDK's retries rather than on a server that never fails.

Off until ``POST /moto-api/faults`` with body ``N`` (every Nth call faulted; ``0`` switches it off again). Only a
call's first attempt is ever faulted (``amz-sdk-request: attempt=1``, the header the AWS SDKs send with every
attempt), so each faulted call succeeds when retried, and a call is carried out once: the fault is answered before
moto sees it. Faulted calls alternate between the two classes, each in the shape its protocol uses, because an SDK
decides retryability from the status code and the error code it parses:

- throttling: JSON protocols (``X-Amz-Target``): HTTP 400, ``{"__type": "ThrottlingException"}``; the query protocol
  (IAM, STS: form bodies): HTTP 400, ``<Code>Throttling</Code>``; S3: HTTP 503 ``SlowDown``; REST-JSON (AWS Backup,
  Lambda): HTTP 429 ``TooManyRequestsException``, Lambda's answer (AWS Backup's own common errors name
  ThrottlingException, 400: a code the JSON shape already covers). Each of these codes is in the SDKs' list of throttling errors
  (AWS SDKs and Tools Reference Guide, "Retry behavior"; aws-sdk-go-v2 ``retry.DefaultThrottleErrorCodes``, which
  the Terraform AWS provider uses);
- server errors: HTTP 503 ``ServiceUnavailable`` in the same shapes (500, 502, 503 and 504 are retried as transient
  errors: same sources).

Every fault is logged (``moto_faults: ...``) so a test can count them by class.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

CONTROL_PATH = "/moto-api/faults"


class InjectFaults:
    """WSGI middleware, outermost: a faulted call never reaches moto, nor the retry replay below it."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.every = 0
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CONTROL_PATH and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            with self._lock:
                self.every, self.count = int(environ["wsgi.input"].read(length) or b"0"), 0
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        first = environ.get("HTTP_AMZ_SDK_REQUEST", "").split(";")[0].strip() == "attempt=1"
        if not first or not environ.get("HTTP_AMZ_SDK_INVOCATION_ID"):
            return self.app(environ, start_response)
        with self._lock:
            if not self.every:
                return self.app(environ, start_response)
            self.count += 1
            fault = self.count // self.every if self.count % self.every == 0 else 0
        if not fault:
            return self.app(environ, start_response)
        status, headers, body, kind = _fault(environ, throttle=fault % 2 == 1)
        print(
            f"moto_faults: {kind} for {_service(environ)} {environ.get('REQUEST_METHOD')} "
            f"{environ.get('HTTP_X_AMZ_TARGET') or environ.get('PATH_INFO', '')}",
            file=sys.stderr,
            flush=True,
        )
        start_response(status, headers)
        return [body]


def _service(environ: dict[str, Any]) -> str:
    """The signing name in the SigV4 credential scope: ``Credential=<key>/<date>/<region>/<service>/aws4_request``."""
    scope = environ.get("HTTP_AUTHORIZATION", "").partition("Credential=")[2].split(",")[0].split("/")
    return scope[3] if len(scope) > 3 else "?"


def _protocol(environ: dict[str, Any]) -> str:
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if _service(environ) == "s3":
        return "s3"
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return "query"
    return "rest-json"


# protocol -> (status, error code) of a throttling answer, and of a server error
_THROTTLING = {
    "json": ("400 Bad Request", "ThrottlingException"),
    "query": ("400 Bad Request", "Throttling"),
    "s3": ("503 Slow Down", "SlowDown"),
    "rest-json": ("429 Too Many Requests", "TooManyRequestsException"),
}
_SERVER_ERROR = {
    "json": ("503 Service Unavailable", "ServiceUnavailableException"),
    "query": ("503 Service Unavailable", "ServiceUnavailable"),
    "s3": ("503 Service Unavailable", "ServiceUnavailable"),
    "rest-json": ("503 Service Unavailable", "ServiceUnavailableException"),
}


def _fault(environ: dict[str, Any], *, throttle: bool) -> tuple[str, list[tuple[str, str]], bytes, str]:
    """The error in the shape of the call's protocol: the SDK must parse its code to classify it."""
    protocol = _protocol(environ)
    status, code = (_THROTTLING if throttle else _SERVER_ERROR)[protocol]
    kind = f"{'throttling' if throttle else 'server error'} ({protocol})"
    if protocol == "json":
        body = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1")], body, kind
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        ).encode()
        return status, [("Content-Type", "text/xml")], body, kind
    if protocol == "s3":
        body = f"<Error><Code>{code}</Code><Message>Please reduce your request rate.</Message></Error>".encode()
        return status, [("Content-Type", "application/xml")], body, kind
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    return status, headers, b'{"message": "Rate exceeded"}', kind


def install() -> None:
    """Wrap the application moto's ``main`` hands to werkzeug; installed before moto_retries, so outermost."""
    import moto.server

    run_simple = moto.server.run_simple

    def run_wrapped(host: str, port: int, app: Any, **options: Any) -> None:
        run_simple(host, port, InjectFaults(app), **options)

    moto.server.run_simple = run_wrapped
