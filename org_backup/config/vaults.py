"""The config's vault models: vault locks (member and central vaults) and the logically air-gapped vault."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from org_backup.config.errors import Problem
from org_backup.config.validation import AccountId, Model

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


def lock_problems(where: str, lock: VaultLock | None) -> list[Problem]:
    """The vault lock bounds AWS Backup enforces (PutBackupVaultLockConfiguration), checked before synth."""
    if lock is None:
        return []
    problems = []
    for name in ("min_retention_days", "max_retention_days"):
        days = getattr(lock, name)
        if not 1 <= days <= LOCK_MAX_DAYS:
            problems.append(
                Problem(
                    f"{where}.{name}",
                    f"{days} is outside AWS Backup vault lock's range 1-{LOCK_MAX_DAYS} days. Fix: pick a value in range.",
                )
            )
    if lock.min_retention_days > lock.max_retention_days:
        problems.append(
            Problem(
                where,
                f"min_retention_days {lock.min_retention_days} is greater than max_retention_days "
                f"{lock.max_retention_days} (AWS Backup requires min <= max). Fix: swap or correct them.",
            )
        )
    if lock.mode == "governance" and lock.changeable_for_days is not None:
        problems.append(
            Problem(
                f"{where}.changeable_for_days",
                f"{lock.changeable_for_days} is only valid in compliance mode (setting it makes AWS lock the vault in "
                "compliance mode). Fix: remove it, or set mode: compliance.",
            )
        )
    if lock.mode == "compliance":
        days = lock.changeable_for_days
        if days is None:
            problems.append(
                Problem(
                    f"{where}.changeable_for_days",
                    "is required in compliance mode (the grace period before the lock becomes immutable). "
                    f"Fix: set it to at least {LOCK_MIN_CHANGEABLE_DAYS}.",
                )
            )
        elif not LOCK_MIN_CHANGEABLE_DAYS <= days <= LOCK_MAX_DAYS:
            problems.append(
                Problem(
                    f"{where}.changeable_for_days",
                    f"{days} is outside AWS Backup's range {LOCK_MIN_CHANGEABLE_DAYS}-{LOCK_MAX_DAYS} days. "
                    f"Fix: use at least {LOCK_MIN_CHANGEABLE_DAYS}.",
                )
            )
    return problems
