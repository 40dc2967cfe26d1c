"""Shared pytest configuration for the hsl test suite."""
from __future__ import annotations

import pytest


def pytest_report_header(config):
    """Show which hsl the tests exercise (an editable checkout or an installed copy)."""
    try:
        import hsl
    except Exception as exc:  # the suite reports the details per test
        return f"hsl: not importable ({type(exc).__name__}: {exc})"
    version = getattr(hsl, "__version__", "?")
    return f"hsl: {version} from {getattr(hsl, '__file__', '?')}"


@pytest.fixture(scope="session", autouse=True)
def _no_real_dns():
    """No test asks real DNS by accident: lookups answer from an empty table (NXDOMAIN)
    unless a test installs its own backend (tests/test_builtins_dns.py, ...)."""
    from hsl.net import dns as resolver
    saved = resolver.backend()
    resolver.configure(resolver.MockBackend({}))
    yield
    resolver.configure(saved)


@pytest.fixture
def fresh_store():
    """An empty memory_* store and no metrics, for tests that read them back."""
    from hsl.builtins import server
    from hsl.runtime.store import MEMORY, MEMORY_LOCK

    def clear():
        with MEMORY_LOCK:
            for key in [k for k in MEMORY if type(k) is bytes]:
                del MEMORY[key]
        server.metrics_reset()
    clear()
    yield
    clear()
