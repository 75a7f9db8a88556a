"""``python -m org_backup monitoring``: what watches the backups, and where it lives, before anything is deployed.

Offline, from the config and the plans: which accounts and Regions forward failed jobs and to which bus and topic,
who is subscribed, which controls each OU's frameworks check with which parameters, where the organization's
reports go, and which restores are tested when. Names and ARNs come from ``naming``; the controls from ``audit``.
"""

from __future__ import annotations

from typing import Any

from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    ALERT_FORWARD_RULE,
    ALERT_TOPIC,
    REPORT_PLAN_PREFIX,
    RESTORE_TEST_PLAN,
    RESTORE_VALIDATION_FUNCTION,
    Naming,
    reports_bucket,
)
from org_backup.plans import audit
from org_backup.plans.model import BackupPlans


def overview(config: BackupConfig, plans: BackupPlans) -> dict[str, Any]:
    naming = Naming(config)
    alerts = config.monitoring.alerts
    result: dict[str, Any] = {}
    if alerts.active:
        forwarding = {account: list(config.target_regions) for account in config.member_accounts}
        if config.central_backup.account_id not in forwarding:
            forwarding[config.central_backup.account_id] = list(config.central_regions)
        result["alerts"] = {
            "rule": ALERT_FORWARD_RULE,
            "forwarding": forwarding,
            "bus": naming.alert_bus_arn(),
            "topic": naming.regional_arn("sns", config.monitoring_region, config.monitoring_account_id, ALERT_TOPIC),
            "emails": list(alerts.emails),
            "https_endpoints": list(alerts.https_endpoints),
        }
    if config.audit.frameworks.enabled:
        by_ou: dict[str, Any] = {}
        for ou in config.target_ous:
            regions = {}
            for region in config.target_regions:
                controls, _ = audit.controls(config, plans, "<account>", ou.id, region)
                regions[region] = {c.name: dict(c.parameters) for c in controls}
            by_ou[ou.id] = {"name": ou.name, "accounts": len(ou.accounts), "regions": regions}
        result["frameworks"] = by_ou
    if config.audit.reports.enabled and config.organization.backup_delegated_admin_account_id:
        account = config.organization.backup_delegated_admin_account_id
        region = config.reports_region
        result["reports"] = {
            "account": account,
            "region": region,
            "bucket": reports_bucket(account, region),
            "plans": [f"{REPORT_PLAN_PREFIX}{t.lower()}" for t in config.audit.reports.templates],
            "covering": {"ous": [ou.id for ou in config.target_ous], "regions": list(config.target_regions)},
        }
    if config.restore_testing.active:
        testing = config.restore_testing
        result["restore_testing"] = {
            "account": config.restore_testing_account_id,
            "regions": list(config.restore_testing_regions),
            "plan": RESTORE_TEST_PLAN,
            "schedule": f"{testing.schedule} ({testing.schedule_timezone})",
            "recovery_point": f"latest within {testing.recovery_point_days} days, from the central vault",
            "selections": {
                s.name: {
                    "type": s.resource_type,
                    "resources": list(s.protected_resource_arns),
                    "validation_window_hours": s.validation_window_hours,
                }
                for s in testing.selections
            },
            "validation": RESTORE_VALIDATION_FUNCTION,
        }
    return result


def render_text(view: dict[str, Any]) -> str:
    lines: list[str] = []
    if "alerts" in view:
        a = view["alerts"]
        lines += [
            "Job-failure alerts",
            f"  every account and Region below forwards failed, aborted, expired and partial jobs ({a['rule']}):",
            *(f"    {account}: {', '.join(regions)}" for account, regions in a["forwarding"].items()),
            f"  to the bus {a['bus']}",
            f"  which publishes to {a['topic']}",
            f"  subscribed: {', '.join(a['emails'] + a['https_endpoints']) or 'nobody (subscribe yourself)'}",
            "",
        ]
    else:
        lines += ["Job-failure alerts: off (no monitoring.alerts recipient)", ""]
    if "frameworks" in view:
        lines.append("Audit Manager frameworks (every member account and Region; parameters from the plans)")
        for ou_id, ou in view["frameworks"].items():
            count = ou["accounts"]
            lines.append(f"  {ou['name']} ({ou_id}, {count} account{'' if count == 1 else 's'})")
            for region, controls in ou["regions"].items():
                lines.append(f"    {region}:")
                for name, parameters in controls.items():
                    shown = ", ".join(f"{k}={v}" for k, v in parameters.items())
                    lines.append(f"      {name}{f' ({shown})' if shown else ''}")
        lines.append("")
    else:
        lines += ["Audit Manager frameworks: off (audit.frameworks.enabled)", ""]
    if "reports" in view:
        r = view["reports"]
        lines += [
            f"Reports: {len(r['plans'])} report plans in {r['account']} {r['region']}, daily, into s3://{r['bucket']}",
            f"  covering OUs {', '.join(r['covering']['ous'])} in {', '.join(r['covering']['regions'])}",
            "",
        ]
    else:
        lines += ["Reports: off (audit.reports.enabled)", ""]
    if "restore_testing" in view:
        t = view["restore_testing"]
        lines += [
            f"Restore tests: {t['plan']} in {t['account']} {', '.join(t['regions'])}, {t['schedule']}",
            f"  recovery point: {t['recovery_point']}; validated by {t['validation']}",
            *(
                f"  {name}: {s['type']} {', '.join(s['resources'])}, kept {s['validation_window_hours']} h for "
                "validation"
                for name, s in t["selections"].items()
            ),
        ]
    else:
        lines.append("Restore tests: off (no restore_testing selection)")
    return "\n".join(lines)
