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
)
from pydantic_core import PydanticCustomError, core_schema

from org_backup.config.errors import shown
from org_backup.config.regions import partition_of

MAX_TAGS = 50  # Most AWS resources accept at most 50 user tags.


def fail(rule: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(rule, message, context)


def quoted_string(value: Any, what: str, example: str) -> str:
    if isinstance(value, bool):  # YAML 1.1, which PyYAML reads: unquoted yes/no/on/off/true/false are booleans
        raise fail(
            "not_string",
            f"{shown(value)} must be a quoted string ({what}): YAML reads an unquoted yes, no, on, off, true or false "
            f'as a boolean. Fix: write the value in quotes, e.g. "{example}".',
        )
    if not isinstance(value, str):
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


def check_role_tags(value: dict[str, str]) -> dict[str, str]:
    """Tags that also reach IAM roles (provider default_tags). IAM User Guide, "Tagging IAM resources", Case
    sensitivity: an IAM role's tag keys are not case sensitive, so CreateRole refuses "Duplicate tag keys found.
    Please note that Tag keys are case insensitive." Recovery point and plan tags are not IAM tags: not checked."""
    seen: dict[str, str] = {}
    problems = []
    for key in value:
        if key.lower() in seen:
            problems.append(
                f"keys {shown(seen[key.lower()])} and {shown(key)} differ only in case, which IAM roles refuse"
            )
        seen.setdefault(key.lower(), key)
    if problems:
        raise fail("tags", "; ".join(problems) + ". Fix: rename or remove those tags.")
    return value


RoleTags = Annotated[Tags, AfterValidator(check_role_tags)]
