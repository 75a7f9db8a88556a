"""Whether there are AWS credentials at all, asked once before a command that needs them does anything: `make plan`
(before it synthesizes), `readiness` and `wait-roles`. Without this, `make plan` rewrote cdktf.out and then died in a
50-line traceback, and `readiness` read nothing and reported every tagged resource protected."""

from __future__ import annotations

import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

FIX = (
    "Fix: sign in (e.g. `aws sso login --profile <name>` and `export AWS_PROFILE=<name>`), or export the keys of a "
    "principal that may assume the plan role (in the pipeline: the builder's role; another CI system: pipeline.deployers; people: pipeline.plan_readers)."
)


def caller(region: str) -> str:
    """The ARN of the credentials' principal; raises CredentialsError in one line when there is none usable."""
    try:
        return str(boto3.Session().client("sts", region_name=region).get_caller_identity()["Arn"])
    except NoCredentialsError:
        raise CredentialsError(f"no AWS credentials found. {FIX}") from None
    except (ClientError, BotoCoreError) as exc:
        raise CredentialsError(f"the AWS credentials do not work ({exc}). {FIX}") from None


class CredentialsError(Exception):
    pass


def require(command: str, region: str) -> bool:
    """Print the one-line refusal for ``command`` and return False when there are no usable credentials."""
    try:
        caller(region)
    except CredentialsError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return False
    return True
