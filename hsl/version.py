"""hsl's version (the package's `hsl.__version__`; pyproject.toml has the same, checked by
tests/test_dist.py).  A module of its own so that any module can read it without
importing the package's public API (hsl/__init__.py)."""

__version__ = "0.1.0"
