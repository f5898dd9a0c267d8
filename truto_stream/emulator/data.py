"""Synthetic, seeded data: tenants, integrated accounts and their users.

Nothing is stored per user: user ``i`` of an account is a pure function of
(seed, account, i), so a million-user account costs no memory. :class:`Dataset` is pure
(no I/O, no clock) and can be rebuilt from the same :class:`EmulatorConfig` in another
process to compute the expected records.

Field support follows the seed document: ``id``, ``name``, ``emails``, ``status`` for every
integration; ``created_at`` only ``openai``; ``last_active_at`` only ``claude``; ``roles``
only ``openai`` and ``cursor``. ``remote_data`` is the vendor's own record:

- claude: a row of Anthropic's ``GET /v1/organizations/analytics/users``;
- openai: an ``organization.user`` of ``GET /v1/organization/users``;
- cursor: a member of Cursor's ``GET /teams/members``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from truto_stream.emulator.config import AccountSpec, EmulatorConfig
from truto_stream.emulator.faults import FaultRule, parse_faults

__all__ = ["SLOTS", "Account", "Dataset", "mix32", "mix64", "unmix32", "unmix64"]

#: Distinct (name, status, metrics...) combinations per integration; see Dataset.slot.
SLOTS = 4096

_M = (1 << 64) - 1
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB
_C0 = 0x9E3779B97F4A7C15
_C1_INV = pow(_C1, -1, 1 << 64)
_C2_INV = pow(_C2, -1, 1 << 64)


def mix64(x: int) -> int:
    """splitmix64's finaliser: a bijection on 64-bit integers (so ids never collide)."""
    z = (x + _C0) & _M
    z = ((z ^ (z >> 30)) * _C1) & _M
    z = ((z ^ (z >> 27)) * _C2) & _M
    return z ^ (z >> 31)


_K32 = 0x045D9F3B
_K32_INV = pow(_K32, -1, 1 << 32)
_M32 = 0xFFFFFFFF


def mix32(x: int) -> int:
    """Two multiply-xorshift rounds: a cheap bijection on 32-bit integers.

    User ids are built from ``mix32(i ^ account salt)``, so ids never collide within an
    account and :meth:`Dataset.index_of` can invert them.
    """
    x = ((x ^ (x >> 16)) * _K32) & _M32
    x = ((x ^ (x >> 16)) * _K32) & _M32
    return x ^ (x >> 16)


def unmix32(x: int) -> int:
    """The inverse of :func:`mix32` (a 16-bit xorshift of a 32-bit value is an involution)."""
    x ^= x >> 16
    x = (x * _K32_INV) & _M32
    x ^= x >> 16
    x = (x * _K32_INV) & _M32
    return x ^ (x >> 16)


def _unshift(z: int, s: int) -> int:
    x = z
    for _ in range(64 // s + 1):
        x = z ^ (x >> s)
    return x & _M


def unmix64(z: int) -> int:
    """The inverse of :func:`mix64`."""
    z = _unshift(z, 31)
    z = (z * _C2_INV) & _M
    z = _unshift(z, 27)
    z = (z * _C1_INV) & _M
    z = _unshift(z, 30)
    return (z - _C0) & _M


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B58_PAIRS = [a + b for a in _B58 for b in _B58]
_B62_PAIRS = [a + b for a in _B62 for b in _B62]


def _enc11(v: int, pairs: list[str], alphabet: str) -> str:
    """Fixed-width (11 characters) big-endian encoding of a 64-bit value."""
    base2 = len(pairs)
    v, a = divmod(v, base2)
    v, b = divmod(v, base2)
    v, c = divmod(v, base2)
    v, d = divmod(v, base2)
    v, e = divmod(v, base2)
    return alphabet[v] + pairs[e] + pairs[d] + pairs[c] + pairs[b] + pairs[a]


@lru_cache(maxsize=2)
def _chunk_table(alphabet: str) -> tuple[str, ...]:
    """65,536 distinct 3-character codes: 16 bits of a 64-bit value per lookup."""
    n = len(alphabet)
    stride = 40503  # odd and coprime with n**3: spreads the codes over the whole space
    out = []
    for k in range(1 << 16):
        c = (k * stride) % (n**3)
        out.append(alphabet[c // (n * n)] + alphabet[(c // n) % n] + alphabet[c % n])
    return tuple(out)


@lru_cache(maxsize=2)
def _chunk_index(alphabet: str) -> dict[str, int]:
    return {code: k for k, code in enumerate(_chunk_table(alphabet))}


def encode32(v: int, alphabet: str) -> str:
    """A 32-bit value as 6 characters of ``alphabet`` (injective)."""
    t = _chunk_table(alphabet)
    return t[v >> 16] + t[v & 0xFFFF]


def decode32(s: str, alphabet: str) -> int:
    """The inverse of :func:`encode32` (``KeyError`` if ``s`` is not a valid code)."""
    idx = _chunk_index(alphabet)
    return (idx[s[0:3]] << 16) | idx[s[3:6]]


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
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
#: Fixed reference instant (2026-06-30): timestamps never depend on today's date.
_REF_DAY = (dt.date(2026, 6, 30) - dt.date(1970, 1, 1)).days


@lru_cache(maxsize=8192)
def _day(day: int) -> str:
    return dt.date.fromordinal(_EPOCH_ORDINAL + day).isoformat()


def iso_utc(ts: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.000Z`` for a Unix time in seconds."""
    day, secs = divmod(ts, 86400)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{_day(day)}T{h:02d}:{m:02d}:{s:02d}.000Z"


def admin_time(ts: int) -> str:
    """Truto's admin timestamp form, ``YYYY-MM-DD HH:MM:SS``."""
    day, secs = divmod(ts, 86400)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{_day(day)} {h:02d}:{m:02d}:{s:02d}"


def _h(*parts: object) -> int:
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def _uuid(*parts: object) -> str:
    text = "|".join(str(p) for p in parts).encode()
    return str(uuid.UUID(bytes=hashlib.sha256(text).digest()[:16], version=4))


@lru_cache(maxsize=16)
def _slot_table(seed: int, integration: str) -> list[dict[str, Any]]:
    # Shared by every Dataset with this seed: tests and benchmarks build many.
    return [_make_slot(seed, integration, j) for j in range(SLOTS)]


def _make_slot(seed: int, integration: str, j: int) -> dict[str, Any]:
    h2 = _h(seed, "slot", integration, j)
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
        "tail": (_enc11(h2, _B58_PAIRS, _B58) + _enc11(~h2 & _M, _B58_PAIRS, _B58))[:18],
        "tail62": (_enc11(h2, _B62_PAIRS, _B62) + _enc11(~h2 & _M, _B62_PAIRS, _B62))[:18],
    }
    t = h2 >> 32
    if integration == "claude":
        day = _REF_DAY - t % 90
        secs = (t >> 8) % 86400
        f["day"] = _day(day)
        f["last_active_at"] = iso_utc(day * 86400 + secs)
        m = mix64(h2)
        active = status == "active"
        conv = m % 40 if active else 0
        f["conv"] = conv
        f["msgs"] = conv * 3 + (m >> 8) % 7 if active else 0
        f["sessions"] = (m >> 16) % 12 if active else 0
        f["commits"] = (m >> 24) % 9 if active else 0
        f["added"] = (m >> 32) % 900 if active else 0
        f["removed"] = (m >> 42) % 300 if active else 0
        f["prs"] = (m >> 52) % 4 if active else 0
        f["searches"] = (m >> 56) % 20 if active else 0
    elif integration == "openai":
        added = 1640995200 + t % (4 * 365 * 86400)
        f["added_at"] = added
        f["created_at"] = iso_utc(added)
        f["role"] = "owner" if (h2 >> 20) % 25 == 0 else "reader"
    else:
        r = (h2 >> 20) % 100
        f["role"] = "owner" if r < 3 else "free-owner" if r < 5 else "member"
        f["removed"] = status == "deleted"
        f["removed_js"] = "true" if status == "deleted" else "false"
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
            salt=_h(self.seed, "salt", acc_id) & _M32,
            salt2=_h(self.seed, "salt2", acc_id) & _M32,
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
            alphabet = _B62 if integration == "openai" else _B58
            key = "tail62" if integration == "openai" else "tail"
            ctx = ([s["slug"] for s in slots], [s[key] for s in slots], _chunk_table(alphabet))
            self._id_ctx[integration] = ctx
        return ctx

    def unique(self, acc: Account, i: int) -> tuple[int, str, str]:
        """(slot index, id, email) of user ``i``: the parts unique within the account."""
        v = mix32(acc.salt ^ i)
        j = (v ^ acc.salt2) & (SLOTS - 1)
        integration = acc.integration
        if integration == "claude":
            uid = "user_" + encode32(v, _B58) + self.slot(integration, j)["tail"]
        elif integration == "openai":
            uid = "user-" + encode32(v, _B62) + self.slot(integration, j)["tail62"]
        else:
            uid = str(acc.id_base + i)
        slug = self.slot(integration, j)["slug"]
        return j, uid, f"{slug}{i}@{acc.domain}"

    def facts(self, acc: Account, i: int) -> dict[str, Any]:
        """Every piece user ``i`` is made of, JSON-ready (strings need no escaping)."""
        j, uid, email = self.unique(acc, i)
        f = dict(self.slot(acc.integration, j))
        f["id"] = uid
        f["email"] = email
        f["num"] = acc.id_base + i
        return f

    def user(self, account_id: str, i: int) -> dict[str, Any]:
        """User ``i`` (0-based) of an account as the unified API returns it."""
        acc = self._by_id[account_id]
        if not 0 <= i < acc.user_count:
            raise IndexError(i)
        return self._user(acc, i)

    def _user(self, acc: Account, i: int) -> dict[str, Any]:
        f = self.facts(acc, i)
        out: dict[str, Any] = {
            "id": f["id"],
            "name": f["name"],
            "emails": [{"email": f["email"], "is_primary": True}],
            "status": f["status"],
        }
        if acc.integration == "claude":
            out["last_active_at"] = f["last_active_at"]
        elif acc.integration == "openai":
            out["created_at"] = f["created_at"]
            out["roles"] = [{"id": f["role"], "name": f["role"]}]
        else:
            out["roles"] = [{"id": f["role"], "name": f["role"]}]
        out["remote_data"] = self._remote(acc, f)
        return out

    def remote_user(self, account_id: str, i: int) -> dict[str, Any]:
        """User ``i`` in the vendor's own shape (``remote_data``, one raw-page row)."""
        acc = self._by_id[account_id]
        if not 0 <= i < acc.user_count:
            raise IndexError(i)
        return self._remote(acc, self.facts(acc, i))

    @staticmethod
    def _remote(acc: Account, f: dict[str, Any]) -> dict[str, Any]:
        if acc.integration == "claude":
            return {
                "user": {"id": f["id"], "email_address": f["email"], "type": "user"},
                "chat_metrics": {
                    "distinct_conversation_count": f["conv"],
                    "message_count": f["msgs"],
                },
                "claude_code_metrics": {
                    "core_metrics": {
                        "commit_count": f["commits"],
                        "distinct_session_count": f["sessions"],
                        "lines_of_code": {
                            "added_count": f["added"],
                            "removed_count": f["removed"],
                        },
                        "pull_request_count": f["prs"],
                    },
                    "tool_actions": {
                        "edit_tool": {"accepted_count": f["sessions"], "rejected_count": 0}
                    },
                },
                "web_search_count": f["searches"],
                "last_activity_date": f["day"],
                "rbac_group_id": None,
                "rbac_group_name": None,
                "distinct_user_count": None,
            }
        if acc.integration == "openai":
            return {
                "object": "organization.user",
                "id": f["id"],
                "name": f["name"],
                "email": f["email"],
                "role": f["role"],
                "added_at": f["added_at"],
            }
        return {
            "id": f["num"],
            "name": f["name"],
            "email": f["email"],
            "role": f["role"],
            "isRemoved": f["removed"],
        }

    def users(
        self, account_id: str, start: int = 0, stop: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Users ``start .. stop-1`` of an account, in serving order."""
        acc = self._by_id[account_id]
        end = acc.user_count if stop is None else min(stop, acc.user_count)
        for i in range(start, end):
            yield self._user(acc, i)

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
        try:
            if acc.integration == "cursor":
                i = int(user_id) - acc.id_base
            elif acc.integration == "claude" and user_id.startswith("user_"):
                i = unmix32(decode32(user_id[5:11], _B58)) ^ acc.salt
            elif acc.integration == "openai" and user_id.startswith("user-"):
                i = unmix32(decode32(user_id[5:11], _B62)) ^ acc.salt
            else:
                return None
        except (KeyError, ValueError):
            return None
        if 0 <= i < acc.user_count and self.unique(acc, i)[1] == user_id:
            return i
        return None
