"""Where NDIF is and how to authenticate, read from the environment or nnsight's config.

The API key is never taken from a command line (it would land in shell history and process
lists) and never written by nnvalues: it stays in memory and travels only in the request
header. `NdifSettings` shows whether a key is set, never the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

from nnvalues.remote.errors import NdifError

HOST_ENV = "NDIF_HOST"
KEY_ENV = "NDIF_API_KEY"
PUBLIC_DOMAIN = "ndif.us"
KEY_HELP = ("get one at https://login.ndif.us and set NDIF_API_KEY, or store it once with "
            "`python -c 'import nnsight; nnsight.login()'`")


@dataclass(frozen=True)
class NdifSettings:
    host: str
    """Base URL of the NDIF API, e.g. https://api.ndif.us or http://127.0.0.1:8001."""
    api_key: str | None = field(default=None, repr=False)

    @property
    def public(self) -> bool:
        """Whether this is the public NDIF service, which refuses requests without a key."""
        name = urlparse(self.host).hostname or ""
        return name == PUBLIC_DOMAIN or name.endswith("." + PUBLIC_DOMAIN)

    def describe(self) -> str:
        return f"{self.host} ({'API key set' if self.api_key else 'no API key'})"


def resolve_settings(host: str | None = None) -> NdifSettings:
    """Host: `host` (e.g. --ndif-host), else NDIF_HOST, else nnsight's config; key likewise.

    Raises NdifError for a malformed host, or for the public service without a key.
    """
    from nnsight import CONFIG

    chosen = (host or os.environ.get(HOST_ENV) or CONFIG.API.HOST or "").strip().rstrip("/")
    parsed = urlparse(chosen)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise NdifError(f"NDIF host {chosen!r} is not a URL: give it as http(s)://host[:port]")
    key = (os.environ.get(KEY_ENV) or CONFIG.API.APIKEY or "").strip() or None
    settings = NdifSettings(chosen, key)
    if settings.public and key is None:
        raise NdifError(f"no NDIF API key for {chosen}: {KEY_HELP}")
    return settings
