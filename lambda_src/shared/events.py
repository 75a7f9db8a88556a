"""The checks every function makes first on the EventBridge event it is given: an object, from the one source and
detail type it handles, with a ``detail`` object. Only AWS services can put events whose source starts with
``aws.`` (Amazon EventBridge User Guide, "Amazon EventBridge events"), so source and detail type say who sent it."""

from __future__ import annotations

from typing import Any


class IgnoredEvent(Exception):
    """A well-formed event that is not the function's to act on (another source or type, a state it skips)."""


class MalformedEvent(Exception):
    """An event the function handles that lacks what it needs (its detail, the id of what it is about)."""


def event_detail(event: Any, *, source: str, detail_type: str, kind: str) -> dict[str, Any]:
    """``event["detail"]``, once the event is an object from ``source`` of ``detail_type`` (``kind`` names that
    event in the reason an ignored one is logged with)."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"event is a {type(event).__name__}, not an object")
    if event.get("source") != source or event.get("detail-type") != detail_type:
        raise IgnoredEvent(
            f"not a {kind} event: source={event.get('source')!r} detail-type={event.get('detail-type')!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent("detail is missing or not an object")
    return detail


def text(detail: dict[str, Any], key: str) -> str | None:
    """A non-empty string field of the detail, else None (absent, empty or another type)."""
    value = detail.get(key)
    return value if isinstance(value, str) and value else None
