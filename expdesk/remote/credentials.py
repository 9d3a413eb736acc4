"""Credentials for a tracking server: from the environment or the OS keyring, never from the index DB.

Order: `EXPDESK_MLFLOW_TOKEN`, then `MLFLOW_TRACKING_TOKEN` (bearer); `MLFLOW_TRACKING_USERNAME` +
`MLFLOW_TRACKING_PASSWORD` (basic, the names MLflow's own client reads); `user:password@` in the URL; then
the keyring (only when the optional `keyring` package is installed) under service `expdesk-mlflow`, user =
the server's `host:port`, holding a bearer token. Secrets are only ever placed in an `Authorization` header;
`mask` scrubs them from any text we print.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

KEYRING_SERVICE = "expdesk-mlflow"


@dataclass(frozen=True)
class Credentials:
    """An `Authorization` header value (or None) and the secrets that must never be shown."""

    header: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    origin: str = "none"  # where they came from, safe to show: "env:MLFLOW_TRACKING_TOKEN", "keyring", ...

    def __repr__(self) -> str:  # never let a secret reach a log line through repr()
        return f"Credentials(origin={self.origin!r})"

    def mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """(url without `user:password@`, user, password)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return clean, user, password


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _from_keyring(url: str) -> str | None:
    try:
        import keyring  # optional: only used when the user installed it
    except ImportError:
        return None
    parts = urlsplit(url)
    account = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    try:
        return keyring.get_password(KEYRING_SERVICE, account)
    except Exception:  # a locked or missing keyring backend must not break pushing to an open server
        return None


def resolve(url: str, environ: dict[str, str] | None = None) -> Credentials:
    """Credentials for `url` (which may still carry `user:password@`)."""
    env = os.environ if environ is None else environ
    for name in ("EXPDESK_MLFLOW_TOKEN", "MLFLOW_TRACKING_TOKEN"):
        token = env.get(name)
        if token:
            return Credentials(f"Bearer {token}", (token,), f"env:{name}")
    user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        header = _basic(user, password)
        return Credentials(header, (password, header.split()[1]), "env:MLFLOW_TRACKING_USERNAME")
    _clean, url_user, url_password = split_userinfo(url)
    if url_user and url_password:
        header = _basic(url_user, url_password)
        return Credentials(header, (url_password, header.split()[1]), "url")
    token = _from_keyring(url)
    if token:
        return Credentials(f"Bearer {token}", (token,), "keyring")
    return Credentials()
