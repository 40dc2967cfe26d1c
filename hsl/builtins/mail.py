"""Mail and URL parsing builtins (builtins.md "Mail and URL parsing").

url_parse (RFC 3986), envelope_address_parse / envelope_localpart_escape (RFC 5321
Mailbox, RFC 6531 UTF-8 local parts), header_addresslist_compile /
header_addresslist_extract (RFC 5322 address-list, RFC 2047 names) and
header_dkim_decode (RFC 6376 tag=value lists).
"""
from __future__ import annotations

import re

from ..errors import ScriptError
from ..runtime.values import HArray, type_name
from ._args import digits_value, opt_array, opt_bool, type_error
from ._limits import (ACCOUNT, CHUNK, check_deadline, list_array, paced,
                      reserve_elements, reserve_string)
from .encodings import mimeword_decode, mimeword_encode
from .registry import builtin

_AREA = "mail"


# ---------------------------------------------------------------------------------------
# url_parse (RFC 3986)

# RFC 3986 appendix B, with the scheme required and validated (section 3.1)
_URI = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*):(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?"
                  rb"(?:#(.*))?\Z", re.S)
_BAD_URL_BYTES = re.compile(rb"[\x00-\x20\x7f]")


@builtin(area=_AREA)
def url_parse(url, options=None):
    """Split an absolute URL into schema, username, password, hostname, port (number), path,
    query and fragment (only the parts present); none if it cannot be parsed."""
    if type(url) is not bytes:
        raise type_error("url_parse", 1, "a string", url)
    opt_array("url_parse", 2, options)
    if len(url) >= ACCOUNT:
        reserve_string(len(url))                # its parts
    if _BAD_URL_BYTES.search(url):
        return None
    m = _URI.match(url)
    if m is None:
        return None
    scheme, authority, path, query, fragment = m.groups()
    d = {b"schema": scheme}
    if authority is not None:
        userinfo, at, hostport = authority.rpartition(b"@")
        if at:
            user, colon, password = userinfo.partition(b":")
            d[b"username"] = user
            if colon:
                d[b"password"] = password
        if hostport.startswith(b"["):
            j = hostport.find(b"]")
            if j < 0:
                return None
            host, rest = hostport[:j + 1], hostport[j + 1:]
            if rest and not rest.startswith(b":"):
                return None
            port = rest[1:] if rest else None
        else:
            host, colon, port = hostport.partition(b":")
            if not colon:
                port = None
            if b"[" in host or b"]" in host:
                return None
        d[b"hostname"] = host
        if port:
            if not port.isdigit() or digits_value(port, 65535) > 65535:
                return None
            d[b"port"] = float(digits_value(port, 65535))
    if path:
        d[b"path"] = path
    if query is not None:
        d[b"query"] = query
    if fragment is not None:
        d[b"fragment"] = fragment
    return HArray.from_dict_normalized(d)


# ---------------------------------------------------------------------------------------
# Envelope addresses (RFC 5321 section 4.1.2, RFC 6531)

# atext (RFC 5322 3.2.3) plus UTF-8 bytes (RFC 6531 UTF8-non-ascii)
_ATEXT_ASCII = rb"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~"
_ATEXT = _ATEXT_ASCII + rb"\x80-\xff"
_DOT_STRING = re.compile(rb"[%s]+(?:\.[%s]+)*\Z" % (_ATEXT, _ATEXT))
# (qtext runs, then escapes each followed by a run: the regex engine keeps no state for
# every byte of a long local part, as it does for an alternation repeated per byte)
_QUOTED_LOCAL = re.compile(rb'"([\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]*'
                           rb'(?:\\[\x20-\x7e][\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]*)*)"\Z')
_QUOTED_PAIR = re.compile(rb"\\(.)", re.S)
_DOMAIN = re.compile(rb"[A-Za-z0-9_\x80-\xff](?:[A-Za-z0-9_\-\x80-\xff]*[A-Za-z0-9_\x80-\xff])?"
                     rb"(?:\.[A-Za-z0-9_\x80-\xff](?:[A-Za-z0-9_\-\x80-\xff]*"
                     rb"[A-Za-z0-9_\x80-\xff])?)*\Z")
_ADDRESS_LITERAL = re.compile(rb"\[[\x21-\x5a\x5e-\x7e]+\]\Z")


@builtin(area=_AREA)
def envelope_address_parse(address):
    """Split an envelope address (RFC 5321 Mailbox) at the last @ into
    ["localpart" => ..., "domain" => ...], unquoting a quoted local part; none if invalid."""
    if type(address) is not bytes:
        raise type_error("envelope_address_parse", 1, "a string", address)
    if len(address) >= ACCOUNT:
        reserve_string(2 * len(address))        # its parts, and the unquoted local part
    local, at, domain = address.rpartition(b"@")
    if not at or not local or not domain:
        return None
    if _DOMAIN.match(domain) is None and _ADDRESS_LITERAL.match(domain) is None:
        return None
    if _DOT_STRING.match(local) is None:
        m = _QUOTED_LOCAL.match(local)
        if m is None:
            return None
        local = _QUOTED_PAIR.sub(rb"\1", m.group(1))
    return HArray.from_dict_normalized({b"localpart": local, b"domain": domain})


def _quote_string(s: bytes) -> bytes:
    if len(s) >= ACCOUNT:
        reserve_string(2 * (len(s) + s.count(b"\\") + s.count(b'"')))   # and a copy
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


@builtin(area=_AREA)
def envelope_localpart_escape(localpart):
    """`localpart` unchanged when it is a dot-string, else as a quoted string."""
    if type(localpart) is not bytes:
        raise type_error("envelope_localpart_escape", 1, "a string", localpart)
    if _DOT_STRING.match(localpart) is not None:
        return localpart
    return _quote_string(localpart)


# ---------------------------------------------------------------------------------------
# Address lists (RFC 5322 section 3.4)

_PHRASE_ATOMS = re.compile(rb"[%s]+(?: [%s]+)*\Z" % (_ATEXT_ASCII, _ATEXT_ASCII))
_PRINTABLE = re.compile(rb"[\x20-\x7e]*\Z")


def _compile_name(name: bytes) -> bytes:
    if _PHRASE_ATOMS.match(name):
        return name
    if _PRINTABLE.match(name):
        return _quote_string(name)
    return mimeword_encode(name)


@builtin(area=_AREA)
def header_addresslist_compile(addresses):
    """An RFC 5322 address-list from a list of ["name" => ..., "address" => ...] (name
    optional; a plain string is an address without a name), joined with ", "."""
    if type(addresses) is not HArray:
        raise type_error("header_addresslist_compile", 1, "an array", addresses)
    out = []
    for v in paced(addresses.d.values()):
        if type(v) is bytes:
            out.append(v)
            continue
        if type(v) is not HArray:
            raise ScriptError("header_addresslist_compile() expects a list of arrays, got "
                              f"{type_name(v)} (type error)")
        addr = v.d.get(b"address")
        if type(addr) is not bytes:
            raise ScriptError("header_addresslist_compile() expects a string \"address\" in "
                              f"each entry, got {type_name(addr)} (type error)")
        name = v.d.get(b"name")
        if name is None or name == b"":
            out.append(addr)
        elif type(name) is not bytes:
            raise ScriptError("header_addresslist_compile() expects \"name\" to be a string, "
                              f"got {type_name(name)} (type error)")
        else:
            out.append(_compile_name(name) + b" <" + addr + b">")
    size = sum(map(len, out)) + 2 * len(out)
    if size >= ACCOUNT:
        reserve_string(size)
    return b", ".join(out)


class _AddrError(Exception):
    pass


_SPECIALS = b'()<>[]:;@\\,."'
_ATOM_RE = re.compile(rb'[^\x00-\x20()<>\[\]:;@\\,."\x7f]+')
_QS_TEXT = re.compile(rb'[^"\\\r\n]+')          # runs of a quoted string kept as they are
_COMMENT_TEXT = re.compile(rb"[^()\\]+")


def _tokens(s: bytes):
    """RFC 5322 lexical tokens: (kind, value, raw) with kind in 'atom', 'qs' (value
    unescaped, raw as written), 'dl' (domain literal), 'comment', 'ws', or a special char."""
    toks = []
    i = 0
    n = len(s)
    while i < n:
        if not len(toks) % CHUNK and toks:      # announce the next CHUNK tokens
            reserve_elements(2 * CHUNK)
            check_deadline()
        c = s[i]
        if c in b" \t\r\n":
            j = i + 1
            while j < n and s[j] in b" \t\r\n":
                j += 1
            toks.append(("ws", b" ", b" "))
            i = j
        elif c == 34:  # quoted string
            j = i + 1
            buf = bytearray()
            while True:
                if j >= n:
                    raise _AddrError("unterminated quoted string")
                m = _QS_TEXT.match(s, j)
                if m is not None:
                    buf += m.group()
                    j = m.end()
                    continue
                ch = s[j]
                if ch == 92:
                    if j + 1 >= n:
                        raise _AddrError("unterminated quoted string")
                    buf.append(s[j + 1])
                    j += 2
                elif ch == 34:
                    j += 1
                    break
                elif ch in b"\r\n":            # folding inside a quoted string
                    j += 1
                else:
                    buf.append(ch)
                    j += 1
            toks.append(("qs", bytes(buf), s[i:j]))
            i = j
        elif c == 40:  # comment, nested
            depth = 0
            j = i
            buf = bytearray()
            while True:
                if j >= n:
                    raise _AddrError("unterminated comment")
                m = _COMMENT_TEXT.match(s, j)
                if m is not None and depth:
                    buf += m.group()
                    j = m.end()
                    continue
                ch = s[j]
                if ch == 92 and j + 1 < n:
                    buf.append(s[j + 1])
                    j += 2
                    continue
                if ch == 40:
                    depth += 1
                    if depth > 1:
                        buf.append(ch)
                elif ch == 41:
                    depth -= 1
                    if depth == 0:
                        j += 1
                        break
                    buf.append(ch)
                else:
                    buf.append(ch)
                j += 1
            toks.append(("comment", bytes(buf).strip(), s[i:j]))
            i = j
        elif c == 91:  # domain literal
            j = s.find(b"]", i)
            if j < 0:
                raise _AddrError("unterminated domain literal")
            toks.append(("dl", s[i:j + 1], s[i:j + 1]))
            i = j + 1
        elif c == 41 or c == 93 or c == 92:
            raise _AddrError("unexpected %r" % chr(c))
        elif c in b"<>:;@,.":
            toks.append((chr(c), bytes([c]), bytes([c])))
            i += 1
        else:
            m = _ATOM_RE.match(s, i)
            if m is None:
                raise _AddrError("control character")
            toks.append(("atom", m.group(0), m.group(0)))
            i = m.end()
    return toks


def _phrase(toks) -> bytes:
    """A display name from phrase tokens: words joined by one space, quotes removed,
    encoded words decoded."""
    words = []
    pending_dot = False
    for kind, val, _ in toks:
        if kind in ("atom", "qs"):
            if pending_dot and words:
                words[-1] += b"." + val
            else:
                words.append(val)
            pending_dot = False
        elif kind == ".":                      # obs-phrase
            if words:
                pending_dot = True
            else:
                words.append(b".")
        elif kind in ("ws", "comment"):
            if pending_dot:
                words[-1] += b"."
                pending_dot = False
        else:
            raise _AddrError("unexpected %r in a display name" % kind)
    if pending_dot:
        words[-1] += b"."
    return mimeword_decode(b" ".join(words)) if words else b""


def _addr_spec(toks) -> bytes:
    """The address text of addr-spec tokens, without whitespace and comments; a leading
    obs-route (@a,@b:) is dropped."""
    toks = [t for t in toks if t[0] not in ("ws", "comment")]
    for k, t in enumerate(toks):
        if t[0] == ":":
            toks = toks[k + 1:]
            break
    parts = []
    for kind, _, raw in toks:
        if kind in ("atom", "qs", "dl", ".", "@"):
            parts.append(raw)
        else:
            raise _AddrError("unexpected %r in an address" % kind)
    return b"".join(parts)


def _parse_addresslist(s: bytes):
    """[(name, address)] of an address-list; raises _AddrError."""
    toks = _tokens(s)
    result = []
    in_group = False
    cur = []            # tokens of the current element (outside <...>)
    angle = None        # tokens inside <...> of the current element
    after_angle = False
    i = 0
    n = len(toks)

    def finish():
        nonlocal cur, angle, after_angle
        if angle is not None:
            addr = _addr_spec(angle)
            if addr:
                result.append((_phrase(cur), addr))
        else:
            words = [t for t in cur if t[0] not in ("ws", "comment")]
            if words:
                addr = _addr_spec(cur)
                comments = [t[1] for t in cur if t[0] == "comment"]
                result.append((mimeword_decode(comments[-1]) if comments else b"", addr))
        cur, angle, after_angle = [], None, False

    steps = 0
    while i < n:
        steps += 1
        if not steps % CHUNK:
            check_deadline()
        kind = toks[i][0]
        if kind == "<":
            if angle is not None:
                raise _AddrError("two angle addresses")
            j = i + 1
            while j < n and toks[j][0] != ">":
                if toks[j][0] == "<":
                    raise _AddrError("nested <")
                j += 1
            if j >= n:
                raise _AddrError("missing >")
            angle = toks[i + 1:j]
            after_angle = True
            i = j + 1
            continue
        if kind == ">":
            raise _AddrError("unexpected >")
        if kind == ",":
            finish()
        elif kind == ":" and angle is None:
            if in_group:
                raise _AddrError("nested group")
            in_group = True
            cur = []
        elif kind == ";":
            # Ends a group; outside one, Halon takes it as a separator like "," (its
            # documentation's own example lists "A <a@x>; B <b@y>").
            finish()
            in_group = False
        else:
            if after_angle and kind not in ("ws", "comment"):
                raise _AddrError("text after an angle address")
            cur.append(toks[i])
        i += 1
    if in_group:
        raise _AddrError("unterminated group")
    finish()
    return result


def _field_value(fname: str, value: bytes, opts: HArray):
    """The value part when option `field` is set (strip `Name:`), else the value; None
    when a field line has no valid name."""
    if opt_bool(fname, opts, b"field", False):
        name, colon, rest = value.partition(b":")
        if not colon or not name.strip() or re.search(rb"[\x00-\x20\x7f]", name.rstrip()):
            return None
        return rest
    return value


@builtin(area=_AREA)
def header_addresslist_extract(value, options=None):
    """The addresses of an RFC 5322 address-list header value (option field: a whole
    `Name: value` line) as a list of strings, or with option name as a list of
    ["name" => ..., "address" => ...]; none on a parse error."""
    if type(value) is not bytes:
        raise type_error("header_addresslist_extract", 1, "a string", value)
    opts = opt_array("header_addresslist_extract", 2, options)
    with_name = opt_bool("header_addresslist_extract", opts, b"name", False)
    value = _field_value("header_addresslist_extract", value, opts)
    if value is None:
        return None
    if len(value) >= ACCOUNT:
        # Its tokens: a token ends at a special character or white space.
        breaks = len(value) - len(value.translate(None, _SPECIALS + b" \t\r\n"))
        reserve_elements(2 * breaks + 1)
    try:
        pairs = _parse_addresslist(value)
    except _AddrError:
        return None
    if with_name:
        return list_array([HArray.from_dict_normalized({b"name": nm, b"address": a})
                           for nm, a in paced(pairs)])
    return list_array([a for _, a in pairs])


# ---------------------------------------------------------------------------------------
# DKIM tag lists (RFC 6376 section 3.2)

_TAG_NAME = re.compile(rb"[A-Za-z][A-Za-z0-9_]*\Z")
_TAG_VALUE_BAD = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FWS = re.compile(rb"[ \t\r\n]+")


@builtin(area=_AREA)
def header_dkim_decode(value, options=None):
    """A DKIM tag-list `tag=value; ...` (option field: a whole header line) as an array
    tag => value, sorted by tag, with all whitespace removed; none on a syntax error, a
    duplicate tag or a `v` tag that is not first."""
    if type(value) is not bytes:
        raise type_error("header_dkim_decode", 1, "a string", value)
    opts = opt_array("header_dkim_decode", 2, options)
    value = _field_value("header_dkim_decode", value, opts)
    if value is None:
        return None
    d = dkim_tag_list(value)
    if d is None or (b"v" in d and next(iter(d)) != b"v"):
        return None
    # Keyed by tag name in sorted order, not in the order of the list: Halon's own DMARC
    # tests compare a record read with it to ["p" => ..., "psd" => ..., "v" => ...].
    return HArray.from_dict_normalized(dict(sorted(d.items())))


def dkim_tag_list(value: bytes):
    """The tags of an RFC 6376 tag-list (section 3.2) as {name: value} in their order,
    with all whitespace removed from the values; None on a syntax error or a duplicate
    tag.  (hsl.mail.dkim reads signatures and key records with it.)"""
    if len(value) >= ACCOUNT:
        reserve_elements(value.count(b";") + 1, 2 * len(value))
    specs = value.split(b";")
    if len(specs) > 1 and not specs[-1].strip(b" \t\r\n"):
        specs.pop()                        # optional trailing ;
    d = {}
    for spec in paced(specs):
        name, eq, val = spec.partition(b"=")
        if not eq:
            return None
        name = name.strip(b" \t\r\n")
        if _TAG_NAME.match(name) is None or name in d:
            return None
        if _TAG_VALUE_BAD.search(val):
            return None
        d[name] = _FWS.sub(b"", val)
    return d
