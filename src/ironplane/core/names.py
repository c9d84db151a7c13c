"""Name rules shared by specs, the compiler and the control plane."""

from __future__ import annotations

import re

APP_NAME_MIN = 3
APP_NAME_MAX = 40
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def dns_label_problem(value: str, *, min_len: int = 1, max_len: int = 63) -> str | None:
    """Why ``value`` is not a DNS-1123 label of the given length, or None when it is one."""
    if not min_len <= len(value) <= max_len:
        return f"must be {min_len} to {max_len} characters long (it is {len(value)})"
    if value != value.lower():
        return "must be lower-case"
    if not _DNS_LABEL.match(value):
        return (
            "must hold only lower-case letters, digits and '-', "
            "and start and end with a letter or digit"
        )
    return None


def app_name_problem(value: str) -> str | None:
    return dns_label_problem(value, min_len=APP_NAME_MIN, max_len=APP_NAME_MAX)


def secret_key_problem(value: str) -> str | None:
    if not value or len(value) > 253 or not _SECRET_KEY.match(value):
        return "must be 1 to 253 characters of letters, digits, '-', '_' or '.'"
    return None
