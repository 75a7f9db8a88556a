"""Moving the management account's settings from the ``management`` stack to bootstrap-management without
destroying them, when an existing deployment starts managing its policies from a delegated account.

The two stacks give these resources the same Terraform addresses (stacks/management.py ``add_management_settings``).
bootstrap-management imports each one the management stack's state still holds, by the id the state records, before
its apply; the management stack's next deploy then forgets them (``removed`` blocks, ``destroy = false``). Nothing is
deleted and re-created: the delegated administrator stays registered, the enrolment rule keeps its ARN, and
cross-account backup stays on throughout.

Import ids are the AWS provider's import formats (terraform-provider-aws 5.100 documentation, "Import" of each
resource): global settings and RAM sharing by account id, the delegated administrator by ``account_id/service
principal``, a role by name, a role policy by ``role:policy``, a rule on the default bus by name, its target by
``rule/target_id``. https://developer.hashicorp.com/terraform/language/import
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

IMPORTS_FILE = "adopted.tf.json"

_IMPORT_IDS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "aws_backup_global_settings.cross-account-backup": lambda a: str(a["id"]),
    "aws_organizations_delegated_administrator.backup-delegated-administrator": lambda a: (
        f"{a['account_id']}/{a['service_principal']}"
    ),
    "aws_ram_sharing_with_organization.ram-sharing-with-organization": lambda a: str(a["id"]),
    "aws_iam_role.enrolment-forwarder": lambda a: str(a["name"]),
    "aws_iam_role_policy.enrolment-forwarder-policy": lambda a: f"{a['role']}:{a['name']}",
    "aws_cloudwatch_event_rule.enrolment-rule": lambda a: str(a["name"]),
    "aws_cloudwatch_event_target.enrolment-target": lambda a: f"{a['rule']}/{a['target_id']}",
}
MANAGEMENT_SETTINGS = tuple(_IMPORT_IDS)


def imports(state: Mapping[str, Any]) -> dict[str, str]:
    """Address -> import id of every management setting a (Terraform v4) state holds."""
    found = {}
    for resource in state.get("resources", []):
        address = f"{resource['type']}.{resource['name']}"
        if resource.get("mode") == "managed" and address in _IMPORT_IDS and resource.get("instances"):
            found[address] = _IMPORT_IDS[address](resource["instances"][0]["attributes"])
    return found


def write_imports(stack_dir: Path, found: Mapping[str, str]) -> Path | None:
    """Import blocks for ``found`` beside the synthesized bootstrap-management, each with the provider its resource
    is configured with there; none (and no file) when there is nothing to adopt."""
    target = stack_dir / IMPORTS_FILE
    if not found:
        target.unlink(missing_ok=True)
        return None
    resources = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))["resource"]
    blocks = []
    for address, import_id in sorted(found.items()):
        kind, name = address.split(".", 1)
        block = {"to": address, "id": import_id}
        if provider := resources.get(kind, {}).get(name, {}).get("provider"):
            block["provider"] = provider
        blocks.append(block)
    target.write_text(json.dumps({"import": blocks}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target


def configured(stack_dir: Path) -> set[str]:
    """The management settings the synthesized stack in ``stack_dir`` configures (an import needs its target)."""
    resources = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8")).get("resource", {})
    return {a for a in MANAGEMENT_SETTINGS if a.split(".", 1)[1] in resources.get(a.split(".", 1)[0], {})}
