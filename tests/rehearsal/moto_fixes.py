"""Where moto 5.2.5 answers differently from AWS, or lacks an API that org-backup's stacks use: narrow fixes so the
rehearsal can apply every stack. Each makes moto answer as AWS documents it; none changes what org-backup
synthesizes, and nothing else in moto is changed. ``install()`` applies them; tests/rehearsal/moto_server.py
calls it before the server starts.

Found by the re-plan check (a perpetual diff):
1. Backup ListTags: moto read the ARN of ``GET /tags/{arn}/`` as ``path.split("/")[-2]``, assuming botocore's
   trailing slash; the Go SDK sends none, so every vault's tags showed as a change. Everything after ``/tags/``
   is the ARN.
2. Lambda DeadLetterConfig: ignored by CreateFunction/UpdateFunctionConfiguration and never returned.
3. CodeBuild encryptionKey and concurrentBuildLimit: ignored by CreateProject (moto always reported alias/aws/s3
   and no limit).
4. CloudFormation StackSets: AutoDeployment and Capabilities of CreateStackSet were dropped, so DescribeStackSet
   never returned them; DeleteStackInstances ignored DeploymentTargets, so instances created for OUs (the only
   targets of a service-managed StackSet) were never deleted and DeleteStackSet failed "StackSet is not empty".
5. CodeCommit and CodePipeline timestamps: returned as ISO strings where the JSON protocol has epoch seconds,
   which the Go SDK cannot parse.

Missing APIs, added as AWS's API references describe them:
6. Backup vault access policies: Put/Get/DeleteBackupVaultAccessPolicy (``/backup-vaults/{name}/access-policy``).
   The policy is stored on the vault; Get on a vault without one answers ResourceNotFoundException.
7. Backup global settings: Describe/UpdateGlobalSettings (``/global-settings``), the three flags AWS reports; and
   the Region settings: Describe/UpdateRegionSettings (``/account-settings``), two maps of resource type to
   boolean, per account and Region; an update sets the types it names and keeps the others.
8. Organizations: policies of type BACKUP_POLICY (moto knew the type but had no ARN format for it) and
   backup.amazonaws.com as a delegated-administrator service.
9. CodeBuild: CODEPIPELINE sources and artifacts without a location (AWS requires none), and report groups
   (Create/BatchGet/Update/DeleteReportGroup).
10. CodeCommit: resource tags (Tag/Untag/ListTagsForResource), the repository's kmsKeyId (dropped by
    CreateRepository, so GetRepository never returned it), and approval rule templates with their repository
    associations.

12. KMS: the keys behind AWS managed aliases (alias/aws/ebs, alias/aws/rds, ...), which moto creates on first use,
    reported KeyManager CUSTOMER; AWS reports AWS for them ("AWS managed keys", KMS developer guide, key types), and
    ``readiness`` tells them apart by it.

13. EventBridge targets that are SNS topics: moto 5.2.5 raised NotImplementedError. The (transformed) event is
    published to the topic: a JSON string template's text as it is, anything else as JSON.
14. EventBridge targets that are event buses: moto re-created the event in the receiving bus's account and Region,
    so an alert named the central account instead of the one whose job failed. AWS delivers the event as it was
    sent, account and Region included (EventBridge User Guide, "Sending and receiving events between AWS accounts").
    And, stricter than moto: a bus in another account receives only what its resource policy allows: an Allow of
    events:PutEvents for "*" or the sender's account, whose ``aws:PrincipalOrgID`` condition, if any, names the
    organization moto has the sender in.
15. Backup report plans: CreateReportPlan dropped ReportPlanTags (moto: "not yet supported"), so ListTags on the
    plan was empty and every plan showed the provider's default tags as a change. They are stored as tags of the
    plan's ARN, as TagResource would. And as in AWS, the first report plan of an account creates AWS Backup Audit
    Manager's service-linked role (AWSServiceRoleForBackupReports), which the reports key and bucket policies name.

16. CloudFormation roles: AWS::IAM::Role's ManagedPolicyArns were ignored, so the StackSet's deploy role (whose
    permissions are customer managed policies of the same template) had none. Each is attached as AttachRolePolicy
    would, and detached again before the stack's deletion deletes the role (moto then failed "must detach all
    policies first").

17. Organizations: the resource-based delegation policy (Put/Describe/DeleteResourcePolicy) and a member account's
    calls on its organization, answered from the management account's backend (tests/rehearsal/moto_organizations.py).

18. Backup report plans: UpdateReportPlan was missing (HTTP 500), so a change to a report plan (its Regions, when
    a Region is retired) could not deploy. It replaces the description, delivery channel and settings given, as the
    API reference describes (AWS Backup API, UpdateReportPlan), and answers with the plan's name, ARN and creation
    time.

19. Backup recovery points: moto had none ("start_backup_job not yet supported"), so nothing could show that a
    step kept them. StartBackupJob (``PUT /backup-jobs``) stores a completed recovery point in the vault at once
    (AWS takes minutes; its answer carries BackupJobId, RecoveryPointArn, CreationDate: AWS Backup API,
    StartBackupJob); ListRecoveryPointsByBackupVault (``GET /backup-vaults/{name}/recovery-points/``) lists them,
    and DescribeBackupVault counts them (NumberOfRecoveryPoints). DeleteBackupVault refuses a vault that holds any:
    "A vault can be deleted only if it is empty" (AWS Backup API, DeleteBackupVault).

And one condition moto evaluated without its context:
11. S3 bucket policies: moto evaluated them a second time, after authorization, without the request's principal
    or context, so a Deny whose condition names the principal (``ArnNotLike aws:PrincipalArn``, org-backup's
    writers-only policies) denied everyone. The bucket policy is part of the one decision
    tests/rehearsal/moto_authz.py makes with the full request; moto's own check answers neutral.
"""

from __future__ import annotations

import contextvars
import copy
import hashlib
import json
import sys
import time
import uuid
from typing import Any
from urllib.parse import unquote

from moto.awslambda.models import LambdaFunction
from moto.backup import urls as backup_urls
from moto.backup.exceptions import InvalidRequestException, ResourceNotFoundException
from moto.backup.models import BackupBackend
from moto.backup.models import Vault as BackupVault
from moto.backup.responses import BackupResponse
from moto.cloudformation import models as cloudformation_models
from moto.cloudformation.responses import CloudFormationResponse
from moto.codebuild import responses as codebuild_responses
from moto.codebuild.models import CodeBuild
from moto.codebuild.responses import CodeBuildResponse
from moto.codecommit.exceptions import RepositoryDoesNotExistException
from moto.codecommit.models import CodeCommit, CodeCommitBackend
from moto.codecommit.responses import CodeCommitResponse
from moto.codepipeline.models import CodePipeline
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.events.models import Rule, events_backends
from moto.events.utils import EventTemplateParser
from moto.iam.access_control import PermissionResult
from moto.iam.models import Role, iam_backends
from moto.kms.models import KmsBackend
from moto.organizations.models import FakeDelegatedAdministrator, FakePolicy
from moto.s3.models import FakeBucket
from moto.sns.models import sns_backends
from moto.utilities.arns import parse_arn
from moto.utilities.utils import get_partition

from tests.rehearsal import moto_organizations
from tests.rehearsal.moto_iam import as_list, check_vault_policy

_moto_send_to_targets = Rule.send_to_targets
BACKUP_POLICY_ARN_FORMAT = "arn:{0}:organizations::{1}:policy/{2}/backup_policy/{3}"


def _list_tags(self: BackupResponse) -> str:  # fix 1
    resource_arn = unquote(self.path.split("/tags/", 1)[1].rstrip("/"))
    return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=resource_arn)})


_lambda_init = LambdaFunction.__init__
_lambda_update = LambdaFunction.update_configuration
_lambda_get = LambdaFunction.get_configuration


def _lambda_function_init(self: LambdaFunction, *args: Any, **kwargs: Any) -> None:  # fix 2
    _lambda_init(self, *args, **kwargs)
    spec = kwargs.get("spec", args[1] if len(args) > 1 else {})
    self.dead_letter_config = spec.get("DeadLetterConfig")


def _lambda_update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
    if "DeadLetterConfig" in config_updates:
        self.dead_letter_config = config_updates["DeadLetterConfig"]
    return _lambda_update(self, config_updates)


def _lambda_get_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
    config = _lambda_get(self, *args, **kwargs)
    if getattr(self, "dead_letter_config", None):
        config["DeadLetterConfig"] = self.dead_letter_config
    return config


# The request's settings moto's CreateProject drops, kept for the project it creates.
_REQUESTED: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("codebuild_request", default=None)
_KEPT_SETTINGS = ("encryptionKey", "concurrentBuildLimit")
_codebuild_init = CodeBuild.__init__
_codebuild_create = CodeBuildResponse.create_project


def _codebuild_project_init(self: CodeBuild, *args: Any, **kwargs: Any) -> None:  # fix 3
    _codebuild_init(self, *args, **kwargs)
    self.project_metadata.update(_REQUESTED.get() or {})


def _create_project(self: CodeBuildResponse) -> Any:
    request = json.loads(self.body)
    token = _REQUESTED.set({key: request[key] for key in _KEPT_SETTINGS if key in request})
    try:
        return _codebuild_create(self)
    finally:
        _REQUESTED.reset(token)


_create_stack_set = CloudFormationResponse.create_stack_set


def _create_stack_set_keeping_settings(self: CloudFormationResponse) -> Any:  # fix 4
    result = _create_stack_set(self)
    stack_set = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
    auto = self._get_param("AutoDeployment") or {}
    stack_set.auto_deployment = {
        "Enabled": str(auto.get("Enabled", "false")).lower() == "true",
        "RetainStacksOnAccountRemoval": str(auto.get("RetainStacksOnAccountRemoval", "false")).lower() == "true",
    }
    stack_set.capabilities = self._get_param("Capabilities", [])
    return result


_delete_stack_instances = CloudFormationResponse.delete_stack_instances


def _delete_stack_instances_of_ous(self: CloudFormationResponse) -> Any:  # fix 4
    """The accounts of the OUs (and their direct child OUs) as CreateStackInstances resolves them."""
    ous = (self._get_params().get("DeploymentTargets") or {}).get("OrganizationalUnitIds", [])
    if not ous or self._get_param("Accounts"):
        return _delete_stack_instances(self)
    stack_set = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
    organization = stack_set.instances.org_backend
    ous = ous + [ou.id for ou in organization.ou if ou.parent_id in ous]
    accounts = [account.id for account in organization.accounts if account.parent_id in ous]
    stack_set.delete_stack_instances(accounts, self._get_param("Regions", []))
    return ActionResult({"OperationId": stack_set.operations[-1]["OperationId"]})


def _epoch(value: Any) -> Any:  # fix 5: an ISO timestamp as the JSON protocol's epoch seconds
    if isinstance(value, str) and "T" in value:
        from datetime import datetime

        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return value


_codecommit_init = CodeCommit.__init__


def _codecommit_repository_init(self: CodeCommit, *args: Any, **kwargs: Any) -> None:
    _codecommit_init(self, *args, **kwargs)
    for key in ("creationDate", "lastModifiedDate"):
        self.repository_metadata[key] = _epoch(self.repository_metadata[key])


_pipeline_metadata = CodePipeline.metadata.fget


def _pipeline_metadata_epoch(self: CodePipeline) -> dict[str, Any]:
    return {key: _epoch(value) for key, value in _pipeline_metadata(self).items()}


def _vault_name(self: BackupResponse) -> str:
    return unquote(self.path.split("/backup-vaults/", 1)[1].split("/", 1)[0])


def _put_vault_policy(self: BackupResponse) -> str:  # fix 6
    vault = self.backup_backend.describe_backup_vault(_vault_name(self))  # raises ResourceNotFoundException
    policy = json.loads(self.body).get("Policy")
    check_vault_policy(policy)
    vault.access_policy = policy
    return ""


def _get_vault_policy(self: BackupResponse) -> str:
    vault = self.backup_backend.describe_backup_vault(_vault_name(self))
    policy = getattr(vault, "access_policy", None)
    if policy is None:
        raise ResourceNotFoundException(f"Backup vault {vault.backup_vault_name} has no access policy")
    return json.dumps(
        {"BackupVaultName": vault.backup_vault_name, "BackupVaultArn": vault.backup_vault_arn, "Policy": policy}
    )


def _delete_vault_policy(self: BackupResponse) -> str:
    self.backup_backend.describe_backup_vault(_vault_name(self)).access_policy = None
    return ""


def _recovery_points(backend: BackupBackend) -> dict[str, list[dict[str, Any]]]:  # fix 19: vault name -> points
    if not hasattr(backend, "recovery_points"):
        backend.recovery_points = {}
    points: dict[str, list[dict[str, Any]]] = backend.recovery_points
    return points


def _start_backup_job(self: BackupResponse) -> str:
    body = json.loads(self.body)
    backend = self.backup_backend
    vault = backend.describe_backup_vault(body["BackupVaultName"])  # raises ResourceNotFoundException
    partition = get_partition(backend.region_name)
    point = {
        "RecoveryPointArn": f"arn:{partition}:backup:{backend.region_name}:{backend.account_id}:recovery-point:"
        f"{uuid.uuid4()}",
        "BackupVaultName": vault.backup_vault_name,
        "BackupVaultArn": vault.backup_vault_arn,
        "ResourceArn": body["ResourceArn"],
        "IamRoleArn": body["IamRoleArn"],
        "Status": "COMPLETED",
        "EncryptionKeyArn": vault.encryption_key_arn,
        "CreationDate": time.time(),
    }
    _recovery_points(backend).setdefault(vault.backup_vault_name, []).append(point)
    vault.num_of_recovery_points += 1
    answer = {"BackupJobId": str(uuid.uuid4()), "RecoveryPointArn": point["RecoveryPointArn"], "IsParent": False}
    return json.dumps({**answer, "CreationDate": point["CreationDate"]})


def _list_recovery_points(self: BackupResponse) -> str:
    vault = self.backup_backend.describe_backup_vault(_vault_name(self))
    return json.dumps({"RecoveryPoints": _recovery_points(self.backup_backend).get(vault.backup_vault_name, [])})


def _delete_vault_if_empty(self: BackupResponse) -> Any:
    name = self.path.split("/")[-1]
    if _recovery_points(self.backup_backend).get(unquote(name)):
        raise InvalidRequestException(f"Backup vault {unquote(name)} cannot be deleted: it contains recovery points")
    return _moto_delete_backup_vault(self)


_moto_delete_backup_vault = BackupResponse.delete_backup_vault


_GLOBAL_DEFAULTS = {
    "isCrossAccountBackupEnabled": "false",
    "isDelegatedAdministratorEnabled": "false",
    "isMpaEnabled": "false",
}


def _global_settings(backend: BackupBackend) -> dict[str, str]:  # fix 7
    if not hasattr(backend, "global_settings"):
        backend.global_settings = dict(_GLOBAL_DEFAULTS)
        backend.global_settings_updated = time.time()
    return backend.global_settings


def _describe_global_settings(self: BackupResponse) -> str:
    settings = _global_settings(self.backup_backend)
    return json.dumps({"GlobalSettings": settings, "LastUpdateTime": self.backup_backend.global_settings_updated})


def _update_global_settings(self: BackupResponse) -> str:
    _global_settings(self.backup_backend).update(json.loads(self.body).get("GlobalSettings") or {})
    self.backup_backend.global_settings_updated = time.time()
    return ""


def _region_settings(backend: BackupBackend) -> dict[str, dict[str, bool]]:  # fix 7
    if not hasattr(backend, "region_settings"):
        backend.region_settings = {"ResourceTypeOptInPreference": {}, "ResourceTypeManagementPreference": {}}
    return backend.region_settings


def _describe_region_settings(self: BackupResponse) -> str:
    return json.dumps(_region_settings(self.backup_backend))


def _update_region_settings(self: BackupResponse) -> str:
    request = json.loads(self.body or "{}")
    for key, settings in _region_settings(self.backup_backend).items():
        settings.update(request.get(key) or {})
    return ""


_policy_init = FakePolicy.__init__


def _policy_init_with_backup_policies(self: FakePolicy, organization: Any, **kwargs: Any) -> None:  # fix 8
    if kwargs.get("Type") != "BACKUP_POLICY":
        _policy_init(self, organization, **kwargs)
        return
    _policy_init(self, organization, **{**kwargs, "Type": "TAG_POLICY"})
    self.type = "BACKUP_POLICY"
    self._arn_format = BACKUP_POLICY_ARN_FORMAT


_validate_source = codebuild_responses._validate_required_params_source
_validate_artifacts = codebuild_responses._validate_required_params_artifacts


def _validate_source_location_unless_pipeline(source: dict[str, Any]) -> None:  # fix 9
    if source.get("type") != "CODEPIPELINE":
        _validate_source(source)


def _validate_artifacts_location_unless_pipeline(artifacts: dict[str, Any]) -> None:
    if artifacts.get("type") != "CODEPIPELINE":
        _validate_artifacts(artifacts)


class _ReportGroupNotFound(JsonRESTError):
    def __init__(self, arn: str) -> None:
        super().__init__("ResourceNotFoundException", f"Report group {arn} does not exist")


def _report_groups(response: CodeBuildResponse) -> dict[str, dict[str, Any]]:
    backend = response.codebuild_backend
    if not hasattr(backend, "report_groups"):
        backend.report_groups = {}
    return backend.report_groups


def _create_report_group(self: CodeBuildResponse) -> str:
    params = json.loads(self.body)
    arn = f"arn:aws:codebuild:{self.region}:{self.current_account}:report-group/{params['name']}"
    now = time.time()
    group = {
        "arn": arn,
        "name": params["name"],
        "type": params["type"],
        "exportConfig": params["exportConfig"],
        "created": now,
        "lastModified": now,
        "tags": params.get("tags", []),
        "status": "ACTIVE",
    }
    _report_groups(self)[arn] = group
    return json.dumps({"reportGroup": group})


def _batch_get_report_groups(self: CodeBuildResponse) -> str:
    groups = _report_groups(self)
    arns = json.loads(self.body)["reportGroupArns"]
    return json.dumps(
        {
            "reportGroups": [groups[a] for a in arns if a in groups],
            "reportGroupsNotFound": [a for a in arns if a not in groups],
        }
    )


def _update_report_group(self: CodeBuildResponse) -> str:
    params = json.loads(self.body)
    group = _report_groups(self).get(params["arn"])
    if group is None:
        raise _ReportGroupNotFound(params["arn"])
    group.update({k: params[k] for k in ("exportConfig", "tags") if k in params}, lastModified=time.time())
    return json.dumps({"reportGroup": group})


def _delete_report_group(self: CodeBuildResponse) -> str:
    _report_groups(self).pop(json.loads(self.body)["arn"], None)
    return "{}"


class _CodeCommitError(JsonRESTError):
    pass


def _repository_by_arn(backend: CodeCommitBackend, arn: str) -> CodeCommit:
    for repository in backend.repositories.values():
        if repository.repository_metadata["Arn"] == arn:
            return repository
    raise RepositoryDoesNotExistException(arn.rsplit(":", 1)[-1])


def _repository_tags(repository: CodeCommit) -> dict[str, str]:  # fix 10
    if not hasattr(repository, "tags"):
        repository.tags = {}
    return repository.tags


_create_repository = CodeCommitResponse.create_repository


def _create_repository_with_tags(self: CodeCommitResponse) -> str:
    answer = _create_repository(self)
    repository = self.codecommit_backend.repositories[self._get_param("repositoryName")]
    _repository_tags(repository).update(self._get_param("tags") or {})
    if self._get_param("kmsKeyId"):
        repository.repository_metadata["kmsKeyId"] = self._get_param("kmsKeyId")
    return answer


def _tag_resource(self: CodeCommitResponse) -> str:
    repository = _repository_by_arn(self.codecommit_backend, self._get_param("resourceArn"))
    _repository_tags(repository).update(self._get_param("tags") or {})
    return "{}"


def _untag_resource(self: CodeCommitResponse) -> str:
    repository = _repository_by_arn(self.codecommit_backend, self._get_param("resourceArn"))
    for key in self._get_param("tagKeys") or []:
        _repository_tags(repository).pop(key, None)
    return "{}"


def _list_tags_for_resource(self: CodeCommitResponse) -> str:
    repository = _repository_by_arn(self.codecommit_backend, self._get_param("resourceArn"))
    return json.dumps({"tags": _repository_tags(repository)})


def _templates(response: CodeCommitResponse) -> dict[str, dict[str, Any]]:
    backend = response.codecommit_backend
    if not hasattr(backend, "approval_rule_templates"):
        backend.approval_rule_templates = {}
    return backend.approval_rule_templates


def _template(response: CodeCommitResponse, name: str) -> dict[str, Any]:
    template = _templates(response).get(name)
    if template is None:
        raise _CodeCommitError("ApprovalRuleTemplateDoesNotExistException", f"Template {name} does not exist")
    return template


def _template_view(template: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in template.items() if k != "repositories"}


def _create_approval_rule_template(self: CodeCommitResponse) -> str:
    name = self._get_param("approvalRuleTemplateName")
    if name in _templates(self):
        raise _CodeCommitError("ApprovalRuleTemplateNameAlreadyExistsException", f"Template {name} already exists")
    content = self._get_param("approvalRuleTemplateContent")
    now = time.time()
    template = {
        "approvalRuleTemplateId": str(uuid.uuid4()),
        "approvalRuleTemplateName": name,
        "approvalRuleTemplateDescription": self._get_param("approvalRuleTemplateDescription") or "",
        "approvalRuleTemplateContent": content,
        "ruleContentSha256": hashlib.sha256(content.encode()).hexdigest(),
        "creationDate": now,
        "lastModifiedDate": now,
        "lastModifiedUser": f"arn:aws:iam::{self.current_account}:root",
        "repositories": set(),
    }
    _templates(self)[name] = template
    return json.dumps({"approvalRuleTemplate": _template_view(template)})


def _get_approval_rule_template(self: CodeCommitResponse) -> str:
    return json.dumps(
        {"approvalRuleTemplate": _template_view(_template(self, self._get_param("approvalRuleTemplateName")))}
    )


def _update_approval_rule_template_content(self: CodeCommitResponse) -> str:
    template = _template(self, self._get_param("approvalRuleTemplateName"))
    content = self._get_param("newRuleContent")
    template.update(
        approvalRuleTemplateContent=content,
        ruleContentSha256=hashlib.sha256(content.encode()).hexdigest(),
        lastModifiedDate=time.time(),
    )
    return json.dumps({"approvalRuleTemplate": _template_view(template)})


def _update_approval_rule_template_description(self: CodeCommitResponse) -> str:
    template = _template(self, self._get_param("approvalRuleTemplateName"))
    template.update(
        approvalRuleTemplateDescription=self._get_param("approvalRuleTemplateDescription"), lastModifiedDate=time.time()
    )
    return json.dumps({"approvalRuleTemplate": _template_view(template)})


def _delete_approval_rule_template(self: CodeCommitResponse) -> str:
    template = _templates(self).pop(self._get_param("approvalRuleTemplateName"), None)
    return json.dumps({"approvalRuleTemplateId": template["approvalRuleTemplateId"] if template else ""})


def _associate_template(self: CodeCommitResponse) -> str:
    template = _template(self, self._get_param("approvalRuleTemplateName"))
    repository = self._get_param("repositoryName")
    self.codecommit_backend.get_repository(repository)  # raises RepositoryDoesNotExistException
    template["repositories"].add(repository)
    return "{}"


def _disassociate_template(self: CodeCommitResponse) -> str:
    _template(self, self._get_param("approvalRuleTemplateName"))["repositories"].discard(
        self._get_param("repositoryName")
    )
    return "{}"


def _list_repositories_for_template(self: CodeCommitResponse) -> str:
    template = _template(self, self._get_param("approvalRuleTemplateName"))
    return json.dumps({"repositoryNames": sorted(template["repositories"])})


def _list_templates_for_repository(self: CodeCommitResponse) -> str:
    repository = self._get_param("repositoryName")
    names = sorted(t["approvalRuleTemplateName"] for t in _templates(self).values() if repository in t["repositories"])
    return json.dumps({"approvalRuleTemplateNames": names})


def _bucket_permission(self: FakeBucket, action: str, resource: str) -> Any:  # fix 11
    return PermissionResult.NEUTRAL


_generate_default_keys = KmsBackend._generate_default_keys


def _aws_managed_default_keys(self: KmsBackend, alias_name: str) -> str | None:  # fix 12
    key_id = _generate_default_keys(self, alias_name)
    if key_id is not None:
        self.keys[key_id].key_manager = "AWS"
    return key_id


def _sender_organization(account_id: str) -> str | None:
    from moto.organizations.models import organizations_backends

    master = organizations_backends.master_accounts.get(account_id)
    if master is None:
        return None
    org = organizations_backends[master[0]][master[1]].org
    return None if org is None else str(org.id)


def _bus_admits(bus: Any, sender_account: str) -> bool:  # fix 14
    if bus.account_id == sender_account:
        return True
    for statement in json.loads(bus.policy or '{"Statement": []}')["Statement"]:
        principal = statement.get("Principal")
        principals = as_list(principal.get("AWS") if isinstance(principal, dict) else principal)
        if statement.get("Effect") != "Allow" or "events:PutEvents" not in as_list(statement.get("Action")):
            continue
        if not any(p in ("*", sender_account, f"arn:aws:iam::{sender_account}:root") for p in principals):
            continue
        org_condition = statement.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalOrgID")
        if org_condition is None or org_condition == _sender_organization(sender_account):
            return True
    return False


def _send_to_targets(self: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
    """Fixes 13 and 14; every other kind of target goes to moto's own delivery."""
    if not self.event_pattern.matches_event(original_event):
        return
    others = []
    for target in self.targets:
        arn = parse_arn(target["Arn"])
        if arn.service == "sns":
            transformer = target.get("InputTransformer", {})
            message = EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate"),
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=original_event,
            )
            text = message if isinstance(message, str) else json.dumps(message)
            sns_backends[arn.account][arn.region].publish(text, arn=target["Arn"])
        elif arn.service == "events" and arn.resource_type == "event-bus":
            receiver = events_backends[arn.account][arn.region]
            bus = receiver.describe_event_bus(arn.resource_id)
            if not _bus_admits(bus, self.account_id):
                print(f"moto_fixes: {bus.arn} refused an event from {self.account_id}", file=sys.stderr, flush=True)
                continue
            for rule in bus.rules.values():
                rule.send_to_targets(copy.deepcopy(original_event))
        else:
            others.append(target)
    if others:
        mine, self.targets = self.targets, others
        try:
            _moto_send_to_targets(self, original_event, transform_input)
        finally:
            self.targets = mine


_moto_create_report_plan = BackupResponse.create_report_plan


REPORTS_ROLE = "AWSServiceRoleForBackupReports"
REPORTS_ROLE_PATH = "/aws-service-role/reports.backup.amazonaws.com/"


def _create_report_plan_with_tags(self: BackupResponse) -> ActionResult:  # fix 15
    result = _moto_create_report_plan(self)
    tags = self._get_param("ReportPlanTags") or {}
    if tags:
        name = self._get_param("ReportPlanName")
        self.backup_backend.tag_resource(self.backup_backend.describe_report_plan(name).report_plan_arn, tags)
    _ensure_reports_service_linked_role(self.current_account)
    return result


def _update_report_plan(self: BackupResponse) -> ActionResult:  # fix 18
    plan = self.backup_backend.describe_report_plan(self._get_param("reportPlanName"))
    for param, attribute in (
        ("ReportPlanDescription", "report_plan_description"),
        ("ReportDeliveryChannel", "report_delivery_channel"),
        ("ReportSetting", "report_setting"),
    ):
        value = self._get_param(param)
        if value is not None:
            setattr(plan, attribute, value)
    return ActionResult(
        result={
            "ReportPlanName": plan.report_plan_name,
            "ReportPlanArn": plan.report_plan_arn,
            "CreationTime": plan.creation_time,
        }
    )


def _ensure_reports_service_linked_role(account: str) -> None:
    """AWS Backup developer guide, using-service-linked-roles-AWSServiceRoleForBackupReports.html: "When you create a
    framework or report plan ... AWS Backup creates the service-linked role for you"; moto created none, so a key or
    bucket policy naming it was refused as naming a principal that does not exist."""
    iam = iam_backends[account]["aws"]
    if any(role.name == REPORTS_ROLE for role in iam.roles.values()):
        return
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "reports.backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(
        REPORTS_ROLE, json.dumps(trust), REPORTS_ROLE_PATH, permissions_boundary=None,
        description="AWS Backup Audit Manager", tags=[], max_session_duration="3600", linked_service="reports.backup",
    )  # fmt: skip


def install_events() -> None:
    """Fixes 13 and 14 alone: for in-process moto (``mock_aws``) tests of event delivery."""
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]


def install() -> None:
    install_events()
    moto_organizations.install()
    install_cloudformation_roles()
    BackupResponse.create_report_plan = _create_report_plan_with_tags  # type: ignore[method-assign]
    BackupResponse.update_report_plan = _update_report_plan  # type: ignore[attr-defined]
    KmsBackend._generate_default_keys = _aws_managed_default_keys  # type: ignore[method-assign]
    BackupResponse.list_tags = _list_tags  # type: ignore[method-assign]
    LambdaFunction.__init__ = _lambda_function_init  # type: ignore[method-assign]
    LambdaFunction.update_configuration = _lambda_update_configuration  # type: ignore[method-assign]
    LambdaFunction.get_configuration = _lambda_get_configuration  # type: ignore[method-assign]
    CodeBuild.__init__ = _codebuild_project_init  # type: ignore[method-assign]
    CodeBuildResponse.create_project = _create_project  # type: ignore[method-assign]
    CloudFormationResponse.create_stack_set = _create_stack_set_keeping_settings  # type: ignore[method-assign]
    CloudFormationResponse.delete_stack_instances = _delete_stack_instances_of_ous  # type: ignore[method-assign]
    cloudformation_models.StackSet.auto_deployment = {"Enabled": False, "RetainStacksOnAccountRemoval": False}
    cloudformation_models.StackSet.capabilities = []
    CodeCommit.__init__ = _codecommit_repository_init  # type: ignore[method-assign]
    CodePipeline.metadata = property(_pipeline_metadata_epoch)  # type: ignore[method-assign,assignment]
    BackupResponse.put_backup_vault_access_policy = _put_vault_policy  # type: ignore[attr-defined]
    BackupResponse.get_backup_vault_access_policy = _get_vault_policy  # type: ignore[attr-defined]
    BackupResponse.delete_backup_vault_access_policy = _delete_vault_policy  # type: ignore[attr-defined]
    BackupResponse.describe_global_settings = _describe_global_settings  # type: ignore[attr-defined]
    BackupResponse.update_global_settings = _update_global_settings  # type: ignore[attr-defined]
    BackupResponse.describe_region_settings = _describe_region_settings  # type: ignore[attr-defined]
    BackupResponse.update_region_settings = _update_region_settings  # type: ignore[attr-defined]
    backup_urls.url_paths["{0}/backup-vaults/(?P<name>[^/]+)/access-policy$"] = backup_urls.response.dispatch
    backup_urls.url_paths["{0}/global-settings$"] = backup_urls.response.dispatch
    BackupResponse.start_backup_job = _start_backup_job  # type: ignore[attr-defined]
    BackupResponse.list_recovery_points_by_backup_vault = _list_recovery_points  # type: ignore[attr-defined]
    BackupResponse.delete_backup_vault = _delete_vault_if_empty  # type: ignore[method-assign]
    # DescribeBackupVault's answer is serialized from the shape's member names; moto's attribute has another name.
    BackupVault.number_of_recovery_points = property(lambda vault: vault.num_of_recovery_points)  # type: ignore[attr-defined]
    backup_urls.url_paths["{0}/backup-jobs$"] = backup_urls.response.dispatch
    backup_urls.url_paths["{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/$"] = backup_urls.response.dispatch
    backup_urls.url_paths["{0}/account-settings$"] = backup_urls.response.dispatch
    FakePolicy.__init__ = _policy_init_with_backup_policies  # type: ignore[method-assign]
    if "backup.amazonaws.com" not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
        FakeDelegatedAdministrator.SUPPORTED_SERVICES.append("backup.amazonaws.com")
    codebuild_responses._validate_required_params_source = _validate_source_location_unless_pipeline
    codebuild_responses._validate_required_params_artifacts = _validate_artifacts_location_unless_pipeline
    CodeBuildResponse.create_report_group = _create_report_group  # type: ignore[attr-defined]
    CodeBuildResponse.batch_get_report_groups = _batch_get_report_groups  # type: ignore[attr-defined]
    CodeBuildResponse.update_report_group = _update_report_group  # type: ignore[attr-defined]
    CodeBuildResponse.delete_report_group = _delete_report_group  # type: ignore[attr-defined]
    FakeBucket.get_permission = _bucket_permission  # type: ignore[method-assign]
    CodeCommitResponse.create_repository = _create_repository_with_tags  # type: ignore[method-assign]
    CodeCommitResponse.tag_resource = _tag_resource  # type: ignore[attr-defined]
    CodeCommitResponse.untag_resource = _untag_resource  # type: ignore[attr-defined]
    CodeCommitResponse.list_tags_for_resource = _list_tags_for_resource  # type: ignore[attr-defined]
    CodeCommitResponse.create_approval_rule_template = _create_approval_rule_template  # type: ignore[attr-defined]
    CodeCommitResponse.get_approval_rule_template = _get_approval_rule_template  # type: ignore[attr-defined]
    CodeCommitResponse.update_approval_rule_template_content = _update_approval_rule_template_content  # type: ignore[attr-defined]
    CodeCommitResponse.update_approval_rule_template_description = _update_approval_rule_template_description  # type: ignore[attr-defined]
    CodeCommitResponse.delete_approval_rule_template = _delete_approval_rule_template  # type: ignore[attr-defined]
    CodeCommitResponse.associate_approval_rule_template_with_repository = _associate_template  # type: ignore[attr-defined]
    CodeCommitResponse.disassociate_approval_rule_template_from_repository = _disassociate_template  # type: ignore[attr-defined]
    CodeCommitResponse.list_repositories_for_approval_rule_template = _list_repositories_for_template  # type: ignore[attr-defined]
    CodeCommitResponse.list_associated_approval_rule_templates_for_repository = _list_templates_for_repository  # type: ignore[attr-defined]


_role_from_cloudformation = Role.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _role_from_cloudformation_with_managed_policies(
    cls: type[Role], resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
    **kwargs: Any,
) -> Role:  # fix 16  # fmt: skip
    role: Role = _role_from_cloudformation(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    backend = iam_backends[account_id][get_partition(region_name)]
    for policy_arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []):
        backend.attach_role_policy(policy_arn, role.name)
    return role


_role_deleted_by_cloudformation = Role.delete_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _role_deleted_detaching_managed_policies(
    cls: type[Role], resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
) -> None:  # fix 16: CloudFormation detaches what it attached before it deletes the role
    backend = iam_backends[account_id][get_partition(region_name)]
    for role in backend.roles.values():
        if role.name == resource_name:
            for policy_arn in list(role.managed_policies):
                backend.detach_role_policy(policy_arn, role.name)
    _role_deleted_by_cloudformation(cls, resource_name, cloudformation_json, account_id, region_name)


def install_cloudformation_roles() -> None:
    """Fix 16 alone (in-process tests of the StackSet template)."""
    Role.create_from_cloudformation_json = classmethod(_role_from_cloudformation_with_managed_policies)  # type: ignore[method-assign,assignment]
    Role.delete_from_cloudformation_json = classmethod(_role_deleted_detaching_managed_policies)  # type: ignore[method-assign,assignment]
