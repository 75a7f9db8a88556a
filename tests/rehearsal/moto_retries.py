"""Retried requests whose first attempt moto already carried out: answered once, as the client expects.

The AWS SDKs retry a call whose answer they did not get (a connection reset, a timeout while the loaded 2-core
machine runs Terraform, moto and pytest at once) and mark every attempt of one call with the same
``amz-sdk-invocation-id`` header and ``amz-sdk-request: attempt=N; max=M``. When moto had carried the first attempt
out, the retry of a create meets the object it has just made. That is how a `make test` run here failed:
``EntityAlreadyExists: Role with name OrgBackupDeployRole already exists`` (HTTP 409) on the first CreateRole of
bootstrap-management, for a role nothing else creates in that account (the same apply passed on the next run).
Here a retry of a call moto answered with anything but a server error, or is still answering, gets that answer
again, and the server's log says so (``moto_retries: replayed ...``). A retry after a 5xx is carried out again,
and a new call, even of the same operation with the same input, has a new invocation id: both as AWS would.
"""

from __future__ import annotations

import io
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

_KEPT = 5000  # answers remembered: far more calls than one Terraform apply has in flight
_WAIT_S = 120  # a retry waits this long for its first attempt to finish


class _Answer:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.body = b""

    @property
    def replayable(self) -> bool:
        return bool(self.status) and int(self.status.split()[0]) < 500


class ReplayRetries:
    """WSGI middleware around moto's application."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._answers: OrderedDict[str, _Answer] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
        if not invocation or environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return self.app(environ, start_response)
        with self._lock:
            earlier = self._answers.get(invocation)
            if earlier is not None and earlier.done.is_set() and not earlier.replayable:
                earlier = None  # a 5xx: the SDK retries it as a new attempt
            if earlier is None:
                answer = self._answers[invocation] = _Answer()
                while len(self._answers) > _KEPT:
                    self._answers.popitem(last=False)
        if earlier is not None:
            return self._replay(earlier, environ, start_response)
        return self._answer(answer, environ, start_response)

    def _answer(self, answer: _Answer, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            answer.status, answer.headers = status, list(headers)
            return start_response(status, headers, exc_info)

        try:
            body = b"".join(self.app(environ, keep))
            answer.body = body
            return [body]
        finally:
            answer.done.set()

    @staticmethod
    def _replay(answer: _Answer, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        attempt = environ.get("HTTP_AMZ_SDK_REQUEST", "")
        if not answer.done.wait(_WAIT_S) or not answer.replayable:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"the first attempt of this call did not finish, or failed: try again"]
        print(
            f"moto_retries: replayed the answer ({answer.status}) to a retried {_operation(environ)} ({attempt}), "
            "which moto had already carried out",
            file=sys.stderr,
            flush=True,
        )
        start_response(answer.status, answer.headers)
        return [answer.body]


def _operation(environ: dict[str, Any]) -> str:
    """The call's name for the log: its X-Amz-Target, its form body's Action, or its method and path."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        return str(environ["HTTP_X_AMZ_TARGET"])
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    action = parse_qs(body.decode(errors="replace")).get("Action") if body[:200].find(b"Action=") >= 0 else None
    return action[0] if action else f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"


def install() -> None:
    """Wrap the application moto's ``main`` hands to werkzeug."""
    import moto.server

    run_simple = moto.server.run_simple

    def run_wrapped(host: str, port: int, app: Any, **options: Any) -> None:
        run_simple(host, port, ReplayRetries(app), **options)

    moto.server.run_simple = run_wrapped
