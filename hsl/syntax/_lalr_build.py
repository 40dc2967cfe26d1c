"""Derive the parse tables of hsl/syntax/_lalr.py from grammar/hsl.lark with Lark (cold path only).

`build_tables(grammar_text)` compiles the grammar with Lark's LALR(1) analysis (the same
options the parser always used: contextual lexer, keep_all_tokens, no placeholders) and
returns plain data (dicts, lists, tuples, strings, ints) that `marshal` can store:

* ``actions``: one dict per parser state, symbol name -> int; ``>= 0`` shifts to (or, for
  a rule name, goes to) that state, ``< 0`` reduces by rule ``~value``.
* ``rules``: ``(origin, size, callback name, expand1, splice positions)`` per rule, the
  information Lark's ParseTreeBuilder uses to call the embedded transformer.
* ``terminals``: name -> (``"str"`` or ``"re"``, pattern), for error messages.
* ``lexer``: the description of Lark's contextual lexer in the form hsl/syntax/_lalr.py uses
  (one master regex with the regex terminals first, then every punctuation string, longest
  first; keywords are identifiers looked up in a dict; the parser state decides which of the
  candidates a state accepts, see hsl/syntax/_lalr.py).

The lexer description relies on properties of the HSL grammar that this module checks (and
refuses to build tables when they do not hold): no terminal has flags or a priority, every
string terminal is either a keyword (an identifier) or punctuation that no non-ignored regex
terminal can match at the same position.
"""
from __future__ import annotations

import re
import sys

from . import _lalr

# Operators that are always lexed, whatever the parser state expects (spec 2.8: maximal
# munch; `!~` at expression start is a syntax error, not `!` followed by `~`).
ALWAYS_ACCEPT = ("!~",)


class GrammarAssumptionError(Exception):
    """The grammar does not fit the lexer model of hsl/syntax/_lalr.py."""


def build_tables(grammar_text: str) -> dict:
    from ..pins import require      # deferred: importlib.metadata, only to build tables
    require("lark")                     # the internals read below are those of lark 1.3
    from lark import Lark
    from lark.parsers.lalr_analysis import Shift

    lk = Lark(grammar_text, parser="lalr", lexer="contextual", keep_all_tokens=True,
              maybe_placeholders=False, propagate_positions=False, start="start")
    table = lk.parser.parser._parse_table
    states = table.states
    nstates = len(states)
    if sorted(states) != list(range(nstates)):
        raise GrammarAssumptionError("parser states are not numbered 0..n-1")

    rule_index: dict = {}
    rules: list = []
    for s in range(nstates):
        for _name, (action, arg) in states[s].items():
            if action is not Shift and id(arg) not in rule_index:
                rule_index[id(arg)] = len(rules)
                rules.append(arg)

    actions = []
    for s in range(nstates):
        d = {}
        for name, (action, arg) in states[s].items():
            d[name] = arg if action is Shift else ~rule_index[id(arg)]
        actions.append(d)

    rule_specs = []
    for r in rules:
        expansion = r.expansion
        name = r.alias or r.options.template_source or r.origin.name
        splice = tuple(i for i, sym in enumerate(expansion)
                       if not sym.is_term and sym.name.startswith("_"))
        expand1 = bool(r.options.expand1 and not r.alias)
        if not r.options.keep_all_tokens:
            raise GrammarAssumptionError("rule %s does not keep all tokens" % r)
        rule_specs.append((r.origin.name, len(expansion), str(name), expand1, splice))

    terminals = {}
    for t in lk.terminals:
        if t.pattern.flags:
            raise GrammarAssumptionError("terminal %s has flags" % t.name)
        if t.priority != 0:
            raise GrammarAssumptionError("terminal %s has a priority" % t.name)
        terminals[t.name] = (t.pattern.type, t.pattern.value)

    lexer = _lexer_description(lk, terminals)
    return _plain({
        "format": _lalr.FORMAT,
        "actions": actions,
        "rules": rule_specs,
        "start": table.start_states["start"],
        "end": table.end_states["start"],
        "terminals": terminals,
        "lexer": lexer,
    })


def _plain(x):
    """A copy made of exact builtin types (Lark uses str subclasses), as marshal needs."""
    t = type(x)
    if t is dict:
        return {_plain(k): _plain(v) for k, v in x.items()}
    if t is list:
        return [_plain(v) for v in x]
    if t is tuple:
        return tuple(_plain(v) for v in x)
    if isinstance(x, str):
        return sys.intern(str(x))       # stored once, loaded interned
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, int):
        return int(x)
    raise TypeError("cannot store %r in the parse tables" % (x,))


def _lexer_description(lk, terminals: dict) -> dict:
    root = lk.parser.lexer.root_lexer          # Lark's lexer over every terminal
    ignore = set(lk.lexer_conf.ignore)
    ordered = list(root.terminals)              # Lark's order: regexes first, longest first
    regex_terms = [t for t in ordered if t.pattern.type == "re"]
    string_terms = [t for t in ordered if t.pattern.type == "str"]

    # Keywords: string terminals that a regex terminal matches as a whole (an identifier).
    keywords: dict = {}
    ident = None
    punct: dict = {}
    for st in string_terms:
        s = st.pattern.value
        whole = [rt for rt in regex_terms if re.fullmatch(rt.pattern.to_regexp(), s)]
        if whole:
            if len(whole) != 1 or (ident is not None and whole[0].name != ident):
                raise GrammarAssumptionError("keyword %r matches several regex terminals" % s)
            ident = whole[0].name
            keywords[s] = st.name
        else:
            punct[s] = st.name
    if ident is None:
        raise GrammarAssumptionError("no identifier terminal")
    if ident in ignore:
        raise GrammarAssumptionError("the identifier terminal is ignored")

    # Punctuation must not be matchable by a (non-ignored) regex terminal at the same
    # position: the state-dependent choice below only considers punctuation candidates.
    probes = ("", " ", "a", "1", "$a", "/", "x/", "\n", "*/", "'", '"', "#")
    for s in punct:
        for rt in regex_terms:
            if rt.name in ignore:
                continue
            rx = re.compile(rt.pattern.to_regexp())
            if any(rx.match(s + p) for p in probes):
                raise GrammarAssumptionError("punctuation %r overlaps terminal %s" % (s, rt.name))
    for rt in regex_terms:
        if "__PUNCT__" == rt.name:
            raise GrammarAssumptionError("terminal name __PUNCT__ is reserved")

    parts = ["(?P<%s>%s)" % (t.name, t.pattern.to_regexp()) for t in regex_terms]
    by_length = sorted(punct, key=lambda s: (-len(s), punct[s]))
    parts.append("(?P<__PUNCT__>%s)" % "|".join(re.escape(s) for s in by_length))
    pattern = "|".join(parts)
    re.compile(pattern)

    always = []
    for v in ALWAYS_ACCEPT:
        name = punct.get(v)
        if name is None:
            raise GrammarAssumptionError("always-accepted operator %r is not a terminal" % v)
        always.append(name)

    return {
        "pattern": pattern,
        "punct": punct,
        "keywords": keywords,
        "ident": ident,
        "ignore": sorted(ignore),
        "newline": sorted(root.newline_types),
        "always": always,
    }
