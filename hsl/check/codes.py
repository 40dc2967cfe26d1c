"""The stable diagnostic codes of `hsl check`. A code never changes meaning; new checks get
new codes. The README lists them."""
from __future__ import annotations

# code -> (default severity, short title)
CODES: dict[str, tuple[str, str]] = {
    "HSL001": ("error", "syntax error"),
    "HSL002": ("error", "missing ';'"),
    "HSL003": ("error", "unclosed bracket at end of file"),
    "HSL004": ("error", "invalid string literal or escape"),
    "HSL005": ("error", "nesting too deep"),
    "HSL101": ("error", "unknown function"),
    "HSL102": ("error", "unknown class"),
    "HSL103": ("error", "undefined variable"),
    "HSL104": ("error", "plugin module not available"),
    "HSL105": ("error", "unknown or private method"),
    "HSL201": ("error", "wrong number of arguments"),
    "HSL301": ("error", "assignment to a read-only variable"),
    "HSL302": ("error", "hook function outside its hook"),
    "HSL401": ("error", "break outside a loop or switch"),
    "HSL402": ("error", "continue outside a loop"),
    "HSL403": ("warning", "return outside a function"),
    "HSL501": ("error", "duplicate declaration"),
    "HSL502": ("error", "include or import file not found"),
    "HSL503": ("error", "name not exported by the module"),
    "HSL504": ("error", "invalid import or include"),
    "HSL505": ("warning", "data file not found"),
    "HSL601": ("warning", "variable read where no path has set it"),
    "HSL602": ("warning", "unreachable code"),
    "HSL701": ("error", "function of an older HSL generation that HSL no longer has"),
    "HSL702": ("warning", "function of an older HSL generation that HSL still runs"),
    "HSL900": ("error", "other compile-time error"),
    "HSL999": ("error", "internal error of the checker"),
}

# The documented category that --allow-unknown-functions (or `allow-unknown-functions =
# true` in the configuration) turns off: names that only Halon plugins or the server provide.
PLUGIN_CATEGORY = {"HSL101", "HSL102", "HSL104"}


def severity(code: str) -> str:
    return CODES.get(code, ("error", ""))[0]
