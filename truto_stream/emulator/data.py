"""Synthetic, seeded data: tenants, integrated accounts and their users.

Nothing is stored per user: user ``i`` of an account is a pure function of
(seed, account, i), so a million-user account costs no memory. :class:`Dataset` is pure
(no I/O, no clock) and can be rebuilt from the same :class:`EmulatorConfig` in another
process to compute the expected records.

What a record holds (field support, the vendor's own record in ``remote_data``, the id
scheme) is the integration's :class:`~truto_stream.emulator.vendors.Vendor`'s business;
this module draws the facts those templates are filled with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from truto_stream.emulator.codes import (
    M32,
    admin_time,
    chunk_table,
    day_number,
    day_text,
    decode32,
    encode32,
    id_tail,
    mix32,
    mix64,
    unmix32,
    unmix64,
)
from truto_stream.emulator.config import AccountSpec, EmulatorConfig
from truto_stream.emulator.faults import FaultRule, parse_faults
from truto_stream.emulator.vendors import Vendor, vendor_for

__all__ = ["SLOTS", "Account", "Dataset", "day_salt", "mix32", "mix64", "unmix32", "unmix64"]

#: Distinct (name, status, metrics...) combinations per integration; see Dataset.slot.
SLOTS = 4096

# (display name, e-mail slug). A few non-ASCII names on purpose: orjson writes UTF-8.
_FIRST: tuple[tuple[str, str], ...] = tuple(
    (n, s)
    for n, s in [
        ("Alice", "alice"), ("Bob", "bob"), ("Carmen", "carmen"), ("David", "david"),
        ("Elena", "elena"), ("Farid", "farid"), ("Grace", "grace"), ("Hiroshi", "hiroshi"),
        ("Ingrid", "ingrid"), ("José", "jose"), ("Kwame", "kwame"), ("Leila", "leila"),
        ("Mateo", "mateo"), ("Nadia", "nadia"), ("Oscar", "oscar"), ("Priya", "priya"),
        ("Quentin", "quentin"), ("Rosa", "rosa"), ("Søren", "soren"), ("Tomás", "tomas"),
        ("Uma", "uma"), ("Viktor", "viktor"), ("Wen", "wen"), ("Ximena", "ximena"),
        ("Yusuf", "yusuf"), ("Zoë", "zoe"), ("Amara", "amara"), ("Bruno", "bruno"),
        ("Chloé", "chloe"), ("Dmitri", "dmitri"), ("Emeka", "emeka"), ("Fatima", "fatima"),
        ("Gabriel", "gabriel"), ("Hana", "hana"), ("Isaac", "isaac"), ("Jia", "jia"),
        ("Katarzyna", "katarzyna"), ("Luca", "luca"), ("Mei", "mei"), ("Noah", "noah"),
        ("Olga", "olga"), ("Pedro", "pedro"), ("Ravi", "ravi"), ("Sofia", "sofia"),
        ("Thandiwe", "thandiwe"), ("Ülkü", "ulku"), ("Valentina", "valentina"),
        ("William", "william"), ("Yara", "yara"), ("Zhang", "zhang"), ("Łukasz", "lukasz"),
        ("Aoife", "aoife"), ("Björn", "bjorn"), ("Ngọc", "ngoc"), ("Anaïs", "anais"),
        ("Ethan", "ethan"), ("Maya", "maya"), ("Omar", "omar"), ("Lucía", "lucia"),
        ("Kenji", "kenji"), ("Sara", "sara"), ("Diego", "diego"), ("Ava", "ava"),
        ("Liam", "liam"),
    ]
)  # fmt: skip
_LAST: tuple[tuple[str, str], ...] = tuple(
    (n, s)
    for n, s in [
        ("Smith", "smith"), ("García", "garcia"), ("Müller", "muller"), ("Nguyen", "nguyen"),
        ("Okafor", "okafor"), ("Kowalski", "kowalski"), ("Tanaka", "tanaka"),
        ("Johansson", "johansson"), ("Rossi", "rossi"), ("Patel", "patel"),
        ("Haddad", "haddad"), ("Silva", "silva"), ("Novák", "novak"), ("Chen", "chen"),
        ("Ivanova", "ivanova"), ("Dubois", "dubois"), ("Kim", "kim"), ("Mensah", "mensah"),
        ("O'Brien", "obrien"), ("Fernández", "fernandez"), ("Larsen", "larsen"),
        ("Yilmaz", "yilmaz"), ("Andersson", "andersson"), ("Wang", "wang"),
        ("Schmidt", "schmidt"), ("Khan", "khan"), ("Moreau", "moreau"), ("Sato", "sato"),
        ("Brown", "brown"), ("Jones", "jones"), ("Mbeki", "mbeki"), ("Costa", "costa"),
        ("Horvat", "horvat"), ("Petrov", "petrov"), ("Ali", "ali"), ("Lopez", "lopez"),
        ("Wilson", "wilson"), ("Đặng", "dang"), ("Schäfer", "schafer"), ("Kaur", "kaur"),
        ("Ahmed", "ahmed"), ("Murphy", "murphy"), ("Bianchi", "bianchi"), ("Park", "park"),
        ("Cohen", "cohen"), ("Santos", "santos"), ("Virtanen", "virtanen"),
        ("Nowak", "nowak"), ("Taylor", "taylor"), ("Jensen", "jensen"), ("Ito", "ito"),
        ("Reyes", "reyes"), ("Adeyemi", "adeyemi"), ("Lefèvre", "lefevre"),
        ("Singh", "singh"), ("Martin", "martin"),
    ]
)  # fmt: skip
_COMPANIES = (
    "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka",
    "tyrell", "cyberdyne", "soylent", "aperture", "vandelay", "oscorp", "massive",
    "pied-piper", "dunder", "gringotts", "monarch", "nakatomi",
)  # fmt: skip

_FN = len(_FIRST)
_LN = len(_LAST)


@lru_cache(maxsize=1024)
def _day_number(date: str) -> int:
    return day_number(dt.date.fromisoformat(date))


def day_salt(seed: int, day: int) -> int:
    """The per-day slot permutation key: distinct for any two days less than
    :data:`SLOTS` apart (an odd multiplier), seeded."""
    return (day * 0x9E37 + mix64(seed)) & (SLOTS - 1)


def _h(*parts: object) -> int:
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def _uuid(*parts: object) -> str:
    text = "|".join(str(p) for p in parts).encode()
    return str(uuid.UUID(bytes=hashlib.sha256(text).digest()[:16], version=4))


@lru_cache(maxsize=16)
def _slot_table(seed: int, integration: str) -> list[dict[str, Any]]:
    # Shared by every Dataset with this seed: tests and benchmarks build many.
    vendor = vendor_for(integration)
    return [_make_slot(seed, vendor, j) for j in range(SLOTS)]


def _make_slot(seed: int, vendor: Vendor, j: int) -> dict[str, Any]:
    h2 = _h(seed, "slot", vendor.name, j)
    first, fslug = _FIRST[h2 % _FN]
    last, lslug = _LAST[(h2 >> 12) % _LN]
    pct = (h2 >> 24) % 100
    status = (
        "active" if pct < 80 else "inactive" if pct < 88 else "invited" if pct < 95 else "deleted"
    )
    f: dict[str, Any] = {
        "name": f"{first} {last}",
        "slug": f"{fslug}.{lslug}",
        "status": status,
        "tail": id_tail(h2, vendor.id_alphabet),
    }
    f.update(vendor.slot_facts(h2, status))
    return f


@dataclass(frozen=True)
class Account:
    """One integrated account (what ``GET /integrated-account/{id}`` describes)."""

    id: str
    tenant_id: str
    integration: str
    status: str
    is_blocked: bool
    user_count: int
    created_at: str
    updated_at: str
    environment_id: str
    region: str
    domain: str
    org_name: str
    faults: tuple[FaultRule, ...] = field(default=(), repr=False)
    salt: int = field(default=0, repr=False)
    salt2: int = field(default=0, repr=False)
    id_base: int = field(default=0, repr=False)

    @property
    def vendor(self) -> Vendor:
        """The integration's vendor (field support, query semantics, shapes)."""
        return vendor_for(self.integration)

    def to_admin(self) -> dict[str, Any]:
        """The admin-API representation (``/integrated-account``)."""
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "environment_id": self.environment_id,
            "environment_integration_id": _uuid("env-int", self.environment_id, self.integration),
            "status": self.status,
            "is_sandbox": False,
            "is_blocked": self.is_blocked,
            "authentication_method": "api_key",
            "region": self.region,
            "context": {},
            "last_error": None,
            "integration": {
                "id": _uuid("integration", self.integration),
                "name": self.integration,
                "category": "usage-metering",
            },
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


_REGIONS = ("wnam", "enam", "apac", "eu")


class Dataset:
    """The synthetic inventory and users for one :class:`EmulatorConfig` (pure).

    ``accounts`` lists every integrated account; users are generated on demand with
    :meth:`user`, :meth:`users` and :meth:`user_ids`.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.seed = config.seed
        global_faults = parse_faults(config.faults)
        self.environment_id = _uuid("environment", config.seed)
        self.tenants: list[str] = []
        specs: list[AccountSpec] = list(config.accounts)
        if not specs:
            specs = self._generated_specs()
        self.tenants = sorted({s.tenant_id for s in specs})
        self._slots: dict[str, list[dict[str, Any]]] = {}
        self._id_ctx: dict[str, tuple[list[str], list[str], tuple[str, ...]]] = {}
        self.accounts: list[Account] = []
        self._by_id: dict[str, Account] = {}
        for k, spec in enumerate(specs):
            acc = self._make_account(k, spec, global_faults)
            if acc.id in self._by_id:
                raise ValueError(f"duplicate account id {acc.id}")
            self.accounts.append(acc)
            self._by_id[acc.id] = acc

    # ---- inventory -------------------------------------------------------------------

    def _tenant_names(self) -> list[str]:
        names = []
        for t in range(self.config.tenants):
            company = _COMPANIES[_h(self.seed, "tenant", t) % len(_COMPANIES)]
            names.append(f"{company}-{t + 1}")
        return names

    def _generated_specs(self) -> list[AccountSpec]:
        cfg = self.config
        tenants = self._tenant_names()
        lo, hi = cfg.users
        specs: list[AccountSpec] = []
        for integration in cfg.integrations:
            kinds = (
                [("active", False)] * cfg.accounts_per_integration
                + [("needs_reauth", False)] * cfg.needs_reauth_accounts
                + [("connecting", False)] * cfg.connecting_accounts
                + [("active", True)] * cfg.blocked_accounts
            )
            for k, (status, blocked) in enumerate(kinds):
                n = lo + _h(self.seed, "users", integration, k) % (hi - lo + 1)
                specs.append(
                    AccountSpec(
                        integration=integration,
                        tenant_id=tenants[k % len(tenants)],
                        users=n,
                        status=status,
                        is_blocked=blocked,
                        id=_uuid("account", self.seed, integration, k),
                    )
                )
        return specs

    def _make_account(
        self, k: int, spec: AccountSpec, global_faults: tuple[FaultRule, ...]
    ) -> Account:
        acc_id = spec.id or _uuid("account", self.seed, spec.tenant_id, spec.integration, k)
        h = _h(self.seed, "account-meta", acc_id)
        created = 1704067200 + h % (365 * 86400)  # during 2024
        updated = created + (h >> 25) % (200 * 86400)
        company = spec.tenant_id.split("-")[0] or "example"
        return Account(
            id=acc_id,
            tenant_id=spec.tenant_id,
            integration=spec.integration,
            status=spec.status,
            is_blocked=spec.is_blocked,
            user_count=spec.users,
            created_at=admin_time(created),
            updated_at=admin_time(updated),
            environment_id=self.environment_id,
            region=_REGIONS[h % len(_REGIONS)],
            domain=f"{company}.example.com",
            org_name=company.capitalize(),
            faults=parse_faults(spec.faults) if spec.faults is not None else global_faults,
            salt=_h(self.seed, "salt", acc_id) & M32,
            salt2=_h(self.seed, "salt2", acc_id) & M32,
            id_base=10_000_000 + (h >> 7) % 80_000_000,
        )

    def account(self, account_id: str) -> Account:
        """The account with this id (``KeyError`` if unknown)."""
        return self._by_id[account_id]

    def get_account(self, account_id: str) -> Account | None:
        """The account with this id, or ``None``."""
        return self._by_id.get(account_id)

    # ---- users -------------------------------------------------------------------------

    def slot(self, integration: str, j: int) -> dict[str, Any]:
        """The per-user facts that do not make a user unique (name, status, metrics...).

        There are :data:`SLOTS` of them per integration; user ``i`` uses a slot picked by
        a hash of (account, i), so accounts differ and nothing grows with the user count.
        """
        table = self._slots.get(integration)
        if table is None:
            table = self._slots[integration] = _slot_table(self.seed, integration)
        return table[j]

    def id_context(self, integration: str) -> tuple[list[str], list[str], tuple[str, ...]]:
        """(per-slot e-mail slugs, per-slot id tails, 16-bit code table) for renderers."""
        ctx = self._id_ctx.get(integration)
        if ctx is None:
            slots = [self.slot(integration, j) for j in range(SLOTS)]
            table = chunk_table(vendor_for(integration).id_alphabet)
            ctx = ([s["slug"] for s in slots], [s["tail"] for s in slots], table)
            self._id_ctx[integration] = ctx
        return ctx

    def unique(self, acc: Account, i: int) -> tuple[int, str, str]:
        """(identity slot, id, email) of user ``i``: the parts unique within the account.

        The identity slot also gives the user's name; everything else comes from the
        activity slot (:meth:`activity_slot`).
        """
        v = mix32(acc.salt ^ i)
        j = (v ^ acc.salt2) & (SLOTS - 1)
        vendor = acc.vendor
        slot = self.slot(vendor.name, j)
        if vendor.id_prefix is None:
            uid = str(acc.id_base + i)
        else:
            uid = vendor.id_prefix + encode32(v, vendor.id_alphabet) + slot["tail"]
        return j, uid, f"{slot['slug']}{i}@{acc.domain}"

    @staticmethod
    def activity_slot(seed: int, j: int, day: int | None) -> int:
        """The slot a user of identity slot ``j`` takes status and activity from on ``day``.

        A per-day permutation of the slots (``j`` itself without a day): the same users
        every day, with a different, seeded, activity each day.
        """
        return j if day is None else j ^ day_salt(seed, day)

    def default_date(self) -> str:
        """The ``date`` of a request that omits it (three days before the emulator's today)."""
        return self.config.default_date()

    def day_of(self, acc: Account, date: str | None) -> int | None:
        """The day (days since 1970) whose activity ``acc``'s records show for ``date``:
        ``None`` when the integration has no ``date``; the default date when ``date`` is."""
        if not acc.vendor.takes_date:
            return None
        return _day_number(date or self.default_date())

    def facts(self, acc: Account, i: int, day: int | None = None) -> dict[str, Any]:
        """Every piece user ``i`` is made of on ``day``, JSON-ready (no escaping needed)."""
        j, uid, email = self.unique(acc, i)
        integration = acc.integration
        f = dict(self.slot(integration, self.activity_slot(self.seed, j, day)))
        f["name"] = self.slot(integration, j)["name"]
        f["id"] = uid
        f["email"] = email
        f["num"] = acc.id_base + i
        if day is not None:
            f["lastday"] = day_text(day - f["gap"])
        return f

    def user(self, account_id: str, i: int, *, date: str | None = None) -> dict[str, Any]:
        """User ``i`` (0-based) of an account as the unified API returns it.

        ``date`` (``YYYY-MM-DD``) picks the day for integrations that take one (default:
        :meth:`default_date`); others ignore it.
        """
        acc = self._by_id[account_id]
        if not 0 <= i < acc.user_count:
            raise IndexError(i)
        return self._user(acc, i, self.day_of(acc, date))

    def _user(self, acc: Account, i: int, day: int | None) -> dict[str, Any]:
        return acc.vendor.record(self.facts(acc, i, day))

    def remote_user(self, account_id: str, i: int, *, date: str | None = None) -> dict[str, Any]:
        """User ``i`` in the vendor's own shape (``remote_data``, one raw-page row)."""
        acc = self._by_id[account_id]
        if not 0 <= i < acc.user_count:
            raise IndexError(i)
        return acc.vendor.remote_record(self.facts(acc, i, self.day_of(acc, date)))

    def users(
        self, account_id: str, start: int = 0, stop: int | None = None, *, date: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Users ``start .. stop-1`` of an account, in serving order (on ``date``)."""
        acc = self._by_id[account_id]
        day = self.day_of(acc, date)
        end = acc.user_count if stop is None else min(stop, acc.user_count)
        for i in range(start, end):
            yield self._user(acc, i, day)

    def user_id(self, account_id: str, i: int) -> str:
        """The ``id`` of user ``i``."""
        acc = self._by_id[account_id]
        return self.unique(acc, i)[1]

    def user_ids(self, account_id: str) -> Iterator[str]:
        """Every user id of an account, in serving order (unique within the account)."""
        acc = self._by_id[account_id]
        unique = self.unique
        for i in range(acc.user_count):
            yield unique(acc, i)[1]

    def index_of(self, account_id: str, user_id: str) -> int | None:
        """The index of a user id of this account, or ``None`` (inverse of the id maps)."""
        acc = self._by_id[account_id]
        vendor = acc.vendor
        prefix = vendor.id_prefix
        try:
            if prefix is None:
                i = int(user_id) - acc.id_base
            elif user_id.startswith(prefix):
                code = user_id[len(prefix) : len(prefix) + 6]
                i = unmix32(decode32(code, vendor.id_alphabet)) ^ acc.salt
            else:
                return None
        except (KeyError, ValueError):
            return None
        if 0 <= i < acc.user_count and self.unique(acc, i)[1] == user_id:
            return i
        return None
