"""Credentials -> (tenant, role), and role checks.

Two ways in:
- an API key (`X-API-Key: krn_...` or `Authorization: Bearer krn_...`): looked up by its
  SHA-256 digest, cached in the worker for at most KEY_CACHE_SECONDS (<= 15 s), so revocation
  takes effect within that bound and the hot path makes no database round trip;
- `X-Tenant-Id` (+ `X-User-Role`) asserted by a gateway, accepted only from TRUSTED_PROXIES.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from flask import Request

from joins.errors import ApiError
from joins.schemas import ROLES

KEY_PREFIX = "krn_"
MAX_CREDENTIAL_LENGTH = 255
MAX_KEY_CACHE_SECONDS = 15.0

READ_ROLES = frozenset(ROLES)
WRITE_ROLES = frozenset({"editor", "admin"})


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    role: str
    key_id: str | None = None


def new_key() -> tuple[str, str, bytes]:
    """A fresh (key id, raw key, digest). The raw key is shown once and never stored."""
    key_id = "key_" + secrets.token_hex(8)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    return key_id, raw, digest(raw)


def digest(raw_key: str) -> bytes:
    # Keys carry 256 random bits, so a fast hash is as good as a slow one here.
    return hashlib.sha256(raw_key.encode("utf-8")).digest()


class KeyCache:
    """digest -> key record (or None for unknown keys), each kept for `ttl` seconds."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = min(float(ttl), MAX_KEY_CACHE_SECONDS)
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def get(self, key_digest: bytes, load: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        now = time.monotonic()
        entry = self._entries.get(key_digest)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        record = load()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                # Random keys from a flood must not grow the worker without bound.
                self._entries.clear()
            self._entries[key_digest] = (now, record)
        return record

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def parse_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """'127.0.0.1, ::1, 10.0.0.0/8' -> networks; empty -> () (header mode off)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def _single_header(request: Request, name: str) -> str | None:
    """The header's value; 400 when it was sent more than once with different values.

    WSGI servers join repeated headers with commas; no credential contains a comma. Empty
    pieces (a stray trailing comma) are not values.
    """
    raw = request.headers.get(name)
    if raw is None:
        return None
    values = {part.strip() for part in raw.split(",")} - {""}
    if len(values) > 1:
        raise ApiError(400, f"The {name} header was sent more than once with different values")
    return values.pop() if values else ""


def _check_printable(name: str, value: str) -> None:
    if len(value) > MAX_CREDENTIAL_LENGTH:
        raise ApiError(400, f"The {name} header is longer than {MAX_CREDENTIAL_LENGTH} characters")
    if not value.isprintable():
        raise ApiError(400, f"The {name} header contains control characters")


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*(?:\s+|$)")


def _bearer_key(request: Request) -> str | None:
    """The krn_ key of `Authorization: Bearer krn_...`; None for any other authorization.

    Other schemes and other bearer tokens belong to whatever sits in front of the service
    (a gateway may forward its own token beside X-Tenant-Id), so they are not ours to judge.
    Repeated headers arrive joined by commas; a piece that starts with a scheme name starts
    another header (a Digest header's own parameters do not).
    """
    raw = request.headers.get("Authorization")
    if raw is None:
        return None
    headers: list[str] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not headers or (_SCHEME.match(part) and "=" not in part.split(None, 1)[0]):
            headers.append(part)
        else:
            headers[-1] += ", " + part
    if len(set(headers)) > 1:
        raise ApiError(400, "The Authorization header was sent more than once with different values")
    if not headers:
        return None
    scheme, _, token = headers[0].partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise ApiError(401, "The Authorization header carries no key")
    return token if token.startswith(KEY_PREFIX) else None


def _api_key(request: Request) -> str | None:
    key = _single_header(request, "X-API-Key")
    if key is not None and not key:
        raise ApiError(401, "The X-API-Key header is blank")
    bearer = _bearer_key(request)
    if key and bearer and key != bearer:
        raise ApiError(400, "X-API-Key and Authorization carry different keys")
    return key or bearer


class Authenticator:
    def __init__(self, *, trusted_proxies: str, key_cache_seconds: float) -> None:
        self.trusted = parse_networks(trusted_proxies)
        self.cache = KeyCache(key_cache_seconds)

    def _from_proxy(self, remote_addr: str | None) -> bool:
        if not self.trusted or not remote_addr:
            return False
        try:
            address = ipaddress.ip_address(remote_addr)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def caller(self, request: Request, find_key: Callable[[bytes], dict[str, Any] | None]) -> Caller:
        """Resolve the request's credentials; ApiError 400/401/403 when they do not hold."""
        key = _api_key(request)
        if key is not None:
            return self._caller_from_key(key, find_key)
        tenant_id = _single_header(request, "X-Tenant-Id")
        if tenant_id is None:
            raise ApiError(401, "Missing credentials: send X-API-Key: krn_... (or Authorization: Bearer krn_...)")
        if not tenant_id:
            raise ApiError(401, "The X-Tenant-Id header is blank")
        _check_printable("X-Tenant-Id", tenant_id)
        if not self._from_proxy(request.remote_addr):
            raise ApiError(401, "X-Tenant-Id is accepted only from a trusted gateway; use an API key (X-API-Key: krn_...)")
        role = _single_header(request, "X-User-Role")
        role = "viewer" if role is None else role
        if role not in ROLES:
            raise ApiError(403, f'Unknown role in X-User-Role; use one of {", ".join(ROLES)}')
        return Caller(tenant_id=tenant_id, role=role)

    def _caller_from_key(self, key: str, find_key: Callable[[bytes], dict[str, Any] | None]) -> Caller:
        if not key.startswith(KEY_PREFIX) or len(key) > MAX_CREDENTIAL_LENGTH or not key.isprintable():
            raise ApiError(401, "Invalid API key")
        key_digest = digest(key)
        record = self.cache.get(key_digest, lambda: find_key(key_digest))
        if record is None:
            raise ApiError(401, "Invalid API key")
        if record["revoked"]:
            raise ApiError(401, "API key revoked")
        expires_epoch: float | None = record["expiresEpoch"]
        if expires_epoch is not None and expires_epoch <= time.time():
            raise ApiError(401, "API key expired")
        return Caller(tenant_id=record["tenantId"], role=record["role"], key_id=record["id"])


def require_role(caller: Caller, allowed: frozenset[str]) -> None:
    if caller.role not in allowed:
        raise ApiError(403, f"Role {caller.role} may not do this; it needs one of {', '.join(sorted(allowed))}")
