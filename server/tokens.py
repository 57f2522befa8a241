"""Access tokens: JWTs signed and checked with joserfc (the JOSE library of the authlib project)."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Claims:
    user: str
    name: str
    roles: frozenset[str]
    expires_at: int


class TokenIssuer:
    def __init__(self, secret: bytes, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._key = OctKey.import_key(secret)
        self._kid = hashlib.sha256(secret).hexdigest()[:16]
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._registry = jwt.JWTClaimsRegistry(
            leeway=0,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
        )

    def issue(self, user: str, name: str, roles: list[str] | tuple[str, ...],
              now: int | None = None) -> tuple[str, int]:
        issued = int(time.time()) if now is None else now
        expires = issued + self._ttl
        claims = {"iss": self._issuer, "aud": self._audience, "sub": user, "name": name,
                  "roles": list(roles), "iat": issued, "exp": expires,
                  "jti": secrets.token_urlsafe(12)}
        token = jwt.encode({"alg": ALGORITHM, "kid": self._kid}, claims, self._key,
                           algorithms=[ALGORITHM])
        return token, expires

    def verify(self, token: str) -> Claims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            self._registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as err:
            raise InvalidToken(type(err).__name__) from None
        claims = decoded.claims
        roles = claims.get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidToken("roles")
        return Claims(str(claims["sub"]), str(claims.get("name", "")), frozenset(roles),
                      int(claims["exp"]))


def load_secret(configured: str | None, path: Path) -> bytes:
    """The configured secret, or one generated once and kept beside the laptop's data."""
    if configured:
        return configured.encode()
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48).encode()
    path.touch(mode=0o600)
    path.write_bytes(secret)
    return secret
