"""Organization-wide rules checked on the synthesized Terraform JSON, before the output replaces cdktf.out.

They used to be a CDKTF aspect, but an aspect is a node-to-Python callback for every construct and reading the
error annotations back is several jsii calls per construct: with 1,000 accounts that was most of the synth time.
The JSON holds the same facts and is read in Python in a fraction of that.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def violations(stack: str, document: Mapping[str, Any]) -> Iterator[str]:
    """Yield ``<stack>/<resource>: <rule>`` for every resource of one stack's cdk.tf.json that breaks a rule.

    - every backup vault names a customer-managed key: without ``kms_key_arn`` AWS Backup silently uses the AWS
      managed key, which cannot be shared across accounts, so copies to the central vault would fail at run time;
    - every KMS key rotates automatically.
    """
    resources = document.get("resource", {})
    for name, vault in sorted(resources.get("aws_backup_vault", {}).items()):
        if not vault.get("kms_key_arn"):
            yield f"{stack}/aws_backup_vault.{name}: backup vault has no customer-managed KMS key (kms_key_arn)."
    for name, key in sorted(resources.get("aws_kms_key", {}).items()):
        if key.get("enable_key_rotation") is not True:
            yield f"{stack}/aws_kms_key.{name}: KMS key does not enable automatic rotation (enable_key_rotation)."
