"""Fix 17 of tests/rehearsal/moto_fixes.py: AWS Organizations' resource-based delegation policy, and the calls a
member account makes on its organization.

moto 5.2.5 has no PutResourcePolicy, DescribeResourcePolicy or DeleteResourcePolicy, and answers a member
account's Organizations calls (other than DescribeOrganization and ListRoots) from that account's own, empty backend
("AWSOrganizationsNotInUseException"). As AWS documents them:
- "You can call this operation only from the organization's management account" (Organizations API reference,
  PutResourcePolicy and DeleteResourcePolicy); DescribeResourcePolicy answers ResourcePolicyNotFoundException when
  there is none. The policy's ARN is ``arn:aws:organizations::<management>:resourcepolicy/<org id>/rp-<8>``
  (Service Authorization Reference, AWS Organizations, resource type resourcepolicy).
- A member account's call acts on its organization: here, on the management account's backend. Whether it is allowed
  is tests/rehearsal/moto_authz.py's decision: the delegation policy as a resource-based policy of the management
  account, and the caller's own IAM policies ("you must grant roles and users in the delegated administrator account
  the corresponding IAM permissions", Organizations User Guide, "Create a resource-based delegation policy").
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.organizations.models import OrganizationsBackend, organizations_backends
from moto.organizations.responses import OrganizationsResponse

# management account id -> {"Id", "Arn", "Content"}: the organization's one delegation policy.
_POLICIES: dict[str, dict[str, str]] = {}
# delegation policy id (rp-...) -> its tags. The tagging operations take it as a ResourceId ("Resource policy -
# specify the resource policy ID": Organizations API reference, TagResource and ListTagsForResource), where moto
# 5.2.5 refuses its pattern (InvalidInputException).
_TAGS: dict[str, dict[str, str]] = {}


class _NotFound(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "ResourcePolicyNotFoundException",
            "We can't find a resource policy request with the parameter that you specified.",
        )


class _ManagementOnly(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "AccessDeniedException", "You can call this operation only from the organization's management account."
        )


def organization_of(account: str) -> OrganizationsBackend | None:
    """The backend holding the organization ``account`` belongs to (its own, for the management account)."""
    for backends in organizations_backends.values():
        for backend in backends.values():
            if backend.org and any(a.id == account for a in backend.accounts):
                return backend
    return None


def delegation_policy(management_account: str) -> dict[str, Any] | None:
    found = _POLICIES.get(management_account)
    return json.loads(found["Content"]) if found else None


def delegation_policy_arn(management_account: str) -> str | None:
    found = _POLICIES.get(management_account)
    return found["Arn"] if found else None


def _backend(self: OrganizationsResponse) -> OrganizationsBackend:
    own = organizations_backends[self.current_account][self.partition]
    if own.org is None and (found := organization_of(self.current_account)) is not None:
        return found
    return own


def _management(self: OrganizationsResponse) -> str:
    backend = self.organizations_backend
    if backend.org is None or self.current_account != backend.org.master_account_id:
        raise _ManagementOnly()
    return self.current_account


def _summary(found: dict[str, str]) -> str:
    return json.dumps(
        {
            "ResourcePolicy": {
                "ResourcePolicySummary": {"Id": found["Id"], "Arn": found["Arn"]},
                "Content": found["Content"],
            }
        }
    )


def _put_resource_policy(self: OrganizationsResponse) -> str:
    management = _management(self)
    content = self._get_param("Content")
    json.loads(content)  # a document that is not JSON is a malformed request
    found = _POLICIES.get(management)
    policy_id = (
        found["Id"]
        if found
        else "rp-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
    )
    org = self.organizations_backend.org
    assert org is not None
    arn = f"arn:{self.partition}:organizations::{management}:resourcepolicy/{org.id}/{policy_id}"
    _POLICIES[management] = {"Id": policy_id, "Arn": arn, "Content": content}
    tags = {t["Key"]: t["Value"] for t in self._get_param("Tags") or []}
    if tags or policy_id not in _TAGS:
        _TAGS.setdefault(policy_id, {}).update(tags)
    return _summary(_POLICIES[management])


def _describe_resource_policy(self: OrganizationsResponse) -> str:
    org = self.organizations_backend.org
    found = _POLICIES.get(org.master_account_id) if org is not None else None
    if found is None:
        raise _NotFound()
    return _summary(found)


def _delete_resource_policy(self: OrganizationsResponse) -> str:
    found = _POLICIES.pop(_management(self), None)
    if found is None:
        raise _NotFound()
    _TAGS.pop(found["Id"], None)
    return "{}"


def _on_resource_policy_tags(original: Any, handle: Any) -> Any:
    """The tagging operation ``original``, answered by ``handle`` for a delegation policy's id."""

    def operation(self: OrganizationsResponse) -> str:
        resource = self._get_param("ResourceId")
        if isinstance(resource, str) and resource.startswith("rp-"):
            if resource not in _TAGS:
                raise _NotFound()
            return str(handle(self, _TAGS[resource]))
        return str(original(self))

    return operation


def _list_tags(self: OrganizationsResponse, tags: dict[str, str]) -> str:
    return json.dumps({"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})


def _tag(self: OrganizationsResponse, tags: dict[str, str]) -> str:
    tags.update({t["Key"]: t["Value"] for t in self._get_param("Tags")})
    return "{}"


def _untag(self: OrganizationsResponse, tags: dict[str, str]) -> str:
    for key in self._get_param("TagKeys"):
        tags.pop(key, None)
    return "{}"


def install() -> None:
    OrganizationsResponse.organizations_backend = property(_backend)  # type: ignore[method-assign,assignment]
    OrganizationsResponse.put_resource_policy = _put_resource_policy  # type: ignore[attr-defined]
    OrganizationsResponse.describe_resource_policy = _describe_resource_policy  # type: ignore[attr-defined]
    OrganizationsResponse.delete_resource_policy = _delete_resource_policy  # type: ignore[attr-defined]
    for name, handle in (("list_tags_for_resource", _list_tags), ("tag_resource", _tag), ("untag_resource", _untag)):
        setattr(OrganizationsResponse, name, _on_resource_policy_tags(getattr(OrganizationsResponse, name), handle))
