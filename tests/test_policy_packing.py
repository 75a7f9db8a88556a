"""Backup policies packed to AWS Organizations' limits: at most 10,000 characters a policy, at most 10 backup policies
and 5 SCPs (FullAWSAccess included) attached to one OU or account, names unique and at most 128 characters.

Sources of the expectations:
- "Quotas and service limits for AWS Organizations" (orgs_reference_limits.html), "Maximum size of a policy document":
  "Backup policies: 10,000 characters", and "If you save the policy using an SDK operation or the AWS CLI, then the
  policy is saved exactly as you provided": the count is the length of the content string sent.
- "Managing AWS Organizations policies" (orgs_manage_policies.html), "Maximum number you can attach to a root, OU, or
  account": SCP 5, Backup policy 10.
- AWS Organizations API Reference, DetachPolicy: "Every root, OU, and account must have at least one SCP attached",
  the default being FullAWSAccess; CreatePolicy: Description "Maximum length of 512", Name at most 128 (botocore's
  organizations model, shape PolicyName).
- Counts by hand, each derived beside its test.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import load_config
from org_backup.config.templates import DEFAULT_PLANS_FILE
from org_backup.iam.guardrails import RenderedScp, render_scps
from org_backup.plans.effective import effective_policy, preview
from org_backup.plans.model import BackupPlans, plan_regions
from org_backup.plans.organizations_limits import attached_per_target, attachment_problems
from org_backup.plans.render import pack, render_plan, render_policies
from org_backup.plans.rules import validate_plans
from tests.conftest import FIXTURES, ROOT

TWELVE = FIXTURES / "twelve_regions.yaml"
CONFIG = load_config(TWELVE)
DEFAULT = yaml.safe_load(DEFAULT_PLANS_FILE.read_text())
REGIONS = list(CONFIG.target_regions)
PROD, TEST = "ou-twel-prod0001", "ou-twel-test0001"
CENTRAL, HOME = "120000000002", "120000000003"


def minified(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def render(plans: dict[str, Any], config: Any = CONFIG) -> list[Any]:
    return render_policies(validate_plans(plans, config=config, source="plans.yaml"), config)


def refused(plans: dict[str, Any]) -> list[str]:
    with pytest.raises(InputError) as raised:
        validate_plans(plans, config=CONFIG, source="plans.yaml")
    return [p.render() for p in raised.value.problems]


# --- pack: hand-computed tables -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "capacity", "groups"),
    [
        ([], 10, []),
        ([4, 6], 10, [[0, 1]]),  # 4 + 6 = 10: exactly full still fits
        ([4, 7], 10, [[0], [1]]),  # 11 > 10
        ([5, 5, 5, 5], 10, [[0, 1], [2, 3]]),  # in order and first-fit decreasing both 2: in order wins
        # In order: [6], [5, 5], [4] (6 + 5 > 10, then 5 + 5 + 4 > 10): 3 groups. First-fit decreasing: 6 into a new
        # group, 5 does not fit beside it (11), a second group; the next 5 fills that one; 4 joins 6: 2 groups.
        ([6, 5, 5, 4], 10, [[0, 3], [1, 2]]),
        ([12, 3, 3], 10, [[0], [1, 2]]),  # heavier than the capacity: a group of its own
        # Both 2 groups: in order [5, 4], [6]; first-fit decreasing [6, 4], [5]. The configured order is kept.
        ([5, 4, 6], 10, [[0, 1], [2]]),
    ],
)
def test_pack_finds_the_fewest_groups_of_these_two_and_prefers_the_configured_order(
    weights: list[int], capacity: int, groups: list[list[int]]
) -> None:
    assert pack(weights, capacity) == groups


# --- twelve Regions: 2 policies a plan instead of 12 ----------------------------------------------------------------


@pytest.fixture(scope="module")
def twelve() -> list[Any]:
    return render(copy.deepcopy(DEFAULT))


def test_twelve_regions_take_two_policies_a_plan_each_within_the_size_limit(twelve: list[Any]) -> None:
    """One policy per plan is impossible: the unsplit document (12 per-Region backup plans) is over 10,000
    characters, so 2 is the fewest. Each part is at most 10,000, and the first part is cut where the next Region's
    backup plan would take it over: the parts hold Regions in the configured order, 9 and 3."""
    plans = BackupPlans.model_validate(DEFAULT)
    for plan_name, plan in plans.plans.items():
        whole = render_plan(plan_name, plan, CONFIG, plan_regions(plan, CONFIG))
        assert len(minified(whole)) > 10_000
        first, second = [p for p in twelve if p.plan == plan_name]
        assert [len(first.content) <= 10_000, len(second.content) <= 10_000] == [True, True]
        first_plans = json.loads(first.content)["plans"]
        assert sorted(first_plans) == sorted(f"{plan_name}-{region}" for region in REGIONS[:9])
        assert sorted(json.loads(second.content)["plans"]) == sorted(f"{plan_name}-{region}" for region in REGIONS[9:])
        next_key = f"{plan_name}-{REGIONS[9]}"
        with_next = {**first_plans, next_key: whole["plans"][next_key]}
        assert len(minified({"plans": with_next})) > 10_000
        assert (first.name, second.name) == (f"{plan.policy_name}-us-east-1", f"{plan.policy_name}-eu-north-1")
        assert first.split == f"1 of 2: {', '.join(REGIONS[:9])}"
        assert second.description == f"{plan.description} (2 of 2: eu-north-1, ap-northeast-1, ap-southeast-2)"


def _padded(extra: int) -> dict[str, Any]:
    """The daily plan without its central copy (so one backup plan for every Region, nothing per Region), with a
    second rule, and 40 recovery point tags on the first whose values hold ``extra`` characters beyond one each: its
    document grows by exactly one character per extra character."""
    plans = copy.deepcopy(DEFAULT)
    rules = plans["plans"]["OrgBackupPlanDaily"]["rules"]
    first = rules["OrgDailyBackupRule"]
    del first["copy_to_central"]
    rules["Second"] = copy.deepcopy(first)
    shares = [min(255, max(0, extra - 255 * i)) for i in range(40)]
    first["recovery_point_tags"] = {f"pad{i:02d}": "x" * (1 + share) for i, share in enumerate(shares)}
    return plans


def _whole(plans: dict[str, Any]) -> int:
    plan = BackupPlans.model_validate(plans).plans["OrgBackupPlanDaily"]
    return len(minified(render_plan("OrgBackupPlanDaily", plan, CONFIG, plan_regions(plan, CONFIG))))


def test_exactly_10000_characters_is_one_policy_and_10001_is_split() -> None:
    """AWS: at most 10,000 characters. The unsplit document of exactly 10,000 is one policy; at 10,001 it is cut per
    rule, and the two rules' backup plans (~9,700 and ~1,300 characters) do not fit one policy together."""
    extra = 10_000 - _whole(_padded(0))
    assert [_whole(_padded(extra)), _whole(_padded(extra + 1))] == [10_000, 10_001]
    (fits,) = [p for p in render(_padded(extra)) if p.plan == "OrgBackupPlanDaily"]
    assert (fits.name, fits.split, len(fits.content)) == ("org-daily-backup-policy", None, 10_000)
    over = [p for p in render(_padded(extra + 1)) if p.plan == "OrgBackupPlanDaily"]
    assert [(p.name, p.split) for p in over] == [
        ("org-daily-backup-policy-OrgDailyBackupRule", "1 of 2: rule OrgDailyBackupRule"),
        ("org-daily-backup-policy-Second", "2 of 2: rule Second"),
    ]
    assert all(len(p.content) <= 10_000 for p in over)


def test_the_content_sent_is_the_minified_document_counted(twelve: list[Any]) -> None:
    """AWS counts what the SDK sends: the content is already minified, so the size checked is the size counted."""
    assert all(p.content == minified(json.loads(p.content)) for p in twelve)


def test_packing_changes_no_backup_plan_each_region_keeps_its_own_copy_target(twelve: list[Any]) -> None:
    """The effective policy AWS merges from the attached parts equals the one merged from the unsplit documents,
    every backup plan key is in one part only, and each Region's plan backs up in that Region alone and copies to
    the central vault of that Region (cross-account and cross-Region at once fails for RDS and Aurora)."""
    plans = BackupPlans.model_validate(DEFAULT)
    wholes = [
        ("whole", render_plan(name, plan, CONFIG, plan_regions(plan, CONFIG))) for name, plan in plans.plans.items()
    ]
    unsplit = effective_policy([[], wholes]).effective
    keys = [key for p in twelve for key in json.loads(p.content)["plans"]]
    assert len(keys) == len(set(keys)) == 24
    for item in preview(CONFIG, tuple(twelve)):
        assert item.refused == ()
        assert item.effective == json.loads(json.dumps(unsplit).replace("$account", item.account_id))
        for region in REGIONS:
            daily = item.effective["plans"][f"OrgBackupPlanDaily-{region}"]
            assert daily["regions"] == [region]
            vault = f"arn:aws:backup:{region}:{CENTRAL}:backup-vault:AWSBackupSolutionCentralVault"
            assert list(daily["rules"]["orgdailybackuprule"]["copy_actions"]) == [vault]


def test_parts_keep_the_names_of_one_policy_per_region(twelve: list[Any]) -> None:
    """An estate deployed with one policy per Region (<policy>-<region>) keeps the policies the parts are named
    after (updated in place) and loses the others: no policy of a new name is created."""
    for plan in ("org-daily-backup-policy", "org-monthly-backup-policy"):
        names = {p.name for p in twelve if p.name.startswith(plan)}
        assert names <= {f"{plan}-{region}" for region in REGIONS}


def test_a_region_added_at_the_end_changes_only_the_last_policy(twelve: list[Any]) -> None:
    eleven = CONFIG.model_copy(update={"target_regions": tuple(REGIONS[:11])})
    before = {p.name: p.content for p in render(copy.deepcopy(DEFAULT), eleven)}
    after = {p.name: p.content for p in twelve}
    assert sorted(before) == sorted(after)
    assert [name for name in after if before[name] != after[name]] == [
        "org-daily-backup-policy-eu-north-1",
        "org-monthly-backup-policy-eu-north-1",
    ]


def test_a_long_description_is_cut_to_what_aws_takes() -> None:
    plans = copy.deepcopy(DEFAULT)
    plans["plans"]["OrgBackupPlanDaily"]["description"] = "d" * 500  # Plan.description allows 512
    daily = [p for p in render(plans) if p.plan == "OrgBackupPlanDaily"]
    assert [len(p.description) for p in daily] == [512, 512]
    # 512 - len("...") = 509 characters kept: the 500 of the plan's description and " (1 of 2:" (9).
    assert daily[0].description == "d" * 500 + " (1 of 2:..."


# --- attachments per target -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthesized(synth: Any) -> Any:
    return synth(TWELVE)


@pytest.mark.slow
def test_a_twelve_region_configuration_synthesizes_within_the_attachment_limits(synthesized: Any) -> None:
    """Backup policies: 2 plans x 2 parts = 4 per OU (AWS allows 10). SCPs per target, FullAWSAccess not being
    org-backup's: the OUs get copy restriction, tampering and leave-organization (3, 4 with FullAWSAccess), the
    central account tampering (1), the home account the two pipeline SCPs (2); AWS allows 5."""
    attached = synthesized.resources("backup-policies", "aws_organizations_policy_attachment")
    assert Counter(a["target_id"] for a in attached.values()) == {PROD: 4, TEST: 4}
    policies = synthesized.resources("backup-policies", "aws_organizations_policy")
    assert all(len(p["content"]) <= 10_000 for p in policies.values())
    assert sorted(p["name"] for p in policies.values()) == sorted(
        f"org-{kind}-backup-policy-{region}" for kind in ("daily", "monthly") for region in ("us-east-1", "eu-north-1")
    )
    scps = synthesized.resources("management", "aws_organizations_policy_attachment")
    assert Counter(a["target_id"] for a in scps.values()) == {PROD: 3, TEST: 3, CENTRAL: 1, HOME: 2}


def test_the_guardrails_count_with_full_aws_access() -> None:
    counts = {a.target: len(a.names) for a in attached_per_target(render_scps(CONFIG), default=("FullAWSAccess",))}
    assert counts == {PROD: 4, TEST: 4, CENTRAL: 2, HOME: 3}


def _plans(count: int) -> dict[str, Any]:
    daily = DEFAULT["plans"]["OrgBackupPlanDaily"]
    return {"plans": {f"P{i}": {**copy.deepcopy(daily), "policy_name": f"p{i}"} for i in range(count)}}


def test_five_twelve_region_plans_fill_an_ou_exactly() -> None:
    """Each plan is the daily plan: 2 policies over 12 Regions (above), 5 x 2 = 10 = AWS's limit."""
    rendered = render(_plans(5))
    assert Counter(target for p in rendered for target in p.target_ous) == {PROD: 10, TEST: 10}


def test_six_twelve_region_plans_are_refused_naming_each_ou_the_count_and_a_fix() -> None:
    """6 x 2 = 12 backup policies on each OU: over 10."""
    per_plan = ", ".join(f"2 from plans.P{i}" for i in range(6))
    assert refused(_plans(6)) == [
        f"OU {ou}: org-backup would attach 12 backup policies to it ({per_plan}); AWS Organizations allows 10 backup "
        "policies attached to one root, OU or account, and the deploy would fail "
        "(MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED). Backup policies attached to it outside org-backup are not "
        "counted here (offline) and take room too. Fix: target fewer plans at it (target_ous of the plans), give a "
        "plan split by size fewer regions, or make it smaller (fewer rules, tags, selections or copy actions) so it "
        "packs into fewer policies."
        for ou in (f"{PROD} (prod)", f"{TEST} (test)")
    ]


def test_a_plan_targeted_elsewhere_does_not_count_against_an_ou() -> None:
    plans = _plans(6)
    plans["plans"]["P5"]["target_ous"] = [TEST]  # prod: 5 x 2 = 10; test: 6 x 2 = 12
    (problem,) = refused(plans)
    assert problem.startswith(f"OU {TEST} (test): org-backup would attach 12 backup policies to it")


def _scps(count: int, target: str) -> list[RenderedScp]:
    return [RenderedScp(f"scp-{i}", "", "{}", (target,)) for i in range(1, count + 1)]


def test_four_scps_and_full_aws_access_fill_a_target_exactly() -> None:
    assert attachment_problems(CONFIG, [], _scps(4, PROD)) == []


@pytest.mark.parametrize(
    ("target", "label"), [(PROD, f"OU {PROD} (prod)"), (CENTRAL, f"account {CENTRAL} (central backup account)")]
)
def test_five_scps_and_full_aws_access_are_refused(target: str, label: str) -> None:
    (problem,) = attachment_problems(CONFIG, [], _scps(5, target))
    assert problem.render() == (
        f"{label}: 6 SCPs would be attached to it (FullAWSAccess, scp-1, scp-2, scp-3, scp-4, scp-5): AWS attaches "
        "FullAWSAccess by default and it stays, as org-backup's SCPs only deny; AWS Organizations allows 5 SCPs "
        "attached to one root, OU or account, and the deploy would fail (MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED). "
        "SCPs attached to it outside org-backup are not counted here (offline) and take room too. Fix: turn off "
        "guardrails in backup.yaml, or leave this target out of their target_ous, until at most 5 remain."
    )


def test_validation_counts_the_scps_synth_attaches(monkeypatch: pytest.MonkeyPatch) -> None:
    """org-backup's own guardrails reach at most 4 on an OU today (above), so the SCPs synth would render are
    replaced by five on the prod OU: validation refuses the plans with the SCP count."""
    monkeypatch.setattr("org_backup.plans.organizations_limits.render_scps", lambda config: _scps(5, PROD))
    (problem,) = refused(copy.deepcopy(DEFAULT))
    assert problem.startswith(f"OU {PROD} (prod): 6 SCPs would be attached to it (FullAWSAccess, scp-1, ")


def test_an_scp_too_large_to_render_leaves_the_count_to_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    """render_scps refuses an SCP over 5,120 characters when synth renders them; validating the plans does not
    report it twice."""

    def too_large(config: Any) -> list[RenderedScp]:
        raise InputError("policies/scp", [])

    monkeypatch.setattr("org_backup.plans.organizations_limits.render_scps", too_large)
    assert len(render(copy.deepcopy(DEFAULT))) == 4


# --- names ----------------------------------------------------------------------------------------------------------


def test_a_part_name_over_128_characters_is_refused() -> None:
    """118 + len("-us-east-1") = 128 is allowed; 118 + len("-eu-north-1") = 129 is not."""
    plans = copy.deepcopy(DEFAULT)
    name = "p" * 118
    plans["plans"]["OrgBackupPlanDaily"]["policy_name"] = name
    assert refused(plans) == [
        f"plans.OrgBackupPlanDaily.policy_name: renders as '{name}-eu-north-1' (129 characters) for a part of the "
        "split plan; AWS Organizations allows 128. Fix: shorten policy_name."
    ]


def test_a_part_name_that_another_plan_uses_is_refused() -> None:
    plans = copy.deepcopy(DEFAULT)
    plans["plans"]["OrgBackupPlanDaily"]["policy_name"] = "x"  # parts x-us-east-1, x-eu-north-1
    plans["plans"]["OrgBackupPlanMonthly"].update(policy_name="x-eu-north-1", regions=["eu-west-1"])  # one policy
    assert refused(plans) == [
        "plans.OrgBackupPlanMonthly.policy_name: renders as 'x-eu-north-1', which plans.OrgBackupPlanDaily renders "
        "too; Organizations policy names are unique. Fix: rename one."
    ]


# --- the preview command reads the packed policies ------------------------------------------------------------------


def test_preview_shows_every_region_of_both_plans_from_the_packed_policies() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "org_backup", "preview", "--config", str(TWELVE), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    effective = json.loads(done.stdout)
    assert sorted(effective) == ["120000000004", "120000000005"]
    for account, document in effective.items():
        assert sorted(document["plans"]) == sorted(
            f"OrgBackupPlan{kind}-{region}" for kind in ("Daily", "Monthly") for region in REGIONS
        )
        selection = document["plans"]["OrgBackupPlanMonthly-ap-southeast-2"]["selections"]["tags"]
        assert (
            selection["orgmonthlybackupselection"]["iam_role_arn"]
            == f"arn:aws:iam::{account}:role/AWSBackupSolutionRole"
        )
