"""The LALR(1) runtime of the HSL parser: tables, lexer and parser driver.

grammar/hsl.lark is the single source of truth.  Lark turns it into LALR(1) tables
(hsl/syntax/_lalr_build.py, imported only when the tables must be built); the tables are plain data,
cached with `marshal` in hsl's cache directory (hsl/cache.py) under a name derived from a
hash of the grammar text, the Lark version and FORMAT, so that a warm start neither imports
Lark nor rebuilds anything (`load_tables`).  A cache file is used only if the hash of its
contents, its key and the types and ranges of every table entry check out; if there is no
cache directory the tables are built in memory on every start.  The parser behaves the same
either way.

The driver reproduces what Lark's LALR parser with the contextual lexer and an embedded
transformer does (same tables, same token choices, same callback calls, same exceptions'
information), with these differences:

* the operator `!~` is lexed in every parser state (spec 2.8, maximal munch), so `!~$x` at
  expression start is a syntax error rather than `!` `~`;
* errors raised by callbacks (the `fail_type` given to `Parser.parse`) can be recovered
  from: the caller supplies a placeholder value for the failed reduction and parsing goes on;
* after a syntax error the parser can resynchronise and go on, so several independent
  errors are found in one pass (hsl/syntax/_lalr_recover.py, imported at the first error).

The contextual lexer.  Lark lexes, in each parser state, with only the terminals that the
state accepts (plus the ignored ones).  For the HSL grammar this is equivalent to: match the
master regex (every regex terminal, then every punctuation string, longest first); then
* an identifier is the keyword of the same spelling if the state accepts that keyword, else
  an identifier if the state accepts identifiers, else the longest keyword the state accepts
  that is a prefix of it;
* punctuation is the longest punctuation prefix that the state accepts (`[::2]` is `[`
  `:` `:` `2` `]` where `::` cannot follow);
* when nothing acceptable matches, the token of the master regex is reported as unexpected
  (Lark's fallback to its root lexer).
hsl/syntax/_lalr_build.py checks the properties of the grammar this relies on.
"""
from __future__ import annotations

import hashlib
import marshal
import re
import sys
import threading

from .. import cache

# The trio _lalr, _lalr_build and _lalr_recover import each other on purpose (the one
# import cycle in hsl, tests/test_import_graph.py): the builder and the error recovery
# are parts of this driver that need its types, split off so that a warm start loads
# neither (they are imported in the functions that use them, at a cache miss and at the
# first syntax error).

#: Version of the table format and of the lexer model (part of the cache key).
FORMAT = 1

#: Tokens that may be inserted at the end of the text to close what is open there.
MAX_END_INSERTIONS = 256

#: Successful shifts needed after a resynchronisation before errors are reported again.
CONFIRM_TOKENS = 3

#: Resynchronisations (after reported or suppressed errors) before giving up.
MAX_RESYNCS = 200

_str_new = str.__new__


class Token(str):
    """A token: its text (the str value) with `type` (the terminal name) and its position:
    `start_pos`/`end_pos` (string offsets), `line`/`column` and `end_line`/`end_column`
    (1-based, end exclusive).  Attribute-compatible with lark.Token."""

    def __new__(cls, type, value, start_pos=None, line=None, column=None, end_line=None,
                end_column=None, end_pos=None):
        self = _str_new(cls, value)
        self.type = type
        self.start_pos = start_pos
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.end_pos = end_pos
        return self

    @property
    def value(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return "Token(%r, %r)" % (self.type, str(self))

    def __reduce__(self):
        return (Token, (self.type, str(self), self.start_pos, self.line, self.column,
                        self.end_line, self.end_column, self.end_pos))

    def __deepcopy__(self, memo):
        return self


class ParserState:
    """The parser's stacks (`value_stack[i]` is the value shifted into `state_stack[i + 1]`)."""

    __slots__ = ("state_stack", "value_stack")

    def __init__(self, state_stack: list, value_stack: list):
        self.state_stack = state_stack
        self.value_stack = value_stack

    @property
    def position(self) -> int:
        return self.state_stack[-1]

    def copy(self) -> "ParserState":
        return ParserState(list(self.state_stack), list(self.value_stack))


class UnexpectedInput(Exception):
    """A syntax error found by the lexer or the parser."""

    line = 1
    column = 1
    pos_in_stream = 0
    state: ParserState = None


class UnexpectedCharacters(UnexpectedInput):
    """No token can start at `pos_in_stream`."""

    def __init__(self, text: str, pos: int, line: int, column: int, state: ParserState):
        self.text = text
        self.pos_in_stream = pos
        self.line = line
        self.column = column
        self.state = state
        super().__init__("no token at %d:%d" % (line, column))


class UnexpectedToken(UnexpectedInput):
    """`token` cannot follow; `expected` are the terminals of the parser state and
    `accepts` those that would really be shifted there (after the reductions they cause)."""

    def __init__(self, token: Token, expected: set, state: ParserState, tables: "Tables"):
        self.token = token
        self.expected = expected
        self.state = state
        self.line = token.line
        self.column = token.column
        self.pos_in_stream = token.start_pos
        self._tables = tables
        self._accepts = None
        super().__init__("unexpected %s %r at %s:%s" % (token.type, str(token), token.line,
                                                        token.column))

    @property
    def accepts(self) -> set:
        if self._accepts is None:
            t = self._tables
            stack = self.state.state_stack
            self._accepts = {name for name in t.actions[stack[-1]]
                             if name.isupper() and t.shifts(stack, name)}
        return self._accepts


class _Resync(Exception):
    """Inside the driver: resynchronise at `token` (after a callback's error)."""

    def __init__(self, token):
        self.token = token


class Tables:
    """Loaded parse tables and the compiled lexer."""

    def __init__(self, data: dict):
        self.data = data
        self.actions: list = data["actions"]
        self.rules: list = data["rules"]
        self.start: int = data["start"]
        self.end: int = data["end"]
        self.terminals: dict = data["terminals"]
        lex = data["lexer"]
        self.master = re.compile(lex["pattern"])
        self.punct: dict = lex["punct"]
        self.keywords: dict = lex["keywords"]
        self.ident: str = lex["ident"]
        self.ignore = frozenset(lex["ignore"])
        self.newline = frozenset(lex["newline"])
        self.always = frozenset(lex["always"])
        self.by_value = {v: k for k, (kind, v) in self.terminals.items() if kind == "str"}
        self._binding = None

    # -- grammar queries (error paths only)

    def shifts(self, stack, name: str) -> bool:
        """Would terminal `name` be shifted (or accepted, for $END) from `stack`?"""
        actions = self.actions
        rules = self.rules
        stack = list(stack)
        is_end = name == "$END"
        while True:
            a = actions[stack[-1]].get(name)
            if a is None:
                return False
            if a >= 0:
                return True
            origin, size = rules[~a][0], rules[~a][1]
            if size:
                del stack[-size:]
            stack.append(actions[stack[-1]][origin])
            if is_end and stack[-1] == self.end:
                return True

    # -- callbacks

    def bind(self, builder) -> list:
        """(origin, size, callback) per rule for a builder object (the embedded
        transformer: one method per rule alias or rule name).  callback None: the value is
        the single child (a `?rule` with one symbol)."""
        spec = self._binding
        if spec is None:
            spec = []
            for origin, size, name, expand1, splice in self.rules:
                if expand1 and size == 1 and not splice:
                    spec.append((origin, size, None, 0, None))
                elif hasattr(builder, name):
                    spec.append((origin, size, name, 1 if expand1 else 0, splice or None))
                elif name.startswith("_"):
                    spec.append((origin, size, "", 0, splice or None))   # spliced list
                else:
                    raise TypeError("the builder has no method for grammar rule %r" % name)
            self._binding = spec
        out = []
        for origin, size, name, expand1, splice in spec:
            if name is None:
                out.append((origin, size, None))
                continue
            fn = getattr(builder, name) if name else list
            if expand1:
                fn = _expand_single(fn)
            if splice:
                fn = _splicer(fn, splice)
            out.append((origin, size, fn))
        return out

    # -- lexing outside the parser (recovery)

    def scan(self, text: str, pos: int, line: int, ls: int, keep: frozenset = frozenset()):
        """Tokens from `pos` with the root lexer (every terminal): yields
        (type, start, end, line, column, line_start_after) and ("", start, ...) for a
        character where no token starts; stops at the end or at a token that could not be
        lexed (yields ("!", start, ...)).  Ignored terminals are skipped, but those in
        `keep` (comments, for the language server)."""
        match = self.master.match
        n = len(text)
        ignore = self.ignore - keep
        newline = self.newline
        while pos < n:
            m = match(text, pos)
            if m is None:
                ch = text[pos]
                if ch in "\"'":
                    yield ("!", pos, pos + 1, line, pos - ls + 1, ls)
                    return
                yield ("", pos, pos + 1, line, pos - ls + 1, ls)
                if ch == "\n":
                    line += 1
                    ls = pos + 1
                pos += 1
                continue
            typ = m.lastgroup
            end = m.end()
            if typ == "__PUNCT__":
                typ = self.punct[m.group()]
            elif typ == self.ident:
                typ = self.keywords.get(m.group(), typ)
            col = pos - ls + 1
            tline = line
            if typ in newline:
                k = text.count("\n", pos, end)
                if k:
                    line += k
                    ls = text.rindex("\n", pos, end) + 1
            if typ not in ignore:
                yield (typ, pos, end, tline, col, ls)
            pos = end


def _expand_single(fn):
    def expand(children):
        if len(children) == 1:
            return children[0]
        return fn(children)
    return expand


def _splicer(fn, positions):
    def splice(children):
        out = []
        for i, x in enumerate(children):
            if i in positions:
                out.extend(x)
            else:
                out.append(x)
        return fn(out)
    return splice


# ------------------------------------------------------------------ the driver

class Parser:
    """Parses with `Tables`; `parse` is reentrant and thread-safe (no shared mutable state)."""

    def __init__(self, tables: Tables, markers: dict):
        """`markers`: terminal spellings the error recovery relies on (see
        hsl/syntax/_lalr_recover.py, Recovery)."""
        self.t = tables
        self.markers = markers
        self._rec = None

    def _recovery(self):
        rec = self._rec
        if rec is None:
            # deferred: loaded at the first syntax error (a deliberate cycle, see above)
            from ._lalr_recover import Recovery
            rec = self._rec = Recovery(self.t, self.markers)
        return rec

    def parse(self, text: str, reds: list, lex_callbacks: dict = None, on_error=None,
              placeholder=None, fail_type=()):
        """Parse `text`; `reds` from `Tables.bind`.

        Without `on_error` the first error is raised (UnexpectedInput, or an exception of
        `fail_type` raised by a callback).  With `on_error`, `on_error(exc, report)` is
        called for each error (`report` is false for a probable cascade, within
        CONFIRM_TOKENS tokens after a resynchronisation) and returns whether to go on;
        a callback's `fail_type` exception is then replaced by
        `placeholder(origin, children)`.  Returns the start rule's value, or None when
        parsing stopped after an error."""
        t = self.t
        actions = t.actions
        end_state = t.end
        match = t.master.match
        punct = t.punct
        keywords = t.keywords
        ident = t.ident
        ignore = t.ignore
        newline = t.newline
        always = t.always
        lexcb = lex_callbacks or {}
        new = _str_new
        TokenT = Token

        state_stack = [t.start]
        value_stack = []
        pstate = ParserState(state_stack, value_stack)
        n = len(text)
        pos = 0
        line = 1
        ls = 0                  # offset of the first character of the current line
        tok = None              # the token being fed (None: lex the next one)
        last = None             # the last token lexed
        is_end = False
        resumed = -1            # offset where parsing resumed after the last resync
        resyncs = 0
        reported = 0            # errors reported so far
        closing = 0             # tokens inserted at the end of the text

        while True:
            try:
                while True:
                    if tok is None:
                        # ---------------------------------------------------- lex a token
                        if pos >= n:
                            if last is None:
                                tok = TokenT("$END", "", 0, 1, 1, 1, 1, 0)
                            else:
                                tok = TokenT("$END", "", last.start_pos, last.line, last.column,
                                             last.end_line, last.end_column, last.end_pos)
                            is_end = True
                        else:
                            m = match(text, pos)
                            if m is None:
                                raise UnexpectedCharacters(text, pos, line, pos - ls + 1,
                                                           pstate.copy())
                            typ = m.lastgroup
                            end = m.end()
                            if typ in ignore:
                                if typ in lexcb:
                                    c = TokenT(typ, m.group(), pos, line, pos - ls + 1)
                                if typ in newline:
                                    k = text.count("\n", pos, end)
                                    if k:
                                        line += k
                                        ls = text.rindex("\n", pos, end) + 1
                                if typ in lexcb:
                                    c.end_line = line
                                    c.end_column = end - ls + 1
                                    c.end_pos = end
                                    lexcb[typ](c)
                                pos = end
                                continue
                            val = m.group()
                            acts = actions[state_stack[-1]]
                            if typ == "__PUNCT__":
                                typ = punct[val]
                                if typ not in acts and typ not in always:
                                    typ, end = self._context_punct(text, pos, val, typ, acts,
                                                                   line, ls, pstate)
                                    val = text[pos:end]
                            elif typ == ident:
                                kw = keywords.get(val)
                                if kw is not None and kw in acts:
                                    typ = kw
                                elif ident not in acts:
                                    typ, end = self._context_word(text, pos, val, kw, acts,
                                                                  line, ls, pstate)
                                    val = text[pos:end]
                            elif typ not in acts:
                                self._unexpected(typ, val, pos, line, ls, text, pstate)
                            tok = new(TokenT, val)
                            tok.type = typ
                            tok.start_pos = pos
                            tok.line = line
                            tok.column = pos - ls + 1
                            if typ in newline:
                                k = text.count("\n", pos, end)
                                if k:
                                    line += k
                                    ls = text.rindex("\n", pos, end) + 1
                            tok.end_line = line
                            tok.end_column = end - ls + 1
                            tok.end_pos = end
                            pos = end
                            last = tok
                    # -------------------------------------------------------- feed it
                    typ = tok.type
                    while True:
                        a = actions[state_stack[-1]].get(typ)
                        if a is None:
                            raise UnexpectedToken(
                                tok, {s for s in actions[state_stack[-1]] if s.isupper()},
                                pstate.copy(), t)
                        if a >= 0:
                            state_stack.append(a)
                            value_stack.append(tok)
                            tok = None
                            break
                        origin, size, fn = reds[~a]
                        if fn is None:
                            del state_stack[-1]
                            state_stack.append(actions[state_stack[-1]][origin])
                        else:
                            if size:
                                s = value_stack[-size:]
                                del state_stack[-size:]
                                del value_stack[-size:]
                            else:
                                s = []
                            try:
                                value = fn(s)
                            except fail_type as e:
                                if on_error is None:
                                    raise
                                rec = self._recovery()
                                report = rec.confirmed(text, resumed,
                                                       n if is_end else tok.start_pos)
                                if report:
                                    reported += 1
                                if not on_error(e, report):
                                    return None
                                state_stack.append(actions[state_stack[-1]][origin])
                                value_stack.append(placeholder(origin, s))
                                if not rec.at_boundary(state_stack):
                                    raise _Resync(tok) from None  # skip the rest of the statement
                                if is_end and state_stack[-1] == end_state:
                                    return value_stack[-1]
                                continue
                            state_stack.append(actions[state_stack[-1]][origin])
                            value_stack.append(value)
                        if is_end and state_stack[-1] == end_state:
                            return value_stack[-1]
            except (UnexpectedInput, _Resync) as e:
                if on_error is None:
                    raise
                rec = self._recovery()
                if type(e) is _Resync:            # after a callback's error, mid-statement
                    if is_end:
                        return None
                    token = e.token
                    err_pos = token.start_pos
                else:
                    err_pos = e.pos_in_stream if not is_end else n
                    token = getattr(e, "token", None)
                    report = rec.confirmed(text, resumed, err_pos)
                    if report and reported and not is_end and \
                            rec.is_misplaced(text, pstate, token):
                        report = False      # the rest of a block closed too early
                    if report:
                        reported += 1
                    if not on_error(e, report):
                        return None
                    if is_end:
                        # Text that ends mid-statement (as while it is typed): close what
                        # is open, so the statements before it are kept.
                        ins = rec.end_insertion(e, pstate) \
                            if type(e) is UnexpectedToken and closing < MAX_END_INSERTIONS \
                            else None
                        if ins is None:
                            return None
                        closing += 1
                        tok = ins
                        is_end = ins.type == "$END"
                        resumed = n
                        continue
                resyncs += 1
                if resyncs > MAX_RESYNCS:
                    return None
                if type(e) is UnexpectedToken and token is not None:
                    ins = rec.insertion(e, token, text)
                    if ins is not None:         # repair: a missing `{` or `;` goes in here
                        tok = ins
                        pos, line, ls = token.start_pos, token.line, \
                            token.start_pos - token.column + 1
                        resumed = pos
                        continue
                if token is not None:
                    start, eline, els = err_pos, token.line, err_pos - token.column + 1
                    if err_pos <= resumed:
                        # no progress since the last resync: skip the token
                        start, eline = token.end_pos, token.end_line
                        els = start - token.end_column + 1
                        token = None
                else:
                    start, eline, els = err_pos, e.line, err_pos - e.column + 1
                got = rec.resync(text, start, eline, els, pstate, token)
                if got is None:
                    return None
                pos, line, ls = got
                tok = None
                resumed = pos
            except fail_type as e:               # a lexer callback (not recoverable)
                if on_error is None:
                    raise
                on_error(e, self._recovery().confirmed(text, resumed, pos))
                return None

    # -- contextual lexing (rare paths)

    def _unexpected(self, typ, val, pos, line, ls, text, pstate):
        end = pos + len(val)
        k = val.count("\n")
        if k:
            eline = line + k
            ecol = end - (text.rindex("\n", pos, end) + 1) + 1
        else:
            eline, ecol = line, end - ls + 1
        tok = Token(typ, val, pos, line, pos - ls + 1, eline, ecol, end)
        acts = self.t.actions[pstate.state_stack[-1]]
        raise UnexpectedToken(tok, {s for s in acts if s.isupper()}, pstate.copy(), self.t)

    def _context_punct(self, text, pos, val, typ, acts, line, ls, pstate):
        punct = self.t.punct
        for k in range(len(val) - 1, 0, -1):
            name = punct.get(val[:k])
            if name is not None and (name in acts or name in self.t.always):
                return name, pos + k
        self._unexpected(typ, val, pos, line, ls, text, pstate)

    def _context_word(self, text, pos, val, kw, acts, line, ls, pstate):
        best = None
        for word, name in self.t.keywords.items():
            if name in acts and val.startswith(word) and (best is None or len(word) > len(best[0])):
                best = (word, name)
        if best is not None:
            return best[1], pos + len(best[0])
        self._unexpected(kw if kw is not None else self.t.ident, val, pos, line, ls, text,
                         pstate)

    # -- error recovery

# ------------------------------------------------------------------ loading the tables

_lock = threading.Lock()
_tables: dict = {}


def _lark_version() -> str:
    lark = sys.modules.get("lark")
    origin = getattr(lark, "__file__", None)
    if origin is None:
        try:
            from importlib.machinery import PathFinder
            spec = PathFinder.find_spec("lark")
            origin = spec.origin if spec is not None else None
        except Exception:
            origin = None
    if not origin:
        return "none"
    try:
        with open(origin, encoding="utf-8") as f:
            src = f.read()
    except OSError:
        return "unknown"
    i = src.find("__version__")
    if i < 0:
        return "unknown"
    j = src.find("\n", i)
    seg = src[i:j if j >= 0 else len(src)]
    for q in ("'", '"'):
        a = seg.find(q)
        if a >= 0:
            b = seg.find(q, a + 1)
            if b > a:
                return seg[a + 1:b]
    return "unknown"


def cache_key(grammar_text: str) -> tuple:
    """(file name, full key) of the cached tables for this grammar."""
    digest = hashlib.sha256(grammar_text.encode("utf-8")).hexdigest()
    key = "%d|%s|%s|%d.%d" % (FORMAT, digest, _lark_version(), sys.version_info[0],
                              sys.version_info[1])
    name = "hsl-parser-%s.marshal" % hashlib.sha256(key.encode()).hexdigest()[:24]
    return name, key


# A cache file: _MAGIC, the SHA-256 of the payload, the payload (the marshalled tables).
# The hash is checked before marshal reads anything (marshal trusts its input).
_MAGIC = b"hsl-parser-tables\n"


def _pack(data: dict) -> bytes:
    payload = marshal.dumps(data)
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def _unpack(raw: bytes, key: str):
    """The tables in a cache file if it is intact, for `key` and well formed, else None."""
    head = len(_MAGIC)
    payload = raw[head + 32:]
    if not raw.startswith(_MAGIC) or hashlib.sha256(payload).digest() != raw[head:head + 32]:
        return None
    try:
        data = marshal.loads(payload)       # (marshal.load(f) is ten times slower)
    except (ValueError, EOFError, TypeError):
        return None
    return data if _valid(data, key) else None


_other_tables = cache.other_versions("hsl-parser-", ".marshal")
_old_lark_caches = cache.other_versions("hsl-grammar-", ".lark.cache")


def _stale(name: str) -> bool:
    """Tables of other grammar versions (and the previous parser's Lark caches)."""
    return _other_tables(name) or _old_lark_caches(name)


def _is(x, t) -> bool:
    return type(x) is t


def _strs(xs) -> bool:
    return all(type(x) is str for x in xs)


def _valid(data, key: str) -> bool:
    """Every part of the tables has the type and range the driver relies on (the layout
    is described in hsl/syntax/_lalr_build.py)."""
    if not (_is(data, dict) and data.get("key") == key and data.get("format") == FORMAT):
        return False
    actions, rules = data.get("actions"), data.get("rules")
    if not (_is(actions, list) and actions and _is(rules, list) and rules):
        return False
    states = len(actions)
    return (all(_valid_action(a, states, len(rules)) for a in actions)
            and all(_valid_rule(r) for r in rules)
            and all(_is(data.get(k), int) and 0 <= data[k] < states for k in ("start", "end"))
            and _valid_terminals(data.get("terminals")) and _valid_lexer(data.get("lexer")))


def _valid_action(a, states: int, rules: int) -> bool:
    # symbol -> next state (>= 0) or ~rule (< 0)
    return _is(a, dict) and _strs(a) and all(type(v) is int for v in a.values()) \
        and (not a or (min(a.values()) >= -rules and max(a.values()) < states))


def _valid_rule(r) -> bool:
    # (origin, size, callback name, expand1, splice positions); the callback is looked up
    # on the builder: never one of its dunder methods
    return _is(r, tuple) and len(r) == 5 and _is(r[0], str) and _is(r[1], int) \
        and r[1] >= 0 and _is(r[2], str) and r[2].isidentifier() \
        and not (r[2].startswith("__") and r[2].endswith("__")) \
        and _is(r[3], bool) and _is(r[4], tuple) \
        and all(type(i) is int and 0 <= i < r[1] for i in r[4])


def _valid_terminals(t) -> bool:
    return _is(t, dict) and _strs(t) and all(
        _is(v, tuple) and len(v) == 2 and v[0] in ("str", "re") and _is(v[1], str)
        for v in t.values())


def _valid_lexer(lex) -> bool:
    return _is(lex, dict) and _is(lex.get("pattern"), str) and _is(lex.get("ident"), str) \
        and all(_is(lex.get(k), dict) and _strs(lex[k]) and _strs(lex[k].values())
                for k in ("punct", "keywords")) \
        and all(_is(lex.get(k), list) and _strs(lex[k]) for k in ("ignore", "newline", "always"))


def load_tables(grammar_text: str, use_cache: bool = True) -> Tables:
    """The Tables for a grammar: from the cache, else built with Lark (and cached)."""
    tables = _tables.get(grammar_text) if use_cache else None
    if tables is not None:
        return tables
    with _lock:
        tables = _tables.get(grammar_text) if use_cache else None
        if tables is not None:
            return tables
        data = None
        if use_cache:
            name, key = cache_key(grammar_text)
            raw = cache.read(name)
            data = _unpack(raw, key) if raw is not None else None
        try:
            tables = Tables(data) if data is not None else None
        except re.error:                # (a pattern that is no regex: rebuild)
            tables = None
        if tables is None:
            # deferred: Lark and the table builder only on a cache miss (see above)
            from ._lalr_build import build_tables
            data = build_tables(grammar_text)
            if use_cache:
                data["key"] = key
                cache.write(name, _pack(data), stale=_stale)
            tables = Tables(data)
        if use_cache:
            _tables[grammar_text] = tables
        return tables
