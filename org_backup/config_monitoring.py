"""The ``monitoring`` section of the configuration: who hears about failed backup, copy and restore jobs.

Kept beside ``config.py`` (which imports it) so that file stays readable; like the rest of the model it reads no
file and holds no rule that needs another section (those are in ``config_rules``).
"""

from __future__ import annotations

from pydantic import Field

from org_backup.validation import AccountId, EmailAddress, HttpsUrl, Model, Region


class Alerts(Model):
    """Job-failure alerts: every member account and Region forwards AWS Backup's failed, aborted, expired and
    partial job events to one event bus in the monitoring account and Region, which publishes a readable message
    to an SNS topic with these subscriptions."""

    enabled: bool | None = Field(
        default=None,
        description="Deploy the alert path. Default: on when at least one email or HTTPS endpoint is given. Set true "
        "to deploy the topic without subscriptions (subscribe something else to it yourself); false to turn it off.",
    )
    emails: tuple[EmailAddress, ...] = Field(
        default=(), description="Subscribed to the alert topic (each address confirms once, by the link AWS mails)."
    )
    https_endpoints: tuple[HttpsUrl, ...] = Field(
        default=(), description="HTTPS endpoints subscribed to the alert topic (they must confirm the subscription)."
    )

    @property
    def active(self) -> bool:
        if self.enabled is not None:
            return self.enabled
        return bool(self.emails or self.https_endpoints)


class Monitoring(Model):
    """Where alerts are gathered. The monitoring account must be one org-backup already deploys to (the central
    account, the default, or a member account), so its deploy role exists there."""

    account_id: AccountId | None = Field(
        default=None, description="Account holding the alert bus and topic. Default: the central backup account."
    )
    region: Region | None = Field(
        default=None,
        description="Region of the alert bus and topic. Default: the first Region of the monitoring account's stack "
        "(the first central Region for the central account, the first target Region for a member account).",
    )
    alerts: Alerts = Field(default_factory=Alerts)
