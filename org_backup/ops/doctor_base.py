"""What every doctor check is made of: its result (``Check``) and the boto3 clients it calls AWS with, with short
timeouts. Shared by ``doctor`` and ``doctor_regions``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

# Short connect/read timeouts and one retry: without a network, botocore's defaults (60 s timeouts, retries per
# call) made a run of every check take minutes before saying anything useful.
FAST_FAIL = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"})


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False  # cannot be checked with these credentials: said so, never counted as a pass

    def render(self) -> str:
        status = "SKIP" if self.skipped else "PASS" if self.ok else "FAIL"
        line = f"{status}  {self.name}: {self.detail}"
        return line if self.ok else f"{line}\n      Fix: {self.fix}"


class Clients:
    """boto3 clients for the checks; tests replace the ones moto does not implement."""

    def __init__(self, session: boto3.Session | None = None, region: str = "us-east-1") -> None:
        self._session = session or boto3.Session()
        self._region = region

    def client(self, service: str, region: str | None = None) -> Any:
        return self._session.client(service, region_name=region or self._region, config=FAST_FAIL)
