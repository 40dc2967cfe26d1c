"""Small parsing helpers for `hsl serve` options (kept import-light)."""
from __future__ import annotations

import argparse


def parse_hostport(value: str, default_port: int) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT, HOST or :PORT -> (host, port)."""
    value = value.strip()
    host, port = value, None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise argparse.ArgumentTypeError(f"bad address {value!r}")
        host, rest = value[1:end], value[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise argparse.ArgumentTypeError(f"bad address {value!r}")
            port = rest[1:]
    elif value.count(":") == 1:
        host, port = value.split(":")
    try:
        number = default_port if port in (None, "") else int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {value!r}")
    return (host or "127.0.0.1"), number


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
