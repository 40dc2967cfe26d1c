"""DNS lookups (builtins.md "DNS and network"): dns_query, on hsl.net.dns.

`dns_query(host, options = [])` returns `["result" => [records...], "dnssec" => bool]`,
or `["error" => NAME, "dnssec" => bool]` where NAME is one of NXDOMAIN, SERVFAIL,
TRY_AGAIN (timeout, or no resolver answered), REFUSED, FORMERR (also: `host` is
empty or not a valid DNS name), NOTIMP, YXDOMAIN.  A name that exists without records of
the type (NODATA) is a success with an empty list.  Records are text as hsl.net.dns formats them:
addresses as text, names without the final dot, MX as "10 mx.example.com", TXT as its
strings joined, SRV as "priority weight port target", SOA as "mname rname serial refresh
retry expire minimum", TLSA and CAA in their zone-file form.

Options (an option that is none counts as absent):

* `type`: a (default), aaaa, mx, txt, cname, ns, ptr, soa, srv, tlsa, caa; any case.
  Another type is an error.
* `timeout`: seconds (default 5), a number greater than 0.  The lookup never runs past
  the execution's time limit: it is given at most the time left, and when that runs out
  the run stops with "execution time limit exceeded" (not a TRY_AGAIN result).
* `servers`: a list of resolver addresses ("192.0.2.53", "192.0.2.53:5353",
  "[2001:db8::53]:53") asked instead of the configured ones (`hsl run --dns-server`, or
  the system's).  An empty list means the configured ones.
* `extended_result`: OUR DECISION: accepted (it must be a boolean) and ignored.  The
  result always has the extended shape (result or error, and dnssec), which is what the
  option selected in the older dns* functions; TTLs are not reported.

Also OUR DECISIONS where builtins.md is silent: an option of the wrong type, a timeout
that is not greater than 0 and a server that is not an IP address (with an optional
port) are errors naming dns_query; a Unicode `host` (UTF-8) is looked up in its IDNA
(punycode) form, and one that has no IDNA form gives FORMERR; a host that is not UTF-8
goes to the backend as it is (dnspython answers FORMERR for it).

The lookup itself goes to the process-wide backend (hsl.net.dns: dnspython, or a table
given with `--dns-table`).  Before it, the run is marked as blocking (runtime.blocking),
so that `hsl serve` moves a speculative run to a worker thread first.

The helpers at the end (`parse_server`, `check_table`, `load_table_file`) serve the
command line: `--dns-server`, `--dns-table` and the `dns:` key of session files.
"""
from __future__ import annotations

import ipaddress
import math

from ..inputs import read_yaml_or_json
from ..errors import ScriptError
from ..net import dns as _resolver
from ..runtime.values import HArray
from .network import idna_to_ascii
from ._args import digits_value, opt_bool, opt_number, opt_str, opt_str_list, type_error
from .registry import builtin

AREA = "network"
_F = "dns_query"
_TYPES = frozenset(t.encode() for t in _resolver.TYPES)

# Error names an answer (or a table entry) may carry.
ERRORS = ("NXDOMAIN", "SERVFAIL", "TRY_AGAIN", "REFUSED", "FORMERR", "NOTIMP", "YXDOMAIN")


@builtin(area=AREA)
def dns_query(host, options=None):
    """Resolves `host`: ["result" => [records...], "dnssec" => bool] or
    ["error" => "NXDOMAIN"|"SERVFAIL"|"TRY_AGAIN"|..., "dnssec" => bool].  Options:
    type (a, aaaa, mx, txt, cname, ns, ptr, soa, srv, tlsa, caa), timeout (seconds,
    default 5), servers (list of "ip", "ip:port", "[ipv6]:port"), extended_result
    (ignored)."""
    if type(host) is not bytes:
        raise type_error(_F, 1, "a string", host)
    if options is not None and type(options) is not HArray:
        raise type_error(_F, 2, "an array", options)
    rdtype, timeout, servers = _options(options)
    name = _name(host)
    if not name:                        # no IDNA form, or empty
        return _result(_resolver.Answer(error="FORMERR"))

    answer = _resolver.query_in_run(name, rdtype, timeout, servers, "dns")
    return _result(answer)


def _options(options):
    rdtype, timeout, servers = "a", _resolver.DEFAULT_TIMEOUT, None
    if options is None:
        return rdtype, timeout, servers
    t = opt_str(_F, options, b"type")
    if t is not None:
        if t.lower() not in _TYPES:
            raise ScriptError(f"{_F}() option 'type': unsupported record type "
                              f"{t.decode('utf-8', 'replace')!r} (one of "
                              f"{', '.join(_resolver.TYPES)})")
        rdtype = t.lower().decode("ascii")
    timeout = opt_number(_F, options, b"timeout", timeout)
    if not timeout > 0:            # also NaN
        raise ScriptError(f"{_F}() option 'timeout' must be greater than 0")
    if math.isinf(timeout):
        timeout = 1e9
    opt_bool(_F, options, b"extended_result", False)
    v = opt_str_list(_F, options, b"servers")
    if v is not None:
        servers = []
        for s in v:
            text = s.decode("utf-8", "replace")
            try:
                servers.append(parse_server(text))
            except ValueError as e:
                raise ScriptError(f"{_F}() option 'servers': {e}") from None
        servers = servers or None
    return rdtype, timeout, servers


def _name(host: bytes):
    """The name to look up (a str, surrogateescape for raw bytes), or None when a
    Unicode host has no IDNA form."""
    if host.isascii():
        return host.decode("ascii")
    try:
        text = host.decode("utf-8")
    except UnicodeDecodeError:
        return host.decode("utf-8", "surrogateescape")
    return idna_to_ascii(text)


def _result(answer) -> HArray:
    out = HArray()
    if answer.error is not None:
        out.set(b"error", answer.error.encode("ascii", "replace"))
    else:
        out.set(b"result", HArray.from_list(
            [r.encode("utf-8", "surrogateescape") if isinstance(r, str) else bytes(r)
             for r in answer.records]))
    out.set(b"dnssec", bool(answer.dnssec))
    return out


# ------------------------------------------------------- command line helpers

def parse_server(text: str) -> str:
    """A resolver address as hsl.net.dns takes it: "ip", "ip:port", "[ipv6]" or
    "[ipv6]:port".  ValueError (with a message) when it is not one."""
    spec = text.strip()
    port = None
    if spec.startswith("["):
        host, close, rest = spec[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise ValueError(f"not a resolver address: {text!r}")
        if rest:
            port = rest[1:]
    elif spec.count(":") == 1:
        host, port = spec.split(":")
    else:
        host = spec
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"not an IP address: {text!r}") from None
    if port is not None:
        if not (port.isascii() and port.isdigit()) \
                or not 0 < digits_value(port, 65535) <= 65535:
            raise ValueError(f"bad port in {text!r}")
    return spec


class TableError(ValueError):
    """A DNS table that cannot be used; `path` is the list of keys that lead to the
    offending value (for finding its line in a YAML file)."""

    def __init__(self, message: str, path: list):
        super().__init__(message)
        self.path = path


def check_table(value) -> dict:
    """A DNS table for resolver.MockBackend from a loaded YAML/JSON value:
    {name: {type: [records]} or an error name}.  A single record may stand for a list
    of one; an empty entry (type: null) is no records (NODATA).  Unicode names are
    stored in their IDNA form.  TableError when something does not fit."""
    if not isinstance(value, dict):
        raise TableError("a DNS table must be a mapping of names to records or an "
                         "error name", [])
    table = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not name.strip("."):
            raise TableError(f"{name!r} is not a DNS name", [name])
        key = name if name.isascii() else idna_to_ascii(name)
        if key is None:
            raise TableError(f"{name!r} is not a DNS name (no IDNA form)", [name])
        if isinstance(entry, str):
            if entry.upper() not in ERRORS:
                raise TableError(f"{name}: {entry!r} is not an error name (one of "
                                 f"{', '.join(ERRORS)}); records go under a type, "
                                 f"e.g. {{a: [192.0.2.1]}}", [name])
            table[key] = entry.upper()
            continue
        if not isinstance(entry, dict):
            raise TableError(f"{name}: must be a mapping of record types to records, "
                             f"or an error name", [name])
        records = {}
        for rdtype, items in entry.items():
            t = str(rdtype).lower()
            if not isinstance(rdtype, str) or t not in _resolver.TYPES:
                raise TableError(f"{name}: {rdtype!r} is not a record type (one of "
                                 f"{', '.join(_resolver.TYPES)})", [name, rdtype])
            if items is None:
                items = []
            elif not isinstance(items, list):
                items = [items]
            for i, item in enumerate(items):
                if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                    raise TableError(f"{name}: {rdtype}: records must be strings, not "
                                     f"{item!r}", [name, rdtype, i])
            records[t] = [str(item) for item in items]
        table[key] = records
    return table


def yaml_line(text: str, path: list):
    """The line (1-based) in YAML `text` of the value at `path` (keys and list
    indexes), or of the nearest enclosing one; None when not found."""
    try:
        import yaml
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except Exception:
        return None
    line = None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(step):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) \
                and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def load_table_file(path: str) -> dict:
    """Read and check a DNS table file (YAML, or JSON when it ends in .json).  ValueError
    with a message naming the file (and line) when it cannot be used."""
    value, text = read_yaml_or_json(path, "DNS table")
    try:
        return check_table(value)
    except TableError as e:
        line = None if path.endswith(".json") else yaml_line(text, e.path)
        where = f"{path}:{line}" if line else path
        raise ValueError(f"{where}: {e}") from None
