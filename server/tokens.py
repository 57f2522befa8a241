"""Access tokens: JWTs signed with Ed25519 keys that rotate, checked with joserfc (the JOSE
library of the authlib project) against an allow-list of one algorithm."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

# RFC 9864's fully specified name; "none", HS* and RS* are refused by the allow-list.
ALGORITHM = "Ed25519"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Claims:
    user: str
    name: str
    roles: frozenset[str]
    issued_at: float
    expires_at: int


@dataclass(frozen=True)
class SigningKeys:
    """Every key that may still verify a token; the newest one signs."""

    keys: list[OKPKey]

    @property
    def current(self) -> OKPKey:
        return self.keys[-1]

    def key_set(self) -> KeySet:
        return KeySet(list(self.keys))

    def to_json(self) -> str:
        return json.dumps({"keys": [k.as_dict(private=True) for k in self.keys]})

    @classmethod
    def from_json(cls, text: str) -> SigningKeys:
        raw = json.loads(text)
        keys = [OKPKey.import_key(k) for k in raw["keys"]]
        if not keys or any(not k.kid for k in keys):
            raise ValueError("signing keys need at least one key, each with a kid")
        return cls(keys)

    def rotated(self, keep: int = 3) -> SigningKeys:
        """A new signing key; the last `keep` older ones still verify tokens they signed."""
        fresh = OKPKey.generate_key("Ed25519", parameters={"kid": _kid()}, private=True)
        return SigningKeys([*self.keys[-keep:], fresh])

    @classmethod
    def generate(cls) -> SigningKeys:
        return cls([OKPKey.generate_key("Ed25519", parameters={"kid": _kid()}, private=True)])


def _kid() -> str:
    return time.strftime("%Y%m%d") + "-" + secrets.token_hex(4)


def load_signing_keys(configured: str | None, path: Path) -> SigningKeys:
    """The configured key set (JWT_KEYS), or one generated once beside the laptop's data."""
    if configured:
        return SigningKeys.from_json(configured)
    if path.exists():
        return SigningKeys.from_json(path.read_text())
    keys = SigningKeys.generate()
    save_signing_keys(keys, path)
    return keys


def save_signing_keys(keys: SigningKeys, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(keys.to_json())
    temporary.replace(path)


class TokenIssuer:
    def __init__(self, keys: SigningKeys, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._keys = keys
        self._verifying = keys.key_set()
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._registry = jwt.JWTClaimsRegistry(
            leeway=0,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
        )

    def issue(self, user: str, name: str, roles: list[str] | tuple[str, ...],
              now: float | None = None) -> tuple[str, int]:
        issued = time.time() if now is None else now
        expires = int(issued) + self._ttl
        # iat is whole seconds; sign-outs compare to the millisecond, so keep that too.
        claims = {"iss": self._issuer, "aud": self._audience, "sub": user, "name": name,
                  "roles": list(roles), "iat": int(issued), "iat_ms": int(issued * 1000),
                  "exp": expires,
                  "jti": secrets.token_urlsafe(12)}
        signer = self._keys.current
        token = jwt.encode({"alg": ALGORITHM, "kid": signer.kid}, claims, signer,
                           algorithms=[ALGORITHM])
        return token, expires

    def verify(self, token: str) -> Claims:
        try:
            decoded = jwt.decode(token, self._verifying, algorithms=[ALGORITHM])
            self._registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError, KeyError) as err:
            raise InvalidToken(type(err).__name__) from None
        claims: dict[str, Any] = decoded.claims
        roles = claims.get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidToken("roles")
        return Claims(str(claims["sub"]), str(claims.get("name", "")), frozenset(roles),
                      int(claims.get("iat_ms", claims["iat"] * 1000)) / 1000,
                      int(claims["exp"]))
