"""The OpenID providers people can sign in with, as configured, and authlib's client for each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.integrations.starlette_client import OAuth

from server.settings import Settings

SCOPE = "openid email profile"
HTTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Provider:
    name: str
    client_id: str
    client_secret: str
    discovery_url: str
    pkce: bool
    # How the token endpoint wants the client secret: LinkedIn takes it only in the form body.
    token_auth: str = "client_secret_basic"


def configured(settings: Settings) -> list[Provider]:
    """The providers whose client id and secret are both set."""
    found = []
    if settings.google_client_id and settings.google_client_secret:
        found.append(Provider("google", settings.google_client_id,
                              settings.google_client_secret, settings.google_discovery_url,
                              settings.google_pkce))
    if settings.linkedin_client_id and settings.linkedin_client_secret:
        found.append(Provider("linkedin", settings.linkedin_client_id,
                              settings.linkedin_client_secret, settings.linkedin_discovery_url,
                              settings.linkedin_pkce, token_auth="client_secret_post"))
    return found


def clients(providers: list[Provider]) -> dict[str, Any]:
    """authlib's Starlette client of each provider (state, nonce and PKCE kept in the session),
    by name. Each reads the provider's discovery document, and its keys, on first use."""
    oauth = OAuth()
    for provider in providers:
        options: dict[str, Any] = {"scope": SCOPE, "timeout": HTTP_TIMEOUT_SECONDS,
                                   "token_endpoint_auth_method": provider.token_auth}
        if provider.pkce:
            options["code_challenge_method"] = "S256"
        oauth.register(provider.name, client_id=provider.client_id,
                       client_secret=provider.client_secret,
                       server_metadata_url=provider.discovery_url, client_kwargs=options)
    return {provider.name: oauth.create_client(provider.name) for provider in providers}
