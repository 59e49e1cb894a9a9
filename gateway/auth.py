"""API keys with roles: ``read`` (every GET) and ``command`` (every command), separate on purpose.

A request carries its key as ``Authorization: Bearer <key>`` (never in the URL: URLs are logged). Keys
are known by their SHA-256 only, so the process holds no plaintext beyond the environment it was given;
a key may expire (file keys). No token or an unknown one is 401, an expired one 401 saying so, a key
without the endpoint's role 403. Hand-written because it is a dictionary lookup: an identity provider
(OAuth, JWT refresh) is more than a loopback-bound service needs, and FastAPI's ``HTTPBearer`` does the
header parsing and the OpenAPI security scheme.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.settings import GatewaySection


class Role(StrEnum):
    read = "read"
    command = "command"


@dataclass(frozen=True)
class Principal:
    name: str  # who: for audit records and logs (never the key)
    roles: frozenset[Role]
    expires: dt.datetime | None = None


class KeysFileError(ValueError):
    """The keys file cannot be read or has a bad entry (the message names the entry, never a key)."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _file_entries(path: Path) -> Iterable[tuple[str, Principal]]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KeysFileError(f"cannot read the keys file {path}: {exc}") from None
    for i, entry in enumerate(data.get("key", [])):
        name = entry.get("name") or f"key#{i + 1}"
        sha = str(entry.get("sha256", "")).lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise KeysFileError(f"{path}: entry {name!r} needs sha256 = the key's hex SHA-256")
        try:
            roles = frozenset(Role(r) for r in entry.get("roles", []))
        except ValueError:
            raise KeysFileError(f"{path}: entry {name!r} has an unknown role; known: read, command") from None
        if not roles:
            raise KeysFileError(f"{path}: entry {name!r} has no roles")
        expires = entry.get("expires")
        if expires is not None and not isinstance(expires, dt.datetime):
            raise KeysFileError(f"{path}: entry {name!r}: expires must be a TOML date-time")
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        yield sha, Principal(name, roles, expires)


class KeyStore:
    """SHA-256 of a key -> who holds it, with which roles and until when."""

    def __init__(self, section: GatewaySection, clock: Callable[[], dt.datetime] | None = None):
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        keys: dict[str, Principal] = {}

        def add(sha: str, principal: Principal) -> None:
            known = keys.get(sha)
            if known is not None:  # the same key listed twice (e.g. read and command): the union of its roles
                principal = Principal(known.name, known.roles | principal.roles, known.expires or principal.expires)
            keys[sha] = principal

        for i, key in enumerate(section.read_keys):
            add(digest(key.get_secret_value()), Principal(f"env-read-{i + 1}", frozenset({Role.read})))
        for i, key in enumerate(section.command_keys):
            add(digest(key.get_secret_value()), Principal(f"env-command-{i + 1}", frozenset({Role.command})))
        if section.keys_file is not None:
            for sha, principal in _file_entries(section.keys_file):
                add(sha, principal)
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    def authenticate(self, token: str | None) -> Principal:
        """The key's holder; :class:`HTTPException` 401 when missing, unknown or expired."""
        if not token:
            raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        principal = self._keys.get(digest(token))
        if principal is None:
            raise _unauthorized("unknown API key")
        if principal.expires is not None and principal.expires <= self._clock():
            raise _unauthorized(f"API key {principal.name!r} expired at {principal.expires.isoformat()}")
        return principal


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


def requires(role: Role) -> Callable[..., Principal]:
    """A dependency: the request's principal, which must hold ``role`` (403 otherwise)."""

    def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        store: KeyStore = request.app.state.keys
        principal = store.authenticate(credentials.credentials if credentials else None)
        if role not in principal.roles:
            raise HTTPException(403, f"API key {principal.name!r} lacks the {role.value!r} role")
        return principal

    return check


def bearer_token(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header value (the WebSocket handshake's)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
