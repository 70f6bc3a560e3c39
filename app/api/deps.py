"""Dependencies: the runtime, settings and API-key checks, typed so route signatures read as prose."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from ragsearch.app.runtime import Runtime
from ragsearch.app.settings import Settings

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="the key set in RAGSEARCH_API_API_KEY"
)


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings_dep(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def check_key(settings: Settings, given: str | None) -> None:
    expected = settings.api.api_key
    if expected is None:
        raise AuthError(
            403, "write endpoints are disabled: set RAGSEARCH_API_API_KEY on the server to enable them"
        )
    if not given:
        raise AuthError(401, "this endpoint needs an API key in the X-API-Key header")
    if not secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise AuthError(401, "the API key is not valid")


def require_write_key(settings: SettingsDep, key: Annotated[str | None, Security(api_key_header)]) -> None:
    check_key(settings, key)


def require_read_key(settings: SettingsDep, key: Annotated[str | None, Security(api_key_header)]) -> None:
    if settings.api.protect_reads:
        check_key(settings, key)


WriteAuth = Depends(require_write_key)
ReadAuth = Depends(require_read_key)
