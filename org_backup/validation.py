"""Validation building blocks shared by every input file: the strict base model, AWS id/name/Region types whose
errors name the rule and the fix, and the conversion of pydantic errors into ``Problem`` lines."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
)
from pydantic_core import PydanticCustomError, core_schema

from org_backup.errors import Problem, shown
from org_backup.regions import partition_of

MAX_TAGS = 50  # Most AWS resources accept at most 50 user tags.


def fail(rule: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(rule, message, context)


def quoted_string(value: Any, what: str, example: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        raise fail(
            "not_string",
            f"{shown(value)} must be a quoted string ({what}). YAML reads an unquoted number as an integer and drops "
            f'leading zeros. Fix: write it in quotes: "{getattr(value, "yaml_text", None) or example}".',
        )
    return value


class _Pattern:
    """A string format checked whole, before anything else, with a message that names the rule and the fix; and the
    same format, anchored, as the field's "pattern" in the JSON schemas editors read (backup.schema.json)."""

    def __init__(self, regex: str, what: str, rule: str, fix: str, example: str) -> None:
        self.regex, self.compiled = regex, re.compile(regex)
        self.what, self.rule, self.fix, self.example = what, rule, fix, example

    def check(self, value: Any) -> str:
        text = quoted_string(value, self.what, self.example)
        if not self.compiled.fullmatch(text):
            raise fail("pattern", f"{shown(text)} is not {self.what} ({self.rule}). Fix: {self.fix}")
        return text

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        found: dict[str, Any] = handler(schema)
        found["pattern"] = f"^(?:{self.regex})$"
        return found


def with_pattern(regex: str, what: str, rule: str, fix: str, example: str) -> Any:
    return _Pattern(regex, what, rule, fix, example)


AccountId = Annotated[
    str,
    with_pattern(
        r"\d{12}",
        "an AWS account id",
        "exactly 12 digits",
        "copy the id from the Organizations console, keeping leading zeros.",
        "012345678901",
    ),
]
OrgId = Annotated[
    str,
    with_pattern(
        r"o-[a-z0-9]{10,32}",
        "an AWS Organizations id",
        "'o-' followed by 10-32 lowercase letters or digits",
        "run `aws organizations describe-organization --query Organization.Id`.",
        "o-a1b2c3d4e5",
    ),
]
OuId = Annotated[
    str,
    with_pattern(
        r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}",
        "an organizational unit id",
        "'ou-' + 4-32 lowercase letters or digits + '-' + 8-32 lowercase letters or digits",
        "run `aws organizations list-organizational-units-for-parent`.",
        "ou-ab12-cdef3456",
    ),
]


def _check_region(value: Any) -> str:
    text = quoted_string(value, "an AWS Region code", "eu-west-1")
    if partition_of(text) is None:
        raise fail(
            "region",
            f"{shown(text)} is not an AWS Region code known to botocore (rule: a Region such as 'eu-west-1'). "
            "Fix: correct the spelling, or upgrade botocore if the Region is newer than the pinned version.",
        )
    return text


Region = Annotated[str, BeforeValidator(_check_region)]

VaultName = Annotated[
    str,
    with_pattern(
        r"[A-Za-z0-9_-]{2,50}",
        "a valid backup vault name",
        "AWS Backup: 2-50 characters, letters, digits, '-' and '_'",
        "shorten it or remove other characters.",
        "OrgBackupVault",
    ),
]


def _check_alias(value: Any) -> str:
    text = quoted_string(value, "a KMS alias", "alias/org-backup")
    if not re.fullmatch(r"alias/[A-Za-z0-9/_-]{1,250}", text):
        raise fail(
            "kms_alias",
            f"{shown(text)} is not a valid KMS alias (AWS KMS: 'alias/' + 1-250 letters, digits, '/', '_' or '-'). "
            "Fix: e.g. 'alias/org-backup/vault'.",
        )
    if text.startswith("alias/aws/"):
        raise fail(
            "kms_alias",
            f"{shown(text)} uses the prefix 'alias/aws/' that AWS KMS reserves for AWS managed keys. "
            "Fix: choose another prefix, e.g. 'alias/org-backup/'.",
        )
    return text


KmsAlias = Annotated[str, BeforeValidator(_check_alias)]

RoleName = Annotated[
    str,
    with_pattern(
        r"[\w+=,.@-]{1,64}",
        "a valid IAM role name",
        "IAM: 1-64 characters, letters, digits and '+=,.@_-'",
        "shorten it or remove other characters.",
        "OrgBackupDeployRole",
    ),
]

BucketName = Annotated[
    str,
    with_pattern(
        r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
        "a valid S3 bucket name",
        "S3: 3-63 characters, lowercase letters, digits, '.' and '-', starting and ending with a letter or digit",
        "use lowercase and remove other characters.",
        "acme-org-backup-tfstate",
    ),
]

# A CodeCommit approval pool member, by fully qualified ARN ("an IAM user or role", CodeCommit API reference,
# CreateApprovalRuleTemplate: approvalRuleTemplateContent): an IAM user, a federated user, or the sessions of a role
# ("assumed-role/<role>/*"). The shorter "CodeCommitApprovers" form (account + name) is not accepted: it matches
# any user or federated user of that name, which is too easy to get wrong for the only human gate on a deploy.
ReviewerArn = Annotated[
    str,
    with_pattern(
        r"arn:aws[a-z-]*:(iam::\d{12}:user/[\w+=,.@/-]{1,512}"
        r"|sts::\d{12}:(assumed-role/[\w+=,.@-]{1,64}/([\w+=,.@-]{2,64}|\*)|federated-user/[\w+=,.@-]{2,32}))",
        "a reviewer ARN for a CodeCommit approval pool",
        "the fully qualified ARN of an IAM user (arn:aws:iam::<account>:user/<name>), of a role's sessions "
        "(arn:aws:sts::<account>:assumed-role/<role>/*) or of a federated user",
        "name the people who review, e.g. arn:aws:sts::123456789012:assumed-role/Reviewers/* for everyone who "
        "assumes your reviewers' role in the home account.",
        "arn:aws:sts::123456789012:assumed-role/Reviewers/*",
    ),
]
# An aws:PrincipalArn value: the ARN of a role (with its path) or a user; "*" may stand for part of a name, e.g.
# the generated suffix of an IAM Identity Center role (IAM User Guide, aws:PrincipalArn: "For IAM roles, the
# request context returns the ARN of the role, not the ARN of the user that assumed the role").
PrincipalArnPattern = Annotated[
    str,
    with_pattern(
        r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/*-]{1,512}",
        "an IAM role or user ARN (as aws:PrincipalArn reports it)",
        "arn:aws:iam::<account>:role/<path/name> or arn:aws:iam::<account>:user/<name>; '*' may stand for part of a "
        "name",
        "for a role session use the role's ARN, e.g. arn:aws:iam::123456789012:role/Admin (not the "
        "arn:aws:sts::...:assumed-role/... form `aws sts get-caller-identity` prints).",
        "arn:aws:iam::123456789012:role/Admin",
    ),
]

_TAG_CHARS = re.compile(r"[\w .:/=+\-@]*", re.UNICODE)


EmailAddress = Annotated[
    str,
    with_pattern(
        r"[^@\s]+@[^@\s]+\.[^@\s]+",
        "an email address",
        "one '@' and a domain with a dot, no spaces",
        "write one full address per list item, e.g. backup-alerts@example.com.",
        "backup-alerts@example.com",
    ),
]


def non_empty(what: str, fix: str) -> Any:
    """For a list where an empty one is accepted by the type but does nothing: refused with what it would mean."""

    def check(value: tuple[Any, ...]) -> tuple[Any, ...]:
        if not value:
            raise fail("empty", f"[] {what}. Fix: {fix}")
        return value

    return AfterValidator(check)


HttpsUrl = Annotated[
    str,
    with_pattern(
        r"https://[^\s/?#]+[^\s]*",
        "an HTTPS URL",
        "Amazon SNS https subscriptions: 'https://' and a host",
        "use the https:// address of the endpoint (plain http is refused: alerts name resources and accounts).",
        "https://hooks.example.com/backup-alerts",
    ),
]


def check_tags(value: dict[str, str]) -> dict[str, str]:
    problems = []
    if len(value) > MAX_TAGS:
        problems.append(f"{len(value)} tags given; AWS allows at most {MAX_TAGS} per resource")
    for key, tag_value in value.items():
        if not 1 <= len(key) <= 128 or not _TAG_CHARS.fullmatch(key):
            problems.append(f"key {shown(key)} must be 1-128 letters, digits, spaces or '_.:/=+-@'")
        elif key.lower().startswith("aws:"):
            problems.append(f"key {shown(key)} uses the prefix 'aws:' that AWS reserves")
        if len(tag_value) > 256 or not _TAG_CHARS.fullmatch(tag_value):
            problems.append(
                f"value {shown(tag_value)} of {shown(key)} must be 0-256 letters, digits, spaces or '_.:/=+-@'"
            )
    if problems:
        raise fail("tags", "; ".join(problems) + ". Fix: rename or remove those tags.")
    return value


def duplicates(items: tuple[str, ...]) -> list[tuple[int, str]]:
    """(index, item) of every repeat of an earlier item: what cross-field rules report as listed twice."""
    seen: set[str] = set()
    dups = []
    for index, item in enumerate(items):
        if item in seen:
            dups.append((index, item))
        seen.add(item)
    return dups


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


Tags = Annotated[dict[str, str], AfterValidator(check_tags)]


def _is_union_member(part: Any) -> bool:
    """pydantic names the union member it tried in the path, e.g. "literal['all']" or "tuple[...]"."""
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def problems_from_validation_error(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """Every pydantic error as a Problem.

    A list made "too short" by its invalid item reports only the item; for a union such as ``'all' | [ids]`` the
    error of the member that was meant is kept, not "should be 'all'" as well.
    """
    errors = exc.errors()
    errors = [
        e for e in errors if not (e["type"] == "too_short" and any(_is_below(o["loc"], e["loc"]) for o in errors))
    ]

    def union_prefix(err: Any) -> tuple[Any, ...] | None:
        for index, part in enumerate(err["loc"]):
            # a member with an after-validator (a non-empty list) is named "function-after[...]"; a before-validated
            # type inside a member ("function-before[...]") is not itself the member
            if _is_union_member(part) and not str(part).startswith("function-before"):
                return tuple(err["loc"][:index])
        return None

    # A word where a word or a list may stand ('ALL' for target_ous: 'all' | [ids]): not "must be a list" but the word.
    words = {union_prefix(e): e for e in errors if e["type"] == "literal_error" and isinstance(e.get("input"), str)}
    misspelt = {
        prefix for e in errors if e["type"] in ("list_type", "tuple_type") and (prefix := union_prefix(e)) in words
    }
    specific = {union_prefix(e) for e in errors if e["type"] != "literal_error" and union_prefix(e) is not None}
    problems = [_misspelt_word(words[prefix]) for prefix in misspelt]
    errors = [
        e
        for e in errors
        if union_prefix(e) not in misspelt and not (e["type"] == "literal_error" and union_prefix(e) in specific)
    ]
    return problems + [_problem_from_pydantic(err, root) for err in errors]


def _misspelt_word(err: Any) -> Problem:
    value, expected = err["input"], err.get("ctx", {}).get("expected", "")
    field = _path(tuple(p for p in err["loc"] if not _is_union_member(p)))
    words = re.findall(r"'([^']*)'", expected)
    same = next((w for w in words if w.lower() == value.strip().lower()), None)
    fix = f"write {same} (in lower case)." if same else f"write {expected}, or a list as [a, b] or lines starting '- '."
    return Problem(field, f"{shown(value)} is neither {expected} nor a list. Fix: {fix}")


def _is_below(loc: tuple[Any, ...], parent: tuple[Any, ...]) -> bool:
    return len(loc) > len(parent) and tuple(loc[: len(parent)]) == tuple(parent)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if _is_union_member(part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the field at ``loc`` (used to list the allowed keys of an unknown key)."""
    candidates: list[type[BaseModel]] = [root]
    key_next = False  # the previous field was a dict: this part is one of its keys, not a field
    for part in loc:
        if isinstance(part, int) or _is_union_member(part):
            continue
        if key_next:
            key_next = False
            continue
        # In a discriminated union pydantic puts the tag value (e.g. "s3") in the path.
        tagged = [m for m in candidates if m.model_fields.get("type") and m.model_fields["type"].default == part]
        if tagged:
            candidates = tagged
            continue
        owner = next((m for m in candidates if part in m.model_fields), None)
        if owner is None:
            return None
        annotation = owner.model_fields[part].annotation
        key_next = getattr(annotation, "__origin__", None) is dict
        candidates = _models_in(annotation)
        if not candidates:
            return None
    return candidates[0] if len(candidates) == 1 else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _models_in(arg)
    return found


# pydantic's type errors, as someone editing YAML reads them, each with its fix.
_TYPE_FIXES = {
    "list_type": "must be a list. Fix: write it as [a, b] or as lines starting with '- '.",
    "tuple_type": "must be a list. Fix: write it as [a, b] or as lines starting with '- '.",
    "dict_type": "must be a mapping of keys to values. Fix: write 'key: value' lines indented under it.",
    "model_type": "must be a mapping of keys to values. Fix: write 'key: value' lines indented under it.",
    "int_parsing": "is not a whole number. Fix: write digits only, e.g. 35.",
    "int_type": "is not a whole number. Fix: write digits only, e.g. 35.",
    "int_from_float": "is not a whole number. Fix: drop the fraction, e.g. 35.",
    "bool_parsing": "is not true or false. Fix: write true or false.",
    "bool_type": "is not true or false. Fix: write true or false.",
    "string_type": "is not text. Fix: quote it.",
}


def _problem_from_pydantic(err: Any, root: type[BaseModel]) -> Problem:
    loc = tuple(p for p in err["loc"] if not _is_union_member(p))
    field = _path(loc)
    kind = err["type"]
    value = err.get("input")
    if kind == "missing":
        example = getattr(root, "example_file", "backup.yaml")  # the file that shows this model filled in
        fix = getattr(root, "missing_fixes", {}).get(field) or f"add '{loc[-1]}' (see {example} for an example)."
        return Problem(field, f"is required but missing. Fix: {fix}")
    if kind == "extra_forbidden":
        owner = _model_at(root, loc[:-1])
        retired = getattr(owner, "retired_keys", {}).get(loc[-1]) if owner else None
        if retired:
            return Problem(field, retired)
        allowed = ", ".join(sorted(owner.model_fields)) if owner else "see backup.schema.json"
        return Problem(
            field, f"unknown key {loc[-1]!r}. Fix: remove it or correct the spelling; allowed keys here: {allowed}."
        )
    if kind == "too_short":
        need = err.get("ctx", {}).get("min_length", 1)
        return Problem(field, f"{shown(value)} is too short: at least {need} required. Fix: add the missing entries.")
    if kind == "too_long":
        limit = err.get("ctx", {}).get("max_length")
        return Problem(field, f"{shown(value)} is too long: at most {limit} allowed. Fix: shorten it.")
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return Problem(field, "'type' must be 'local' or 's3'. Fix: set type: local (default) or type: s3.")
    if kind.startswith(("pattern", "not_string", "region", "kms_alias", "tags", "schedule", "timezone", "empty")):
        return Problem(field, err["msg"])
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return Problem(
            field, f"{shown(value)} is not one of the allowed values. Fix: use one of {expected} (spelled exactly so)."
        )
    bounds = err.get("ctx", {})
    if kind == "greater_than_equal":
        return Problem(
            field, f"{shown(value)} is below the minimum {bounds.get('ge')}. Fix: use {bounds.get('ge')} or more."
        )
    if kind == "less_than_equal":
        return Problem(
            field, f"{shown(value)} is above the maximum {bounds.get('le')}. Fix: use {bounds.get('le')} or less."
        )
    if kind in _TYPE_FIXES:
        return Problem(field, f"{shown(value)} {_TYPE_FIXES[kind]}")
    return Problem(field, f"{shown(value)}: {err['msg']}. Fix: see backup.schema.json for what this field takes.")
