"""A real OpenID provider for the tests, on authlib's server side: discovery, JWKS, an authorize
endpoint that approves the configured user at once, a token endpoint issuing RS256 ID tokens
(authorization codes are single use, PKCE checked when sent). Served by uvicorn on a free port."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import uvicorn
from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.components import free_port

# The provider speaks plain http on localhost; authlib's server side refuses that otherwise.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
KID = "test-signing-1"


@dataclass
class Person:
    """Who the provider says is signing in."""
    sub: str
    email: str
    email_verified: bool = True
    name: str = "Grace Hopper"


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    redirect_uri: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    person: Person
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class Request2(OAuth2Request):
    """authlib's request, from a Starlette request whose form was read already."""

    def __init__(self, request: Request, form: dict[str, str]) -> None:
        super().__init__(request.method, str(request.url), headers=request.headers)
        self._query = dict(request.query_params)
        self._form = form
        self.payload = BasicOAuth2Payload({**self._query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Provider:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"})
        # Tests set these: who signs in, whether consent is denied, whether tokens are forged.
        self.person = Person("sub-0", "nobody@example.com")
        self.deny = False
        self.forge = False
        self.audience: str | None = None  # an ID token for another client, when set
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.server = self._server()

    def add_client(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.clients[client_id] = Client(client_id, client_secret, redirect_uri)

    def signing_key(self) -> RSAKey:
        if self.forge:
            # Same key id, another key: only a signature check tells them apart.
            return RSAKey.generate_key(2048, parameters={"kid": KID})
        return self.key

    def _server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):  # type: ignore[misc]
            def query_client(self, client_id: str) -> Client | None:
                return provider.clients.get(client_id)

            def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
                return request  # the handlers build it, having read the form already

            def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
                pass

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                pass

            def handle_response(self, status: int, body: Any,
                                headers: list[tuple[str, str]]) -> Response:
                if isinstance(body, dict):
                    return JSONResponse(body, status_code=status, headers=dict(headers))
                return Response(body, status_code=status, headers=dict(headers))

        class Grant(AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic",
                                                                "client_secret_post"]

            def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
                data = request.payload.data
                provider.codes[code] = Code(
                    code, request.client.client_id, data["redirect_uri"], request.scope,
                    request.user, data.get("nonce"), data.get("code_challenge"),
                    data.get("code_challenge_method"))

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> Person:
                return authorization_code.person

        class OpenID(OpenIDCode):  # type: ignore[misc]
            def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
                return False

            def resolve_client_private_key(self, client: Client) -> RSAKey:
                return provider.signing_key()

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": KID}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [provider.audience or client.client_id]}

            def generate_user_info(self, user: Person, scope: str) -> UserInfo:
                return UserInfo(sub=user.sub, name=user.name, email=user.email,
                                email_verified=user.email_verified)

        server = Server()
        server.register_token_generator("default", BearerTokenGenerator(
            lambda *args, **kwargs: secrets.token_urlsafe(32)))
        server.register_grant(Grant, [OpenID(require_nonce=True), CodeChallenge(required=False)])
        return server

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse({
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "client_secret_post"],
            })

        async def jwks(request: Request) -> Response:
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        async def authorize(request: Request) -> Response:
            self.authorize_requests.append(dict(request.query_params))
            asked = Request2(request, {})
            try:
                grant = self.server.get_consent_grant(asked)
            except Exception as err:  # an invalid request: show it, as a provider would
                return JSONResponse({"error": repr(err)}, status_code=400)
            person = None if self.deny else self.person
            return self.server.create_authorization_response(asked, person, grant)  # type: ignore[no-any-return]

        async def token(request: Request) -> Response:
            # A urlencoded body, as RFC 6749 has it (Starlette's form parser needs another package).
            form = dict(parse_qsl((await request.body()).decode()))
            return self.server.create_token_response(Request2(request, form))  # type: ignore[no-any-return]

        return Starlette(routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
        ])


@contextmanager
def running_provider() -> Iterator[Provider]:
    """A provider served by uvicorn in a thread, on a free port of 127.0.0.1."""
    port = free_port()
    provider = Provider(f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test OpenID provider did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
