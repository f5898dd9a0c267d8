"""Typed shapes of what the unified API returns (TypedDicts: plain dicts at run time).

Fields an integration does not support are absent, not null, so every field but ``id``
and ``name`` is ``NotRequired``.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "Email",
    "IntegratedAccount",
    "Organization",
    "Role",
    "SpendLimit",
    "User",
    "UserStatus",
]

UserStatus = Literal["active", "inactive", "deleted", "invited"]


class Email(TypedDict):
    """One email address of a user."""

    email: str
    is_primary: NotRequired[bool]


class Role(TypedDict):
    """A role the user holds (OpenAI Codex and Cursor only)."""

    id: NotRequired[str]
    name: str


class Organization(TypedDict):
    """The organization, team or workspace the user belongs to."""

    id: NotRequired[str]
    name: NotRequired[str]


class SpendLimit(TypedDict):
    """A per-user spending limit; ``amount`` is in the currency's smallest unit."""

    amount: NotRequired[float]
    currency: NotRequired[str]


class User(TypedDict):
    """A unified ``usage-metering/users`` record.

    ``status`` is one of :data:`UserStatus` when the vendor's value maps, otherwise the
    raw vendor value. ``remote_data`` is the vendor's own record, absent with
    ``truto_ignore_remote_data``.
    """

    id: str
    name: str
    first_name: NotRequired[str]
    last_name: NotRequired[str]
    emails: NotRequired[list[Email]]
    roles: NotRequired[list[Role]]
    status: NotRequired[UserStatus | str]
    organization: NotRequired[Organization]
    spend_limit: NotRequired[SpendLimit]
    created_at: NotRequired[str]
    updated_at: NotRequired[str]
    last_active_at: NotRequired[str]
    remote_data: NotRequired[dict[str, Any]]


class IntegrationRef(TypedDict):
    """The integration an account belongs to."""

    id: NotRequired[str]
    name: str
    category: NotRequired[str]


class IntegratedAccount(TypedDict):
    """An integrated account as ``GET /integrated-account`` lists it."""

    id: str
    tenant_id: str
    status: str
    integration: IntegrationRef
    environment_id: NotRequired[str]
    is_sandbox: NotRequired[bool]
    is_blocked: NotRequired[bool]
    region: NotRequired[str]
    created_at: NotRequired[str]
    updated_at: NotRequired[str]
