"""Builtin functions and classes, grouped by area; see registry.py for how they register."""
import importlib

__all__ = ["CLASSES", "FUNCTIONS", "Builtin", "BuiltinClass", "builtin", "builtin_class",
           "classes_for", "functions_for", "method", "unavailable", "load_all"]

from .registry import (CLASSES, FUNCTIONS, Builtin, BuiltinClass, builtin, builtin_class,
                       classes_for, functions_for, method, unavailable)

# Area modules register their builtins when imported. A module that does not exist yet
# is skipped, so areas can land one at a time.
AREAS = ["types", "arrays", "strings", "regex", "math", "encodings", "crypto", "time",
         "network", "dnslookup", "spf", "httpclient", "smtpclient", "mail", "server", "misc",
         "classes", "exception", "x509", "mime", "legacy"]


# Hook contexts register their termination functions (Accept, Reject, ...) too.
HOOK_MODULES = ["hsl.hooks.functions", "hsl.hooks.delivery"]


def load_all() -> None:
    """Import every area (and hook context), registering all builtins."""
    for module in HOOK_MODULES:
        importlib.import_module(module)
    for area in AREAS:
        try:
            importlib.import_module(f"{__name__}.{area}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{area}":
                raise
