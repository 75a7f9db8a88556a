"""Effective backup policies before deployment: what AWS's DescribeEffectivePolicy will show after it.

AWS Organizations merges the management policies attached from the root down to an account: value-setting
operators (``@@assign`` replaces, ``@@append`` adds list values, ``@@remove`` takes them away) applied level by
level, limited by the child-control operator ``@@operators_allowed_for_child_policies`` that a parent sets on a
node: it binds that node (the operators a child may use there, and whether a child may add keys under it) for every
level below, not the nodes beneath it (AWS's backup policy examples 3 and 4; Merge.allowed). ``preview`` applies
these rules to the documents this project renders and resolves ``$account`` for each account; ``policy effective``
(org_backup/ops/policy_cli.py) to any documents.

``preview`` knows only the policies org-backup manages; a BACKUP_POLICY attached elsewhere by hand (e.g. at the
root) is not visible offline, which the preview says.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, cast

from org_backup.config.model import BackupConfig
from org_backup.plans.backup_policy import RenderedPolicy

OPERATORS = ("@@assign", "@@append", "@@remove")
CHILD_CONTROL = "@@operators_allowed_for_child_policies"


def allowed_by(control: Any) -> set[str]:
    """The value-setting operators a child control allows: ["@@all"] every one ("By default, all operators (@@all)
    are allowed"), ["@@none"] none, otherwise those it lists (AWS Organizations User Guide, "Inheritance
    operators")."""
    values = set(control) if isinstance(control, list) else set()
    if "@@none" in values:
        return set()
    if "@@all" in values:
        return set(OPERATORS)
    return values & set(OPERATORS)


@dataclass
class Merge:
    """The running effective policy, the child controls set so far, the changes that were refused, and notes on
    what the merge cannot know offline."""

    effective: dict[str, Any] = field(default_factory=dict)
    controls: dict[tuple[str, ...], set[str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ordered: bool = False  # each level's policies come in attachment order (else: by name, the order not known)

    def allowed(self, path: tuple[str, ...]) -> set[str]:
        """The operators a child may use on the setting at ``path``: what the controls set there by the levels above
        allow. A control binds the node it is on, not the nodes beneath it: AWS's example 3 sets ["@@none"] "at every
        node of the policy" to lock a plan, and example 4 unlocks only ``plans`` so that "child policies [can] add
        other plans" while "any changes to the inherited plan are still blocked" (Backup policy syntax and
        examples)."""
        return set(self.controls.get(path, set(OPERATORS)))

    def may_add(self, container: tuple[str, ...]) -> bool:
        """Whether a child may add a new key (a plan, a rule, a setting) under ``container``: its control, if any,
        allows @@append or @@assign (example 4: ["@@append"] on ``plans`` lets a child add a plan; ["@@none"]
        does not)."""
        control = self.controls.get(container)
        return control is None or bool(control & {"@@append", "@@assign"})

    def apply_level(self, policies: list[tuple[str, dict[str, Any]]]) -> None:
        """Apply every policy attached at one level; their child controls bind only the levels below, and where
        two set a control on the same setting, both hold ("If an inherited child control operator limits the use
        of an operator, you can't reverse that rule": controls only narrow)."""
        new_controls: dict[tuple[str, ...], set[str]] = {}
        assigned: dict[tuple[str, ...], tuple[str, str]] = {}
        for name, policy in policies:
            self._apply(self.effective, policy, (), name, new_controls, assigned, True)
        for path, control in new_controls.items():
            self.controls[path] = self.controls[path] & control if path in self.controls else control
        _prune(self.effective)

    def _control(self, new_controls: dict[tuple[str, ...], set[str]], path: tuple[str, ...], control: Any) -> None:
        allowed = allowed_by(control)
        new_controls[path] = new_controls[path] & allowed if path in new_controls else allowed

    def _apply(
        self,
        target: dict[str, Any],
        node: dict[str, Any],
        path: tuple[str, ...],
        policy: str,
        new_controls: dict[tuple[str, ...], set[str]],
        assigned: dict[tuple[str, ...], tuple[str, str]],
        may_add: bool,
    ) -> None:
        for name, value in node.items():
            if name == CHILD_CONTROL:
                self._control(new_controls, path, value)
                continue
            key = name.lower() if _case_insensitive(path) else name
            here = (*path, key)
            adding = may_add and (key in target or self.may_add(path))
            if isinstance(value, dict) and any(op in value for op in OPERATORS):
                if CHILD_CONTROL in value:
                    self._control(new_controls, here, value[CHILD_CONTROL])
                allowed = self.allowed(here) if adding else set()
                for operator in OPERATORS:
                    if operator not in value:
                        continue
                    if operator not in allowed:
                        self.refused.append(
                            f"{policy}: {operator} on {'.'.join(here)} is not allowed by a parent policy"
                        )
                        continue
                    if operator == "@@assign" and not self._first_assign(here, policy, value[operator], assigned):
                        continue
                    _set_value(target, key, operator, value[operator])
            elif isinstance(value, dict):
                child = target.setdefault(key, {})
                self._apply(child, value, here, policy, new_controls, assigned, adding)

    def _first_assign(
        self, here: tuple[str, ...], policy: str, value: Any, assigned: dict[tuple[str, ...], tuple[str, str]]
    ) -> bool:
        """Whether this @@assign takes effect: of two policies of one level that @@assign different values to one
        setting, the one attached first wins ("Policies are evaluated based on the order in which they were
        attached": AWS Organizations User Guide, "Inheritance examples", example 6). The merge says so, and says when
        the order is not known (org-backup's own policies, taken by name)."""
        text = json.dumps(value, sort_keys=True)
        earlier = assigned.get(here)
        if earlier is None:
            assigned[here] = (policy, text)
            return True
        if earlier[1] != text:
            order = "as given" if self.ordered else "by name; the attachment order is not known here"
            self.notes.append(
                f"{'.'.join(here)}: {earlier[0]} and {policy}, attached at the same level, both @@assign it "
                f"({earlier[1]} and {text}); AWS keeps the one attached first: {earlier[0]}'s ({order})."
            )
        return False


def _case_insensitive(path: tuple[str, ...]) -> bool:
    """Rule and selection names, which AWS's effective policies show in lower case ("Hourly" becomes "hourly",
    "MonthlyDatatype" "monthlydatatype": Backup policy syntax and examples, examples 1, 2, 3 and 5), so a child's
    "hourly" is the parent's "Hourly"; plan names and copy-action ARNs keep their case there."""
    return (len(path) == 3 and path[0] == "plans" and path[2] == "rules") or (
        len(path) == 4 and path[0] == "plans" and path[2] == "selections" and path[3] in ("tags", "resources")
    )


def _prune(node: dict[str, Any]) -> None:
    """Objects left empty (a child's settings all refused) are not part of the effective policy."""
    for key in list(node):
        value = node[key]
        if isinstance(value, dict):
            _prune(value)
            if not value:
                del node[key]


def _set_value(target: dict[str, Any], key: str, operator: str, value: Any) -> None:
    if operator == "@@assign":
        target[key] = copy.deepcopy(value)
    elif operator == "@@append":
        current = target.get(key, [])
        current = current if isinstance(current, list) else [current]
        target[key] = current + [v for v in value if v not in current]
    elif isinstance(target.get(key), list) and isinstance(value, list):
        target[key] = [v for v in target[key] if v not in value]
    else:
        target.pop(key, None)


def effective_policy(levels: list[list[tuple[str, dict[str, Any]]]], *, keep_order: bool = False) -> Merge:
    """Merge policies level by level, root first; each level is a list of (policy name, document), in attachment
    order with ``keep_order`` (a user's files), else by name (org-backup's own, whose attachment order is not
    known)."""
    merge = Merge(ordered=keep_order)
    for level in levels:
        merge.apply_level(level if keep_order else sorted(level, key=lambda item: item[0]))
    return merge


def incomplete(effective: dict[str, Any]) -> list[str]:
    """What each effective plan lacks of what AWS requires ("Backup policy syntax and examples", the elements marked
    Required: rules, regions and selections of a plan; schedule_expression and target_backup_vault_name of a rule;
    iam_role_arn with tag_key and tag_value, or with resource_types, of a selection: "An effective policy must have
    either tags or resources in the selection to be valid"). AWS keeps such a plan in the effective policy, but it
    "is not valid and doesn't back up your resources as expected" (example 5), so the merge says so."""
    found = []
    plans = effective.get("plans", {})
    for name, plan in sorted(plans.items() if isinstance(plans, dict) else []):
        missing = [key for key in ("regions", "rules", "selections") if not plan.get(key)]
        for rule_name, rule in sorted((plan.get("rules") or {}).items()):
            missing += [
                f"rules.{rule_name}.{key}"
                for key in ("schedule_expression", "target_backup_vault_name")
                if not (isinstance(rule, dict) and rule.get(key))
            ]
        selections = plan.get("selections") or {}
        for block, required in (
            ("tags", ("iam_role_arn", "tag_key", "tag_value")),
            ("resources", ("iam_role_arn", "resource_types")),
        ):
            for selection_name, selection in sorted((selections.get(block) or {}).items()):
                missing += [
                    f"selections.{block}.{selection_name}.{key}"
                    for key in required
                    if not (isinstance(selection, dict) and selection.get(key))
                ]
        if selections and not (selections.get("tags") or selections.get("resources")):
            missing.append("selections.tags or selections.resources")
        if missing:
            found.append(
                f"plans.{name} is incomplete (no {', '.join(missing)}): AWS keeps it in the effective policy, but it "
                "does not back up anything until a policy supplies them."
            )
    return found


def for_account(document: dict[str, Any], account_id: str) -> dict[str, Any]:
    """Resolve ``$account`` as AWS does when it creates the plan in the account."""
    return cast(dict[str, Any], json.loads(json.dumps(document).replace("$account", account_id)))


@dataclass(frozen=True)
class AccountPreview:
    ou_id: str
    ou_name: str
    account_id: str
    effective: dict[str, Any]
    refused: tuple[str, ...]


def preview(config: BackupConfig, policies: tuple[RenderedPolicy, ...]) -> list[AccountPreview]:
    """The effective backup policy of every member account, from the policies attached to its OU."""
    previews = []
    for ou in config.target_ous:
        attached = [(p.name, json.loads(p.content)) for p in policies if ou.id in p.target_ous]
        merge = effective_policy([[], attached])  # root: none of ours; the OU: ours
        for account in ou.accounts:
            previews.append(
                AccountPreview(ou.id, ou.name, account, for_account(merge.effective, account), tuple(merge.refused))
            )
    return previews


def _lifecycle_text(lifecycle: dict[str, Any]) -> str:
    """Every lifecycle setting AWS Backup has, rules and copies alike."""
    days = lifecycle.get("delete_after_days")
    text = f"keep {days} days" if days is not None else "no expiry"
    if lifecycle.get("move_to_cold_storage_after_days"):
        text += f", cold storage after {lifecycle['move_to_cold_storage_after_days']}"
    if str(lifecycle.get("opt_in_to_archive_for_supported_resources", "")).lower() == "true":
        text += ", archive for supported resources"
    return text


def _minutes(value: Any) -> str:
    return f"{value} min" if value is not None else "AWS Backup's default"


def plan_lines(effective: dict[str, Any]) -> list[str]:
    lines = []
    plans = effective.get("plans", {})
    if not plans:
        lines.append("    no backup plans")
    for plan_name, plan in sorted(plans.items()):
        lines.append(f"    plan {plan_name}  regions: {', '.join(plan.get('regions', []))}")
        for rule_name, rule in sorted(plan.get("rules", {}).items()):
            continuous = ", continuous" if str(rule.get("enable_continuous_backup", "")).lower() == "true" else ""
            indexed = rule.get("index_actions", {}).get("resource_types", [])
            continuous += f", index {' and '.join(indexed)}" if indexed else ""
            lines.append(
                f"      rule {rule_name}: {rule.get('schedule_expression')}, start within "
                f"{_minutes(rule.get('start_backup_window_minutes'))}, complete within "
                f"{_minutes(rule.get('complete_backup_window_minutes'))}, {_lifecycle_text(rule.get('lifecycle', {}))}"
                f"{continuous}, vault {rule.get('target_backup_vault_name')}"
            )
            if rule.get("target_logically_air_gapped_backup_vault_arn"):
                lines.append(f"        primary target {rule['target_logically_air_gapped_backup_vault_arn']}")
            for target, action in sorted(rule.get("copy_actions", {}).items()):
                lines.append(f"        copy to {target}, {_lifecycle_text(action.get('lifecycle', {}))}")
        for selection_name, selection in sorted(plan.get("selections", {}).get("tags", {}).items()):
            values = ", ".join(selection.get("tag_value", []))
            lines.append(
                f"      selection {selection_name}: tag {selection.get('tag_key')} in [{values}], role "
                f"{selection.get('iam_role_arn')}"
            )
        for selection_name, selection in sorted(plan.get("selections", {}).get("resources", {}).items()):
            tags = [
                f"tag {condition.get('condition_key', '').removeprefix('aws:ResourceTag/')} = "
                f"{condition.get('condition_value')}"
                for condition in selection.get("conditions", {}).get("string_equals", {}).values()
            ]
            lines.append(
                f"      selection {selection_name}: {' and '.join(tags) or 'no tag condition'}, types "
                f"{', '.join(selection.get('resource_types', []))}, role {selection.get('iam_role_arn')}"
            )
    return lines


def render_text(previews: list[AccountPreview]) -> str:
    """Per OU, accounts whose effective policies are the same but for their own account id are shown once, with
    ``<account>`` where each has its own id (thousands of accounts are a few blocks, not thousands)."""
    lines = [
        "Effective backup policies (org-backup's own policies only; policies attached outside org-backup are not "
        "included)."
    ]
    groups: dict[tuple[str, str, str], list[AccountPreview]] = {}
    for item in previews:
        shape = json.dumps(item.effective, sort_keys=True).replace(item.account_id, "<account>")
        groups.setdefault((item.ou_id, shape, "\n".join(item.refused)), []).append(item)
    current_ou = None
    for items in groups.values():
        first = items[0]
        if first.ou_id != current_ou:
            current_ou = first.ou_id
            lines.append(f"\nOU {first.ou_name} ({first.ou_id})")
        if len(items) == 1:
            lines.append(f"  account {first.account_id}")
            lines += plan_lines(first.effective)
        else:
            lines.append(f"  {len(items)} accounts, the same policy each with its own id as <account>:")
            lines.append(f"    {', '.join(i.account_id for i in items)}")
            lines += plan_lines(json.loads(json.dumps(first.effective).replace(first.account_id, "<account>")))
        for refused in first.refused:
            lines.append(f"    refused: {refused}")
    return "\n".join(lines)
