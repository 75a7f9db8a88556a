"""The config's vault models: vault locks (member and central vaults) and the logically air-gapped vault."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from org_backup.validation import AccountId, Model

# AWS limits quoted in the messages below.
LOCK_MAX_DAYS = 36500  # AWS Backup vault lock: retention and changeable_for_days are at most 36,500 days.
LOCK_MIN_CHANGEABLE_DAYS = 3  # AWS Backup vault lock: ChangeableForDays is at least 3 days.
# AWS Backup, logically air-gapped vault: "The minimum value allowed is 7 days" for its minimum retention.
AIR_GAPPED_MIN_RETENTION_DAYS = 7


class VaultLock(Model):
    mode: Literal["governance", "compliance"] = Field(
        description="governance: removable by privileged users. compliance: immutable after changeable_for_days."
    )
    min_retention_days: int = Field(description=f"Shortest retention a recovery point may have (1-{LOCK_MAX_DAYS}).")
    max_retention_days: int = Field(description=f"Longest retention a recovery point may have (1-{LOCK_MAX_DAYS}).")
    changeable_for_days: int | None = Field(
        default=None,
        description=f"compliance only: grace period ({LOCK_MIN_CHANGEABLE_DAYS}-{LOCK_MAX_DAYS} days) before the lock "
        "becomes immutable.",
    )


class VaultLocks(Model):
    member: VaultLock | None = Field(default=None, description="Lock for every member vault; none if omitted.")
    central: VaultLock | None = Field(default=None, description="Lock for the central vault(s); none if omitted.")


class AirGapped(Model):
    """A logically air-gapped vault in every central Region: locked in compliance mode by AWS, encrypted with an
    AWS-owned key, its recovery points held in an account AWS Backup owns, so nothing in the central account can
    delete them before they expire (AWS Backup Developer Guide, "Logically air-gapped vault")."""

    min_retention_days: int = Field(
        ge=AIR_GAPPED_MIN_RETENTION_DAYS,
        le=LOCK_MAX_DAYS,
        description=f"Shortest retention a copy may have to enter the vault (at least {AIR_GAPPED_MIN_RETENTION_DAYS}).",
    )
    max_retention_days: int = Field(
        ge=AIR_GAPPED_MIN_RETENTION_DAYS,
        le=LOCK_MAX_DAYS,
        description="Longest retention a copy may have to enter the vault.",
    )
    share_with: Literal["members"] | tuple[AccountId, ...] = Field(
        default="members",
        description="Accounts the vault is shared with through AWS RAM, so they can restore from it after the central "
        "account is lost: 'members' (every member account) or a list of account ids, e.g. a recovery account. AWS "
        "RAM shares such a vault with accounts only, not with an organization or OU.",
    )
