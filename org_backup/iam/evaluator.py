"""AWS authorization as AWS documents it: the oracle tests use to prove who can (not) do what, without calling AWS.

Rules cite their pages: IAM/ = https://docs.aws.amazon.com/IAM/latest/UserGuide/, ORG/ =
https://docs.aws.amazon.com/organizations/latest/userguide/, KMS/ = https://docs.aws.amazon.com/kms/latest/developerguide/.
Modelled: explicit Deny wins; identity and resource policies within an account and across accounts; principals: account
root, IAM user, IAM role (a session with session_name), service principal; SCPs level by level (management account and
service-linked roles exempt); permissions boundaries; KMS key policies and role trust policies, which must always allow;
Principal/NotPrincipal, Action/NotAction, Resource/NotResource; every condition operator with ...IfExists, Null and
ForAllValues/ForAnyValue; policy variables. ValueError where the pages leave the outcome open or AWS refuses the policy.
NOT modelled:
- session policies
- resource control policies (RCPs)
- VPC endpoint policies
- permissions a service checks behind an API call (iam:PassRole, a service's own calls to KMS or S3): the caller
  asks for each (tests/rehearsal/moto_authz.py does, with the page that names it)
- service principals acting on their own (AWS Backup copying, EventBridge invoking): only as requesters a resource
  policy names, never what the service then does with its own role
- AWS STS federated-user, SAML and web-identity sessions; anonymous requests; S3 ACLs; KMS grants
- context keys AWS takes from the wire (aws:SecureTransport, aws:SourceIp, aws:CurrentTime...): pass them in
- service-specific rules beyond KMS's and IAM trust policies' (e.g. other services whose resource policy must allow)
- eventual consistency of IAM and Organizations
- quotas and policy size limits
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import eq, ge, gt, le, lt
from typing import Any, TypeAlias

ContextValue: TypeAlias = str | bool | int | float | Sequence[str]
Chars: TypeAlias = list[tuple[str, bool]]  # a policy string after variable substitution: (character, is a wildcard)
Hit: TypeAlias = tuple[str, str, str]  # a statement that applies: (Effect, Sid, how its Principal names the requester)

_ACCOUNT_ID, _VARIABLE = re.compile(r"\d{12}"), re.compile(r"\$\{([^}]*)\}")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?")
_ELEMENTS = {"Sid", "Effect", "Condition"} | {n + e for n in ("", "Not") for e in ("Action", "Resource", "Principal")}
_DERIVED = ("kind", "is_service", "account", "root_arn", "session_arn", "is_service_linked_role")
_FAMILIES = ("String", "Arn", "Bool", "Numeric", "Date", "Binary", "IpAddress")
_ORDER = dict(Equals=eq, LessThan=lt, LessThanEquals=le, GreaterThan=gt, GreaterThanEquals=ge)
_PRINCIPAL_TYPES = {"AWS", "Service", "Federated", "CanonicalUser"}
_RANK = {"account": 1, "role": 2, "service": 3, "direct": 3}
# IAM/reference_policies_elements_condition_operators.html: the operators, and IfExists on any "except the Null condition".
_OPERATOR = re.compile(
    r"(String(Not)?(Equals(IgnoreCase)?|Like)|(Numeric|Date)((Not)?Equals|(Less|Greater)Than(Equals)?)|Bool"
    r"|BinaryEquals|(Not)?IpAddress|Arn(Not)?(Equals|Like))(IfExists)?|Null"
)
# KMS/key-policy-modifying-external-accounts.html: "Cross-account permission is effective only for" the cryptographic
# operations (KMS/concepts.html; ReEncrypt is ReEncryptFrom/To; DeriveSharedSecret: API reference) and these others.
_KMS_CROSS_ACCOUNT = re.compile(
    r"(?i)kms:(Decrypt|Encrypt|GenerateDataKey(Pair)?(WithoutPlaintext)?|GenerateMac|ReEncrypt(From|To)|Sign|Verify(Mac)?"
    r"|DeriveSharedSecret|CreateGrant|DescribeKey|GetKeyRotationStatus|GetPublicKey|ListGrants|RetireGrant|RevokeGrant)"
)
# IAM/reference_policies_evaluation-logic_policy-eval-denyallow.html: "IAM role trust policies and KMS key policies
# ... must explicitly allow access for principals"; a role's trust policy authorizes these STS actions.
_TRUST_POLICY_ACTIONS = re.compile(r"sts:(AssumeRole(WithSAML|WithWebIdentity)?|TagSession)", re.I)


@dataclass(frozen=True)
class Policy:
    name: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Principal:
    arn: str
    session_name: str | None = None
    org_id: str | None = None
    org_paths: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    # Derived: kind is service, root, user or role; a session ARN names the role without its path
    # (IAM/reference_policies_elements_principal.html#principal-role-session).
    kind: str = field(init=False, repr=False, compare=False)
    is_service: bool = field(init=False, repr=False, compare=False)
    account: str | None = field(init=False, repr=False, compare=False)
    root_arn: str | None = field(init=False, repr=False, compare=False)
    session_arn: str | None = field(init=False, repr=False, compare=False)
    is_service_linked_role: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts, service = (self.arn.split(":", 5) + [""] * 5)[:6], not self.arn.startswith("arn:")
        res, account = parts[5], None if service else parts[4]
        kind = "service" if service else "root" if res == "root" else res[:4] if res[:5] in ("user/", "role/") else "?"
        iam = parts[2] == "iam" and bool(_ACCOUNT_ID.fullmatch(parts[4])) and kind != "?"
        extra = (self.session_name and kind != "role") or (service and (self.org_id or self.org_paths or self.tags))
        if extra or not (_SERVICE.fullmatch(self.arn) if service else iam):
            raise ValueError(f"principal {self.arn!r}: not an IAM root/user/role ARN (sessions: roles only)")
        session = f"arn:{parts[1]}:sts::{account}:assumed-role/{res.rsplit('/', 1)[-1]}/{self.session_name}"
        root = None if service else f"arn:{parts[1]}:iam::{account}:root"
        linked = kind == "role" and res.startswith("role/aws-service-role/")
        derived = (kind, service, account, root, session if self.session_name else None, linked)
        for name, value in zip(_DERIVED, derived, strict=True):
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    statements: tuple[str, ...] = ()


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _strings(value: Any, element: str) -> list[str]:
    values = [value] if isinstance(value, str) else list(value) if _is_list(value) else None
    if not values or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{element} must be a string or a non-empty list of strings, not {value!r}")
    return values


def _lowered(context: Mapping[str, Any]) -> dict[str, Any]:
    # IAM/reference_policies_elements_condition.html: "Condition key names are not case-sensitive".
    for key, value in context.items():
        if not isinstance(value, str | bool | int | float) and not (_is_list(value) and _strings(value or [""], key)):
            raise ValueError(f"context key {key}: {value!r} is not a string, bool, number or list of strings")
    return {k.lower(): v for k, v in context.items()}


def _resolve(text: str, ctx: Mapping[str, Any], variables: bool) -> Chars | None:
    """Own * and ? are wildcards, substituted values and ${*} ${?} ${$} literal (IAM/reference_policies_variables.html);
    None when a variable has no value: "the value is effectively null. There is no equal or like value"."""
    chars: Chars = []
    pos = 0
    for match in _VARIABLE.finditer(text) if variables else ():
        chars += [(c, c in "*?") for c in text[pos : match.start()]]
        key, _, default = match[1].partition(",")
        value, default = match[1] if match[1] in ("*", "?", "$") else ctx.get(key.strip().lower()), default.strip()
        if _is_list(value) or (default and not (len(default) > 1 and default[0] == default[-1] == "'")):
            raise ValueError(f"${{{match[1]}}}: a multivalued key can't be a variable; a default is 'quoted'")
        if value is None and not default:
            return None
        chars += [(c, False) for c in (default[1:-1] if value is None else _text(value))]
        pos = match.end()
    return chars + [(c, c in "*?") for c in text[pos:]]


def _regex(chars: Chars) -> str:
    return "".join((".*" if c == "*" else ".") if wild else re.escape(c) for c, wild in chars)


def _arn_like(pattern: Chars, value: str) -> bool:
    # IAM/reference_policies_elements_condition_operators.html#Conditions_ARN: "Each of the six colon-delimited
    # components of the ARN is checked separately", so a * in one part never swallows another part's colons.
    parts: list[Chars] = [[]]
    for c, wild in pattern:
        parts.append([]) if c == ":" and not wild and len(parts) < 6 else parts[-1].append((c, wild))
    if len(parts) != 6:
        raise ValueError(f"{''.join(c for c, _ in pattern)!r} is not an ARN (six colon-separated parts)")
    values = value.split(":", 5)
    return len(values) == 6 and all(re.fullmatch(_regex(p), v, re.S) for p, v in zip(parts, values, strict=True))


def matches_action(patterns: str | Sequence[str], action: str) -> bool:
    """IAM/reference_policies_elements_action.html: "The prefix and the action name are case insensitive"."""
    found = _strings(patterns, "Action")
    if ":" not in action or any(p != "*" and ":" not in p for p in found):
        raise ValueError(f"actions are service:Action (a policy may also say *): {action!r}, {found!r}")
    return any(re.fullmatch(_regex([(c, c in "*?") for c in p]), action, re.I | re.S) for p in found)


def matches_resource(patterns: str | Sequence[str], resource: str) -> bool:
    """Resource patterns against a resource, without policy variables (evaluate substitutes those)."""
    return any(_resource_matches(p, resource, {}, False) for p in _strings(patterns, "Resource"))


def _resource_matches(pattern: str, resource: str, ctx: Mapping[str, Any], variables: bool) -> bool:
    # IAM/reference_policies_elements_resource.html: an ARN or "*", wildcards "within ARN segments", "You can't use a
    # wildcard in the service segment"; IAM/reference_policies_variables.html: variables "after the fifth colon" only.
    raw = pattern.split(":", 5)
    if pattern != "*" and (len(raw) != 6 or raw[0] != "arn" or any(c in raw[2] for c in "*?")):
        raise ValueError(f'Resource {pattern!r} must be "*" or an ARN without a wildcard in its service segment')
    if variables and "${" in pattern and pattern[: pattern.index("${")].count(":") < 5:
        raise ValueError(f"Resource {pattern!r}: policy variables are allowed only after the fifth colon")
    if pattern == "*" or resource == "*":  # an action without a resource type needs "*" (..._elements_notaction.html)
        return pattern == "*"
    chars = _resolve(pattern, ctx, variables)
    return chars is not None and _arn_like(chars, resource)


def _convert(family: str, value: Any) -> Any:
    """A value as its family compares it (dates: "W3C implementations of the ISO 8601 date formats or in epoch")."""
    text = _text(value)
    try:
        if family == "Bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if family == "Binary":
            return base64.b64decode(text, validate=True)
        if isinstance(value, bool) or family not in ("Numeric", "Date"):
            raise ValueError(text)
        if family == "Numeric" or re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text) if family == "Numeric" else datetime.fromtimestamp(float(text), UTC)
        year_month = re.fullmatch(r"(\d{4})(?:-(\d\d))?", text)
        date = datetime(int(year_month[1]), int(year_month[2] or 1), 1) if year_month else datetime.fromisoformat(text)
        return date if date.tzinfo else date.replace(tzinfo=UTC)
    except ValueError:  # binascii.Error is one
        raise ValueError(f"{value!r} is not a {family} value") from None


def _matches(positive: str, policy_value: Any, value: Any, ctx: Mapping[str, Any], variables: bool) -> bool:
    """One context value against one policy value, under the operator without its Not."""
    family = next(f for f in _FAMILIES if positive.startswith(f))
    if family in ("String", "Arn", "Bool"):  # the families that take policy variables (Bool: #Conditions_Boolean)
        chars = _resolve(_text(policy_value), ctx, variables)
        if chars is None:  # IAM/reference_policies_variables.html#policy-vars-no-value: no match, so a Not... matches
            return False
        literal, text = "".join(c for c, _ in chars), _text(value)
        if family == "Arn":  # "The ArnEquals and ArnLike condition operators behave identically"
            return _arn_like(chars, text)
        if family == "Bool":
            return bool(_convert("Bool", literal) == _convert("Bool", value))
        if positive == "StringLike":
            return re.fullmatch(_regex(chars), text, re.S) is not None
        return literal.casefold() == text.casefold() if positive.endswith("IgnoreCase") else literal == text
    if family == "IpAddress":  # CIDR, IPv4 or IPv6; "an IP address without the associated routing prefix" is /32
        network, ip = ipaddress.ip_network(_text(policy_value), strict=False), ipaddress.ip_address(_text(value))
        return ip.version == network.version and ip in network
    compare = _ORDER[positive[len(family) :]] if family in ("Numeric", "Date") else eq
    return bool(compare(_convert(family, value), _convert(family, policy_value)))


def _condition(name: str, key: str, policy_values: Any, ctx: Mapping[str, Any], variables: bool) -> bool:
    qualifier, _, base = name.rpartition(":")
    if qualifier not in ("", "ForAllValues", "ForAnyValue") or not _OPERATOR.fullmatch(base):
        raise ValueError(f"unknown condition operator {name!r}")
    if_exists, base = base.endswith("IfExists"), base.removesuffix("IfExists")
    values = list(policy_values) if _is_list(policy_values) else [policy_values]
    if not values or not all(isinstance(v, str | bool | int | float) for v in values):
        raise ValueError(f"{name} {key}: condition values are strings, numbers or booleans, not {policy_values!r}")
    present, value = key.lower() in ctx, ctx.get(key.lower(), None)
    if base == "Null":
        # IAM/access-analyzer-reference-policy-checks.html "Null with qualifier"; ..._elements_condition.html: "" is null
        absent = value is None or value == "" or (_is_list(value) and not value)
        return qualifier == "ForAllValues" if qualifier else absent in {_convert("Bool", v) for v in values}
    # IAM/reference_policies_condition-logic-multiple-context-keys-or-values.html: values OR, negated operators "NOR".
    negated = "Not" in base

    def holds(one: Any) -> bool:
        return any(_matches(base.replace("Not", "", 1), v, one, ctx, variables) for v in values) != negated

    if qualifier:
        # IAM/reference_policies_condition-single-vs-multi-valued-context-keys.html: missing or empty: All true, Any false
        items = list(value) if _is_list(value) else [] if value is None or value == "" else [value]
        if not items and qualifier == "ForAnyValue" and if_exists and not present:
            raise ValueError(f"{name} {key}: missing key; IfExists says true, ForAnyValue false (AWS leaves it open)")
        return all(map(holds, items)) if qualifier == "ForAllValues" else any(map(holds, items))
    if not present:  # IAM/..._condition_operators.html: false; true "If the policy condition requires that the key is
        return if_exists or negated  # *not* matched" (negated), and true for ...IfExists
    if _is_list(value) and len(value) != 1:  # the pages: multivalued keys "require" ForAllValues/ForAnyValue
        raise ValueError(f"{name} {key}: {value!r} has several values; use ForAllValues or ForAnyValue")
    return holds(value[0] if _is_list(value) else value)


def _conditions(conditions: Any, ctx: Mapping[str, Any], variables: bool) -> bool:
    # IAM/reference_policies_condition-logic-multiple-context-keys-or-values.html: operators AND, keys AND (all run).
    if not isinstance(conditions, Mapping) or not all(isinstance(b, Mapping) and b for b in conditions.values()):
        raise ValueError(f"Condition must map operators to objects of context keys, not {conditions!r}")
    return all([_condition(op, key, v, ctx, variables) for op, block in conditions.items() for key, v in block.items()])


def conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    """One statement's Condition block against a full request context (policy language 2012-10-17)."""
    return _conditions(conditions, _lowered(context), True)


def request_context(request: Request, resource_account: str | None = None) -> dict[str, ContextValue]:
    """IAM/reference_policies_condition-keys.html global keys of the principal and resource; request.context wins."""
    p = request.principal
    ctx: dict[str, ContextValue] = {"aws:PrincipalIsAWSService": p.is_service}
    if p.is_service:  # aws:PrincipalServiceName: present only "when the call is made by an AWS service principal"
        ctx["aws:PrincipalServiceName"] = p.arn
    else:
        # aws:PrincipalArn: "For IAM roles ... the ARN of the role"; aws:PrincipalType: "Principal key values" table of
        # IAM/reference_policies_variables.html; aws:PrincipalOrg*: "only if the principal is a member of an organization".
        ctx |= {"aws:PrincipalArn": p.arn, "aws:PrincipalAccount": p.account or ""}
        ctx["aws:PrincipalType"] = {"root": "Account", "user": "User", "role": "AssumedRole"}[p.kind]
        ctx |= {"aws:username": p.arn.rsplit("/", 1)[1]} if p.kind == "user" else {}
        ctx |= {"aws:PrincipalOrgID": p.org_id} if p.org_id else {}
        ctx |= {"aws:PrincipalOrgPaths": list(p.org_paths)} if p.org_paths else {}
        ctx |= {f"aws:PrincipalTag/{k}": v for k, v in p.tags.items()}
    account = resource_account or (request.resource.split(":", 5) + [""] * 5)[4]
    ctx |= {"aws:ResourceAccount": account} if account else {}
    overrides = _lowered(request.context)
    return {k: v for k, v in ctx.items() if k.lower() not in overrides} | dict(request.context)


def _principal_kind(s: Mapping[str, Any], p: Principal, boundary: bool) -> str | None:
    """How a Principal names the requester (IAM/reference_policies_elements_principal.html): direct (session or user ARN,
    "*", {"AWS": "*"}: "equivalent"), role (role ARN), account ("delegates authority"), service, None; NotPrincipal: negated."""
    negated, element = "NotPrincipal" in s, s.get("Principal", s.get("NotPrincipal"))
    if negated and s["Effect"] == "Deny" and boundary:  # IAM/access_policies_boundaries.html: NotPrincipal with Deny
        return "direct"  # "will always deny any IAM principal that has a permissions boundary policy attached"
    if element == "*":
        return None if negated else "direct"
    if not isinstance(element, Mapping) or not element or set(element) - _PRINCIPAL_TYPES:
        raise ValueError(f"Principal {element!r} must be * or map AWS/Service/Federated/CanonicalUser to names")
    listed = {(t, name) for t, names in element.items() for name in _strings(names, f"Principal {t}")}
    if any(name != "*" and "*" in name for _, name in listed):  # "You cannot use a wildcard to match part of a ..."
        raise ValueError(f"Principal {element!r} has a wildcard in part of a name")
    # The requester's names, link by link (account, role or user, session), and what naming each grants.
    chain: list[dict[tuple[str, Any], str]] = [{("AWS", p.account): "account", ("AWS", p.root_arn): "account"}]
    chain += [{("AWS", p.arn): {"role": "role", "user": "direct"}[p.kind]}] if p.kind in ("role", "user") else []
    chain += [{("AWS", p.session_arn): "direct"}] if p.session_arn else []
    chain = [{("Service", p.arn): "service"}] if p.is_service else chain
    named = [link.keys() & listed for link in chain]
    if not negated:
        kinds = [link[key] for link, keys in zip(chain, named, strict=True) for key in keys]
        return max(kinds + ["direct"] * (("AWS", "*") in listed), key=_RANK.__getitem__, default=None)
    # IAM/reference_policies_elements_notprincipal.html: AWS "might validate the account first, then the role, and then
    # the assumed-role user": a Deny skips only a fully named chain and hits an unnamed requester; an Allow the reverse.
    final, deny = bool(named[-1]), s["Effect"] == "Deny"
    if ("AWS", "*") not in listed and any(named) and not all(named) and final == deny:
        raise ValueError(f"NotPrincipal names part of {p.session_arn or p.arn}'s chain (account, role, session)")
    return None if ("AWS", "*") in listed or all(named) or final else "direct"


def _hits(policy: Policy, where: str, request: Request, ctx: Mapping[str, Any], boundary: bool) -> list[Hit]:
    """(Effect, Sid, how the principal is named) of each statement that applies; raises for what AWS would refuse."""
    doc = policy.document
    raw = doc.get("Statement") if isinstance(doc, Mapping) else None
    if not raw or not isinstance(raw, Mapping | list) or doc.get("Version") not in (None, "2012-10-17", "2008-10-17"):
        raise ValueError(f"{policy.name}: needs Version 2012-10-17 (or 2008-10-17) and a Statement")
    variables, out = doc.get("Version") == "2012-10-17", []  # IAM/reference_policies_variables.html: else literal
    for index, s in enumerate([raw] if isinstance(raw, Mapping) else raw):
        sid = str(s.get("Sid", index) if isinstance(s, Mapping) else index)
        if not isinstance(s, Mapping) or set(s) - _ELEMENTS or s.get("Effect") not in ("Allow", "Deny"):
            raise ValueError(f"{policy.name} statement {sid}: needs Effect Allow or Deny, and only {sorted(_ELEMENTS)}")
        # IAM/reference_policies_elements_resource.html: "Statements must include either a Resource or a NotResource"
        # (trust policies have neither); IAM/reference_policies_elements_principal.html: Principal is a must in resource
        # policies, forbidden in identity-based ones (and in SCPs: ORG/orgs_manage_policies_scps_syntax.html).
        bad = ("Action" in s) == ("NotAction" in s) or ("Resource" in s and "NotResource" in s)
        bad = bad or (where != "resource" and "Resource" not in s and "NotResource" not in s)
        if bad or ("Principal" in s) + ("NotPrincipal" in s) != (where == "resource"):
            raise ValueError(
                f"{policy.name} statement {sid}: wrong Action/NotAction, Resource/NotResource or Principal"
            )
        kind = _principal_kind(s, request.principal, boundary) if where == "resource" else "identity"
        action = matches_action(s.get("Action", s.get("NotAction")), request.action) == ("Action" in s)
        resources = _strings(s.get("Resource", s.get("NotResource", "*")), "Resource")
        found = [_resource_matches(r, request.resource, ctx, variables) for r in resources]  # all checked
        if all([kind, action, any(found) != ("NotResource" in s), _conditions(s.get("Condition", {}), ctx, variables)]):
            out.append((s["Effect"], sid, kind or ""))
    return out


def evaluate(
    request: Request,
    *,
    identity_policies: Sequence[Policy] = (),
    permissions_boundary: Policy | None = None,
    resource_policy: Policy | None = None,
    resource_account: str | None = None,
    key_policy: bool = False,
    scps: Sequence[Sequence[Policy]] | None = None,
) -> Decision:
    """Decide a request as IAM/reference_policies_evaluation-logic_policy-eval-denyallow.html and, for a resource of
    another account, IAM/reference_policies_evaluation-logic-cross-account.html describe it."""
    p, action, resource = request.principal, request.action, request.resource
    bad = resource != "*" and (len(resource.split(":", 5)) != 6 or not resource.startswith("arn:"))
    bad = bad or (key_policy and resource_policy is None) or (scps is not None and not scps)
    if bad or (p.is_service and (identity_policies or permissions_boundary)):
        raise ValueError(
            f'{resource!r} must be an ARN or "*"; key_policy needs resource_policy; scps one sequence per level, root '
            "first; a service principal has no identity policies or boundary"
        )
    account = resource_account or (p.account if resource == "*" else (resource.split(":", 5) + [""] * 5)[4] or None)
    if account is None and not p.is_service:
        raise ValueError(f"resource_account is required: {resource} names no account")
    ctx = _lowered(request_context(request, resource_account))
    who, boundary = p.session_arn or p.arn, permissions_boundary is not None
    head = f"{who} is not authorized to perform: {action} on resource: {resource}"
    # ORG/orgs_manage_policies_scps.html: SCPs don't affect the management account (scps=None) nor "any service-linked
    # role"; they restrict the users, roles and root user of member accounts, so never a service principal.
    levels = [] if scps is None or p.is_service or p.is_service_linked_role else [list(level) for level in scps]
    layers: list[tuple[str, str, Sequence[Policy | None]]] = [
        ("service control policy", "scp", [pol for level in levels for pol in level]),
        ("resource-based policy", "resource", [resource_policy]),
        ("identity-based policy", "identity", identity_policies),
        ("permissions boundary", "boundary", [permissions_boundary]),
    ]
    found: dict[str, list[tuple[str, str]]] = {}  # scp/resource/identity/boundary -> [(policy#sid, principal kind)]
    for label, where, policies in layers:  # IAM/..._policy-eval-denyallow.html "Deny evaluation": any Deny wins
        for pol in filter(None, policies):
            for effect, sid, kind in _hits(pol, where, request, ctx, boundary):
                if effect == "Deny":
                    reason = f"{head} with an explicit deny in a {label} ({pol.name}, statement {sid})"
                    return Decision(False, reason, (f"{pol.name}#{sid}",))
                found.setdefault(where, []).append((f"{pol.name}#{sid}", kind))
    # ORG/orgs_manage_policies_scps_evaluation.html: an explicit Allow at every level from the root to the account.
    allowed_scps = {label.rsplit("#", 1)[0] for label, _ in found.get("scp", [])}
    for depth, level in enumerate(levels):
        if not allowed_scps & {pol.name for pol in level}:
            why = f"none at level {depth} (0 = root): {', '.join(pol.name for pol in level) or 'none attached'}"
            return Decision(False, f"{head} because no service control policy allows the {action} action ({why})")
    grants = {k: [label for label, kind in found.get("resource", []) if kind == k] for k in _RANK}
    granted = [label for label, _ in found.get("resource", [])]
    identity, bound = ([label for label, _ in found.get(k, [])] for k in ("identity", "boundary"))

    def allow(labels: list[str]) -> Decision:
        return Decision(True, f"{who} is allowed to perform: {action} on {resource} by {', '.join(labels)}", (*labels,))

    def deny(policy_kind: str) -> Decision:  # IAM/troubleshoot_access-denied.html: "because no type policy allows"
        return Decision(False, f"{head} because no {policy_kind} allows the {action} action")

    if p.is_service:  # only the resource policy lets a service principal in, by naming it or "*"
        return allow(granted) if granted else deny("resource-based policy")
    # The root user "has full access" (IAM/..._policy-eval-denyallow.html): its own account's evaluation allows, SCPs aside.
    identity_ok, boundary_ok = bool(identity) or p.kind == "root", not boundary or bool(bound)
    if account != p.account:
        # IAM/..._cross-account.html: "The request is allowed only if both evaluations return a decision of Allow": the
        # identity side (with boundary and SCPs) and a resource policy naming the principal, its account or "*".
        if key_policy and not _KMS_CROSS_ACCOUNT.fullmatch(action):
            return Decision(False, f"{head} because AWS KMS does not allow {action} on a KMS key of another account")
        missing = "resource-based policy" if not granted else "identity-based policy" if not identity_ok else None
        missing = missing or (None if boundary_ok else "permissions boundary")
        return deny(missing) if missing else allow(identity + bound + granted)
    # Same account, IAM/..._policy-eval-denyallow.html "Resource-based policies": a grant to the session or user ARN
    # (or "*") stands alone, one to the role ARN is "limited by an implicit deny in a permissions boundary", one to the
    # account only delegates to IAM policies. Trust and key policies must allow in every case (KMS/key-policy-default.html:
    # "Without this permission, IAM policies that allow access to the key are ineffective").
    must = key_policy or bool(_TRUST_POLICY_ACTIONS.fullmatch(action))
    if grants["direct"] or (grants["role"] and boundary_ok):
        return allow(grants["direct"] or grants["role"] + bound)
    if identity_ok and boundary_ok and (not must or grants["account"]):
        return allow(identity + bound + grants["account"])
    if must and not granted:
        return deny("resource-based policy")
    return deny("permissions boundary" if identity_ok or grants["role"] else "identity-based policy")
