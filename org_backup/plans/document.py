"""Document-level validation: the rules of ``plan_rules`` applied to raw BACKUP_POLICY JSON (AWS's syntax), so
hand-written or AWS-documented policies can be checked too, and every rendered document is checked once more
before synth."""

from __future__ import annotations

import json
import re
from typing import Any

from org_backup.config.cron import cron_problems
from org_backup.config.errors import Problem
from org_backup.config.resource_types import KNOWN_PATTERNS
from org_backup.config.templates import dumps
from org_backup.plans.model import (
    MAX_COPY_ACTIONS,
    MAX_POLICY_CHARS,
    MAX_RULES,
    MAX_SELECTIONS,
    MAX_TAG_VALUES,
    MAX_WINDOW_MINUTES,
    MIN_START_WINDOW,
    POLICY_TOO_LARGE,
    Lifecycle,
    lifecycle_problems,
)

_OPERATORS = {"@@assign", "@@append", "@@remove"}
_BACKUP_NAME = re.compile(r"[A-Za-z0-9_.-]{1,50}")  # plan and rule names: "1 to 50 alphanumeric or '-_.' characters"
# AWS Backup API reference (e.g. PutBackupVaultAccessPolicy), backupVaultName: "Pattern: ^[a-zA-Z0-9\-\_]{2,50}$".
_VAULT_NAME = re.compile(r"[A-Za-z0-9_-]{2,50}")
# A copy action's key and target: a vault ARN, its Region and account given or the $region / $account placeholders.
_VAULT_ARN = re.compile(r"(?a)arn:aws[a-z-]*:backup:(\$region|[a-z\d-]+):(\$account|\d{12}):backup-vault:[\w-]{2,50}")
# Backup selection elements, Tags: these and "conditions | Tag keys and values you want to include or exclude".
_TAG_SELECTION_KEYS = {"iam_role_arn", "tag_key", "tag_value", "conditions"}
_CHILD_CONTROL = "@@operators_allowed_for_child_policies"
_AIR_GAPPED_TARGET = re.compile(r"arn:aws[a-z-]*:backup:\$region:\$account:backup-vault:[A-Za-z0-9_-]{2,50}")
_INDEXABLE = {"EBS", "S3"}
_PARTITION_PREFIX = re.compile(r"^arn:aws[a-z-]*:")
_RESOURCE_SELECTION_KEYS = {"iam_role_arn", "resource_types", "not_resource_types", "conditions"}
MAX_CONDITIONS = 30  # AWS Organizations, backup policy selections: "Limited to 30 conditions for each selection".
_PLAN_KEYS = {"regions", "rules", "selections", "advanced_backup_settings", "backup_plan_tags", "scan_settings"}
_RULE_KEYS = {
    "schedule_expression",
    "schedule_expression_timezone",
    "start_backup_window_minutes",
    "complete_backup_window_minutes",
    "lifecycle",
    "target_backup_vault_name",
    "target_logically_air_gapped_backup_vault_arn",
    "recovery_point_tags",
    "copy_actions",
    "enable_continuous_backup",
    "index_actions",
    "scan_actions",
}


def _leaf(node: Any, where: str, problems: list[Problem], *, multi: bool = False) -> Any:
    """The value an inheritance operator sets; a bare value is an error (AWS requires an operator on every leaf).

    AWS Organizations User Guide, "Inheritance operators": @@assign "can apply to any policy setting"; @@append and
    @@remove "can be used only with multi-valued settings" (``multi``: JSON arrays); child control operators are
    ["@@all"], ["@@none"] or a list of the value-setting operators."""
    if isinstance(node, dict) and any(str(k).startswith("@@") for k in node):
        for key in sorted(str(k) for k in node if str(k).startswith("@@") and k not in _OPERATORS | {_CHILD_CONTROL}):
            problems.append(
                Problem(where, f"{key!r} is not an inheritance operator. Allowed: {', '.join(sorted(_OPERATORS))}.")
            )
        if _CHILD_CONTROL in node:
            problems += _child_control_problems(node[_CHILD_CONTROL], f"{where}.{_CHILD_CONTROL}")
        if not multi:
            for operator in sorted(node.keys() & {"@@append", "@@remove"}):
                problems.append(
                    Problem(
                        where,
                        f"{operator} can be used only with multi-valued settings (JSON arrays); this setting takes one "
                        "value. Fix: use @@assign.",
                    )
                )
        for operator in ("@@assign", "@@append"):
            if operator in node:
                return node[operator]
        return None  # only @@remove or a child control: nothing set here
    problems.append(
        Problem(
            where, f'{node!r} is not wrapped in an inheritance operator. Fix: write {{"@@assign": {json.dumps(node)}}}.'
        )
    )
    return None


def _child_control_problems(value: Any, where: str) -> list[Problem]:
    allowed = ("@@assign", "@@append", "@@remove")
    if value in (["@@all"], ["@@none"]) or (
        isinstance(value, list) and value and all(v in allowed for v in value) and len(set(value)) == len(value)
    ):
        return []
    return [
        Problem(
            where,
            f'{value!r} must be ["@@all"], ["@@none"] or a list of {", ".join(allowed)} (AWS, "Inheritance operators").',
        )
    ]


def _object(node: Any, where: str, problems: list[Problem], *, names: str) -> dict[str, Any]:
    """``node`` when it is a JSON object, else a problem and {}: every named part of a backup policy (plans, rules,
    copy actions, selections, conditions) is an object keyed by its name ("Backup policy syntax and examples").
    A child control beside the names is checked and left out of them: AWS's example 3 puts
    ``"@@operators_allowed_for_child_policies": ["@@none"]`` "at every node of the policy"."""
    if isinstance(node, dict):
        if _CHILD_CONTROL in node:
            problems += _child_control_problems(node[_CHILD_CONTROL], f"{where}.{_CHILD_CONTROL}")
        return {k: v for k, v in node.items() if k != _CHILD_CONTROL}
    hint = (
        f' AWS Backup\'s plan JSON lists them; a backup policy names each: {{"<{names}>": {{...}}}}.'
        if isinstance(node, list)
        else f' Fix: write {{"<{names}>": {{...}}}}.'
    )
    problems.append(Problem(where, f"must be an object keyed by {names}, not {_kind(node)}.{hint}"))
    return {}


def _strings(value: Any, where: str, problems: list[Problem]) -> list[str]:
    """A list-valued setting's value (regions, tag values, resource types): a JSON list of strings."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, str):
        problems.append(Problem(where, f'{value!r} must be a list of strings. Fix: write ["{value}"].'))
    else:
        problems.append(Problem(where, f"must be a list of strings, not {_kind(value)}."))
    return []


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _number(node: Any, where: str, problems: list[Problem]) -> int | None:
    value = _leaf(node, where, problems)
    if value is None:
        if isinstance(node, dict) and "@@assign" in node:
            problems.append(Problem(where, 'null is not a number of days. Fix: write {"@@assign": "<days>"}.'))
        return None
    if isinstance(value, bool) or not str(value).isdigit():
        problems.append(Problem(where, f"{value!r} is not a whole number (AWS expects a number as a string)."))
        return None
    return int(value)


def _doc_lifecycle(node: Any, where: str, problems: list[Problem], *, continuous: bool) -> int | None:
    if not isinstance(node, dict):
        problems.append(Problem(where, "must be an object."))
        return None
    delete = (
        _number(node["delete_after_days"], f"{where}.delete_after_days", problems)
        if "delete_after_days" in node
        else None
    )
    cold_node = node.get("move_to_cold_storage_after_days")
    cold = _number(cold_node, f"{where}.move_to_cold_storage_after_days", problems) if cold_node is not None else None
    lifecycle = Lifecycle(delete_after_days=delete, move_to_cold_storage_after_days=cold)
    problems += lifecycle_problems(where, lifecycle, continuous=continuous)
    return delete


def validate_policy_document(
    document: Any,
    *,
    allowed_regions: tuple[str, ...] | None = None,
    allowed_copy_targets: set[str] | None = None,
) -> list[Problem]:
    """Problems of one BACKUP_POLICY document in AWS syntax (empty when valid).

    ``allowed_regions`` / ``allowed_copy_targets`` add this project's context (target Regions, vaults it
    creates); without them only AWS's own rules apply.
    """
    from org_backup.config.regions import partition_of

    problems: list[Problem] = []
    size = len(dumps(document))
    if size > MAX_POLICY_CHARS:
        problems.append(
            Problem(
                "", f"is {size} characters minified; AWS Organizations allows {MAX_POLICY_CHARS}.", POLICY_TOO_LARGE
            )
        )
    plans = document.get("plans") if isinstance(document, dict) else None
    if not isinstance(plans, dict) or not set(plans) - {_CHILD_CONTROL}:
        return [*problems, Problem("plans", "is missing or empty: a backup policy holds at least one plan.")]
    for plan_name, plan in _object(plans, "plans", problems, names="plan name").items():
        at = f"plans.{plan_name}"
        if not isinstance(plan, dict):
            problems.append(Problem(at, "must be an object."))
            continue
        if not _BACKUP_NAME.fullmatch(plan_name):
            problems.append(
                Problem(
                    at,
                    f"{plan_name!r} is not a valid backup plan name (AWS Backup: 1-50 letters, digits, '-', '_' or "
                    "'.'; org-backup appends '-<region>' and '-<rule>' when it splits a plan). Fix: shorten the plan "
                    "or rule name.",
                )
            )
        for key in sorted(set(plan) - _PLAN_KEYS - {_CHILD_CONTROL}):
            problems.append(Problem(f"{at}.{key}", f"unknown plan element. Allowed: {', '.join(sorted(_PLAN_KEYS))}."))
        regions = _leaf(plan["regions"], f"{at}.regions", problems, multi=True) if "regions" in plan else None
        for region in _strings(regions, f"{at}.regions", problems) if regions is not None else []:
            if partition_of(region) is None and region != "$region":
                problems.append(Problem(f"{at}.regions", f"{region!r} is not an AWS Region code."))
            elif allowed_regions is not None and region not in allowed_regions:
                problems.append(
                    Problem(f"{at}.regions", f"{region!r} is not a target Region ({', '.join(allowed_regions)}).")
                )
        rules = _object(plan.get("rules", {}), f"{at}.rules", problems, names="rule name")
        if len(rules) > MAX_RULES:
            problems.append(Problem(f"{at}.rules", f"{len(rules)} rules; at most {MAX_RULES}."))
        for rule_name, rule in rules.items():
            if not _BACKUP_NAME.fullmatch(str(rule_name)):
                problems.append(
                    Problem(
                        f"{at}.rules.{rule_name}",
                        "is not a valid backup rule name (AWS Backup: 1 to 50 letters, digits, '-', '_' or '.').",
                    )
                )
            problems += _doc_rule_problems(f"{at}.rules.{rule_name}", rule, allowed_copy_targets)
        if "advanced_backup_settings" in plan:
            problems += _advanced_settings_problems(f"{at}.advanced_backup_settings", plan["advanced_backup_settings"])
        problems += _selection_problems(f"{at}.selections", plan.get("selections", {}))
    return problems


def _selection_problems(at: str, selections: Any) -> list[Problem]:
    """AWS Organizations User Guide, backup policy syntax, selections: "two mutually exclusive elements: tags and
    resources"; a ``resources`` selection needs ``resource_types`` from AWS's list of supported types; "Limited to 30
    conditions for each selection"."""
    if not isinstance(selections, dict):
        return [Problem(at, "must be an object with 'tags' or 'resources'.")]
    problems: list[Problem] = []
    if {"tags", "resources"} <= selections.keys():
        problems.append(Problem(at, "has both 'tags' and 'resources'; AWS allows one of them (mutually exclusive)."))
    for block in ("tags", "resources"):
        entries = _object(selections.get(block, {}), f"{at}.{block}", problems, names="selection name")
        if len(entries) > MAX_SELECTIONS:
            problems.append(Problem(f"{at}.{block}", f"{len(entries)} selections; at most {MAX_SELECTIONS}."))
        for sel_name, node in entries.items():
            where = f"{at}.{block}.{sel_name}"
            if not isinstance(node, dict):
                problems.append(Problem(where, f"must be an object (the selection's settings), not {_kind(node)}."))
                continue
            selection: dict[str, Any] = node
            if "iam_role_arn" in selection:
                _leaf(selection["iam_role_arn"], f"{where}.iam_role_arn", problems)
            if block == "tags":
                for key in sorted(set(selection) - _TAG_SELECTION_KEYS - {_CHILD_CONTROL}):
                    problems.append(
                        Problem(
                            f"{where}.{key}", f"unknown element. Allowed: {', '.join(sorted(_TAG_SELECTION_KEYS))}."
                        )
                    )
                if "tag_key" in selection:
                    _leaf(selection["tag_key"], f"{where}.tag_key", problems)
                values = _leaf(selection.get("tag_value"), f"{where}.tag_value", problems, multi=True)
                values = _strings(values, f"{where}.tag_value", problems) if values is not None else None
                if values is not None and len(values) > MAX_TAG_VALUES:
                    problems.append(Problem(f"{where}.tag_value", f"{len(values)} values; at most {MAX_TAG_VALUES}."))
                continue
            for key in sorted(set(selection) - _RESOURCE_SELECTION_KEYS - {_CHILD_CONTROL}):
                problems.append(
                    Problem(
                        f"{where}.{key}", f"unknown element. Allowed: {', '.join(sorted(_RESOURCE_SELECTION_KEYS))}."
                    )
                )
            if "resource_types" not in selection:
                problems.append(Problem(f"{where}.resource_types", "is required in a 'resources' selection."))
            for key in ("resource_types", "not_resource_types"):
                patterns = _leaf(selection[key], f"{where}.{key}", problems, multi=True) if key in selection else None
                for pattern in _strings(patterns, f"{where}.{key}", problems) if patterns is not None else []:
                    if pattern != "*" and _PARTITION_PREFIX.sub("", str(pattern)) not in KNOWN_PATTERNS:
                        problems.append(
                            Problem(
                                f"{where}.{key}",
                                f"{pattern!r} is not one of the resource types AWS Organizations supports here (e.g. "
                                "arn:aws:ec2:*:*:volume/*, or '*').",
                            )
                        )
            conditions = _object(selection.get("conditions", {}), f"{where}.conditions", problems, names="condition")
            count = sum(len(named) for named in conditions.values() if isinstance(named, dict))
            if count > MAX_CONDITIONS:
                problems.append(Problem(f"{where}.conditions", f"{count} conditions; at most {MAX_CONDITIONS}."))
    return problems


def _doc_rule_problems(at: str, rule: Any, allowed_copy_targets: set[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(rule, dict):
        return [Problem(at, "must be an object.")]
    for key in sorted(set(rule) - _RULE_KEYS - {_CHILD_CONTROL}):
        problems.append(Problem(f"{at}.{key}", "unknown rule element (see AWS's backup policy syntax)."))
    if "schedule_expression" in rule:
        schedule = _leaf(rule["schedule_expression"], f"{at}.schedule_expression", problems)
        if schedule is not None:
            problems += [Problem(f"{at}.schedule_expression", p) for p in cron_problems(str(schedule))]
    start = (
        _number(rule["start_backup_window_minutes"], f"{at}.start_backup_window_minutes", problems)
        if "start_backup_window_minutes" in rule
        else None
    )
    complete = (
        _number(rule["complete_backup_window_minutes"], f"{at}.complete_backup_window_minutes", problems)
        if "complete_backup_window_minutes" in rule
        else None
    )
    if start is not None and not MIN_START_WINDOW <= start <= MAX_WINDOW_MINUTES:
        problems.append(
            Problem(f"{at}.start_backup_window_minutes", f"{start} is outside {MIN_START_WINDOW}-{MAX_WINDOW_MINUTES}.")
        )
    if complete is not None and not (start or MIN_START_WINDOW) < complete <= MAX_WINDOW_MINUTES:
        problems.append(
            Problem(
                f"{at}.complete_backup_window_minutes",
                f"{complete} must exceed the start window ({start or MIN_START_WINDOW}) and be at most {MAX_WINDOW_MINUTES}.",
            )
        )
    continuous = (
        "enable_continuous_backup" in rule
        and str(_leaf(rule["enable_continuous_backup"], f"{at}.enable_continuous_backup", problems)).lower() == "true"
    )
    if "lifecycle" in rule:
        _doc_lifecycle(rule["lifecycle"], f"{at}.lifecycle", problems, continuous=continuous)
    if "target_backup_vault_name" in rule:
        vault = _leaf(rule["target_backup_vault_name"], f"{at}.target_backup_vault_name", problems)
        if vault is not None and not (isinstance(vault, str) and _VAULT_NAME.fullmatch(vault)):
            problems.append(
                Problem(
                    f"{at}.target_backup_vault_name",
                    f"{vault!r} is not a backup vault name (AWS Backup: 2 to 50 letters, digits, '-' or '_').",
                )
            )
    problems += _air_gapped_target_problems(at, rule)
    problems += _index_action_problems(at, rule)
    copies = _object(rule.get("copy_actions", {}), f"{at}.copy_actions", problems, names="target vault ARN")
    if len(copies) > MAX_COPY_ACTIONS:
        problems.append(Problem(f"{at}.copy_actions", f"{len(copies)} copy actions; at most {MAX_COPY_ACTIONS}."))
    for key, copy in copies.items():
        where = f"{at}.copy_actions.{key}"
        if not _VAULT_ARN.fullmatch(str(key)):
            problems.append(
                Problem(
                    where,
                    "a copy action is keyed by its target vault's ARN (arn:aws:backup:<region or $region>:<account or "
                    "$account>:backup-vault:<name>).",
                )
            )
        if not isinstance(copy, dict):
            problems.append(Problem(where, f"must be an object (the copy's settings), not {_kind(copy)}."))
            continue
        # "target_backup_vault_arn ... If this key is missing, then an all lower-case version of the ARN in the
        # parent key name is used" (AWS Organizations User Guide, backup policy syntax, copy_actions).
        target = (
            _leaf(copy["target_backup_vault_arn"], f"{where}.target_backup_vault_arn", problems)
            if "target_backup_vault_arn" in copy
            else None
        )
        if target is not None and target != key:
            problems.append(
                Problem(where, f"key differs from target_backup_vault_arn {target!r}; AWS requires them to be equal.")
            )
        if allowed_copy_targets is not None and key not in allowed_copy_targets:
            problems.append(Problem(where, "is not a vault org-backup creates (central vault or a member vault)."))
        if "lifecycle" in copy:
            _doc_lifecycle(copy["lifecycle"], f"{where}.lifecycle", problems, continuous=False)
    return problems


def _advanced_settings_problems(where: str, node: Any) -> list[Problem]:
    """``advanced_backup_settings``: per resource type, options set to "enabled" or "disabled". Backup policy syntax:
    "Supported resource types are "ec2" and "s3"", ec2 ``windows_vss``, s3 ``backup_acls`` and
    ``backup_object_tags``; AWS's 2023 examples spelled the EC2 option ``WindowsVSS`` (AdvancedBackupSetting's own
    name), accepted too."""
    options = {"ec2": {"windows_vss", "WindowsVSS"}, "s3": {"backup_acls", "backup_object_tags"}}
    expected = (
        'must be {"ec2": {"windows_vss": ...}} and/or {"s3": {"backup_acls": ..., "backup_object_tags": ...}}, each '
        '{"@@assign": "enabled" or "disabled"}'
    )
    if not isinstance(node, dict) or not set(node) - {_CHILD_CONTROL} <= set(options):
        return [Problem(where, f"{expected} (the advanced settings AWS Backup has).")]
    problems: list[Problem] = []
    for kind, settings in node.items():
        if kind == _CHILD_CONTROL:
            continue
        if not isinstance(settings, dict) or not set(settings) - {_CHILD_CONTROL} <= options[kind]:
            problems.append(Problem(f"{where}.{kind}", f"{expected}."))
            continue
        for option, setting in settings.items():
            if option == _CHILD_CONTROL:
                continue
            value = _leaf(setting, f"{where}.{kind}.{option}", problems)
            if value is not None and value not in ("enabled", "disabled"):
                problems.append(Problem(f"{where}.{kind}.{option}", f"{value!r}: {expected}."))
    return problems


def _air_gapped_target_problems(at: str, rule: dict[str, Any]) -> list[Problem]:
    """``target_logically_air_gapped_backup_vault_arn`` names a vault of the resource's own account and Region:
    "The ARN must use the special placeholders $region and $account" (AWS Organizations User Guide, backup policy
    syntax, rules)."""
    if "target_logically_air_gapped_backup_vault_arn" not in rule:
        return []
    where = f"{at}.target_logically_air_gapped_backup_vault_arn"
    problems: list[Problem] = []
    arn = _leaf(rule["target_logically_air_gapped_backup_vault_arn"], where, problems)
    if arn is not None and not _AIR_GAPPED_TARGET.fullmatch(str(arn)):
        problems.append(
            Problem(
                where,
                f"{arn!r} is not arn:<partition>:backup:$region:$account:backup-vault:<name>: AWS requires the "
                "$region and $account placeholders (the vault is in each account and Region the plan runs in).",
            )
        )
    return problems


def _index_action_problems(at: str, rule: dict[str, Any]) -> list[Problem]:
    """``index_actions.resource_types``: "resource types supported for indexing are Amazon EBS and Amazon S3" (AWS
    Organizations User Guide, backup policy syntax, rules)."""
    if "index_actions" not in rule:
        return []
    where = f"{at}.index_actions"
    node = rule["index_actions"]
    if not isinstance(node, dict) or set(node) - {"resource_types", _CHILD_CONTROL} or "resource_types" not in node:
        return [Problem(where, 'must be {"resource_types": {"@@assign": [...]}} (AWS\'s backup policy syntax).')]
    problems: list[Problem] = []
    types = _leaf(node["resource_types"], f"{where}.resource_types", problems, multi=True)
    if types is not None and (
        not isinstance(types, list)
        or not types
        or not all(isinstance(t, str) for t in types)
        or set(types) - _INDEXABLE
    ):
        problems.append(
            Problem(
                f"{where}.resource_types",
                f"{types!r}: AWS Backup indexes {' and '.join(sorted(_INDEXABLE))} backups only. Fix: list one or both.",
            )
        )
    return problems
