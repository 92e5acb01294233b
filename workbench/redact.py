"""One redaction of credentials for everything the workbench prints, raises, logs, stores or exports.

Covers every form a database password arrives in: a URL's user-info (``scheme://user:secret@host``), a query-string
key (``?password=secret``, ``sslpassword``, ``passfile``'s neighbours), a libpq keyword string
(``host=h password=secret``), the ``PGPASSWORD`` environment variable and the passwords of a ``.pgpass`` file
(``PGPASSFILE``), plus any secret a caller registers (:func:`remember_secret`, e.g. a store's URL password). A
hand-written pass: no library masks all of these at once (SQLAlchemy's ``hide_password`` masks user-info only)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

MASK = "***"
# query-string / keyword names whose values are credentials (libpq's, and the usual token names)
SECRET_KEYS = (
    "password",
    "sslpassword",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "sslkey_password",
)
_KEYS = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@?#'\"]*):(?P<secret>[^@\s/'\"]*)@")
_KEY_VALUE = re.compile(
    rf"(?P<head>(?:(?<=[?&;\s,(])|^)(?:{_KEYS})\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^&\s#'\",;)]+)", re.IGNORECASE
)
_known: set[str] = set()
_MIN_SECRET = 3  # shorter values would mask ordinary text; such passwords are masked where their form is known


def remember_secret(secret: object) -> None:
    """Mask this value wherever it appears from now on (also its URL-encoded and decoded forms)."""
    if secret:
        text = str(secret)
        for form in {text, unquote(text)}:
            if len(form) >= _MIN_SECRET:
                _known.add(form)


def _environment_secrets() -> set[str]:
    found = {os.environ.get("PGPASSWORD", "")}
    passfile = Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    try:
        if passfile.is_file() and passfile.stat().st_size < 1 << 20:
            for line in passfile.read_text(errors="replace").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    # host:port:database:user:password, with \: and \\ escaped
                    fields = re.split(r"(?<!\\):", line, maxsplit=4)
                    if len(fields) == 5:
                        found.add(fields[4].replace("\\:", ":").replace("\\\\", "\\"))
    except OSError:
        pass
    return {s for s in found if len(s) >= _MIN_SECRET}


def redact(text: object) -> str:
    """``text`` with every credential replaced by ``***``; other text unchanged."""
    text = str(text)
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@" if m["secret"] else m[0], text)
    text = _KEY_VALUE.sub(lambda m: m["head"] + MASK, text)
    for secret in sorted(_known | _environment_secrets(), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value: Any) -> Any:
    """A stored or exported value with credentials masked: strings redacted, containers walked, others as is."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in a record's message (and drops its args once formatted)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
