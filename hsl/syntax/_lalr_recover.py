"""Error recovery for the LALR(1) driver of hsl/syntax/_lalr.py (imported at the first error).

After a syntax error the driver asks `Recovery.resync` where to go on (and cuts the parser's
stacks back accordingly); `insertion` repairs a missing `{`; `confirmed` tells whether an
error comes far enough after the last resynchronisation to be reported (closer ones are
taken for cascades); `is_misplaced` recognises the rest of a block that an extra `}` closed
too early.  The rules are described in `resync`.  They rely on indentation only as a
tie-breaker, and on terminal spellings given as `markers` (hsl/syntax/parser.py, _MARKERS).
"""
from __future__ import annotations

from typing import Optional

from ._lalr import CONFIRM_TOKENS, ParserState, Token, UnexpectedToken


class Recovery:
    """The recovery rules for one grammar (tables and marker terminals)."""

    def __init__(self, tables, markers: dict):
        """`markers`: terminal spellings the recovery relies on: "stmt" (a keyword that
        starts a statement), "member" (a keyword that starts a class member), "semi",
        "lbrace", "rbrace", "lpar", "rpar", "lsqb", "rsqb", "for", "decls" (keywords
        that start a top-level declaration) and "labels" (keywords of switch labels)."""
        self.t = tables
        bv = tables.by_value
        self.m_stmt = bv[markers["stmt"]]
        self.m_member = bv[markers["member"]]
        self.m_semi = bv[markers["semi"]]
        self.m_rbrace = bv[markers["rbrace"]]
        self.m_for = bv[markers["for"]]
        self.openers = {bv[markers["lpar"]]: bv[markers["rpar"]],
                        bv[markers["lsqb"]]: bv[markers["rsqb"]],
                        bv[markers["lbrace"]]: bv[markers["rbrace"]]}
        self.m_lbrace = bv[markers["lbrace"]]
        self.m_lpar = bv[markers["lpar"]]
        self.m_lsqb = bv[markers["lsqb"]]
        self.closers = {v: k for k, v in self.openers.items()}
        self.m_decls = frozenset(bv[k] for k in markers["decls"])
        self.m_labels = frozenset(bv[k] for k in markers["labels"])

    def confirmed(self, text: str, resumed: int, err_pos: int) -> bool:
        """False if the error comes within CONFIRM_TOKENS tokens after a resync."""
        if resumed < 0:
            return True
        count = 0
        for typ, start, _e, _l, _c, _ls in self.t.scan(text, resumed, 1, 0):
            if start >= err_pos:
                break
            if typ and typ != "!":
                count += 1
                if count >= CONFIRM_TOKENS:
                    return True
        return False

    def _levels(self, stack: list) -> list:
        """(index, kind) of the states in `stack` where a statement ("stmt") or a class
        member ("member") can start, from the top of the stack down."""
        t = self.t
        actions = t.actions
        out = []
        for i in range(len(stack) - 1, -1, -1):
            acts = actions[stack[i]]
            if self.m_stmt in acts and t.shifts(stack[:i + 1], self.m_stmt):
                out.append((i, "stmt"))
            elif self.m_member in acts and t.shifts(stack[:i + 1], self.m_member):
                out.append((i, "member"))
        return out

    def _open_brackets(self, values: list, start: int = 0) -> list:
        """[value index, terminal name, opens a `for (`] of the brackets in `values[start:]`
        that are not closed there."""
        opened = []
        prev = None
        for k in range(start, len(values)):
            v = values[k]
            if type(v) is Token:
                typ = v.type
                if typ in self.openers:
                    opened.append([k, typ, prev == self.m_for])
                elif typ in self.closers:
                    want = self.closers[typ]
                    for j in range(len(opened) - 1, -1, -1):
                        if opened[j][1] == want:
                            del opened[j:]
                            break
                prev = typ
            else:
                prev = None
        return opened

    def insertion(self, e: "UnexpectedToken", token: Token, text: str) -> Optional[Token]:
        """A token to insert before `token` to repair the error `e`: a `{` where nothing
        else can come (a function, class, try or catch body), no `{` follows on the line
        and `token` can follow it; or a `;` where one can end the statement, `token`
        starts a later line and can follow it (the `;` missing at the end of a line: the
        statement on the next line is kept)."""
        if token.type == "$END":
            return None
        if e.accepts == {self.m_lbrace}:
            ls = token.start_pos - token.column + 1
            for typ, _p, _e, line, _c, _l in self.t.scan(text, token.start_pos, token.line, ls):
                if line != token.line:
                    break
                if typ == self.m_lbrace:
                    return None             # the `{` is there, after something extra
            missing = self.m_lbrace
        elif self.m_semi in e.accepts and token.type != self.m_semi \
                and text[token.start_pos - token.column + 1:token.start_pos].strip() == "" \
                and text.rfind("\n", 0, token.start_pos) > 0:
            missing = self.m_semi
        else:
            return None
        stack = list(e.state.state_stack)
        if not self.t.shifts(stack, missing):
            return None
        # the stack after shifting the missing token, then: can `token` follow?
        actions = self.t.actions
        rules = self.t.rules
        while True:
            a = actions[stack[-1]][missing]
            if a >= 0:
                stack.append(a)
                break
            origin, size = rules[~a][0], rules[~a][1]
            if size:
                del stack[-size:]
            stack.append(actions[stack[-1]][origin])
        if not self.t.shifts(stack, token.type):
            return None
        p = token.start_pos
        return Token(missing, "", p, token.line, token.column, token.line, token.column, p)

    def end_insertion(self, e: "UnexpectedToken", pstate: ParserState) -> Optional[Token]:
        """A token to feed at the end of the text (error `e` at the end): a closing `)`,
        `]` or `}` the state can take, else a `;` (never two in a row: that would not
        end); else the failed statement is abandoned (the stacks of `pstate` cut back to
        where a statement starts) and the end is fed again."""
        stack = pstate.state_stack
        values = pstate.value_stack
        last = values[-1] if values and type(values[-1]) is Token else None
        for typ in (self.openers[self.m_lpar], self.openers[self.m_lsqb], self.m_rbrace,
                    self.m_semi):
            if typ == self.m_semi and last is not None and last.type == self.m_semi \
                    and last.value == "":
                continue
            if typ in e.accepts and self.t.shifts(list(stack), typ):
                tok = e.token
                return Token(typ, "", tok.start_pos, tok.line, tok.column, tok.end_line,
                             tok.end_column, tok.end_pos)
        levels = self._levels(stack)
        if levels and levels[0][0] < len(stack) - 1:
            top = levels[0][0]
            del stack[top + 1:]
            del values[top:]
            return e.token
        return None

    def at_boundary(self, stack: list) -> bool:
        """Can a statement or class member start right here?"""
        t = self.t
        acts = t.actions[stack[-1]]
        return ((self.m_stmt in acts and t.shifts(stack, self.m_stmt))
                or (self.m_member in acts and t.shifts(stack, self.m_member)))

    def _indented(self, text: str, brace: Token) -> bool:
        """Does the block opened by `brace` start on a later line, indented?"""
        ls = brace.end_pos - brace.end_column + 1
        for typ, _pos, _end, line, col, _ls in self.t.scan(text, brace.end_pos, brace.end_line, ls):
            if typ:
                return line > brace.end_line and col > 1
        return False

    def _bracket(self, opened: list, typ: str, before) -> Optional[list]:
        """Track brackets in `opened` ([name, is a `for (`, `;`s in it]) for token type `typ`
        (after `before`); returns the entry a closer closed, else None.  Inside a `for (`
        header, which holds two `;`s, a `)` before the second `;` closes nothing (its `(`
        is missing) and a `{` ends the header."""
        if typ in self.openers:
            if typ == self.m_lbrace and opened and opened[-1][1]:
                opened.pop()                # `{` after a `for (` header
            opened.append([typ, before == self.m_for and typ == self.m_lpar, 0])
            return None
        if typ == self.m_semi:
            if opened and opened[-1][1]:
                opened[-1][2] += 1
            return None
        if typ in self.closers:
            want = self.closers[typ]
            for j in range(len(opened) - 1, -1, -1):
                o = opened[j]
                if o[0] == want:
                    if o[1] and o[2] < 2 and j == len(opened) - 1:
                        return None         # a `)` inside the header: its `(` is missing
                    del opened[j:]
                    return o
        return None

    def is_misplaced(self, text, pstate, token) -> bool:
        stack = pstate.state_stack
        values = pstate.value_stack
        levels = self._levels(stack)
        if not levels:
            return False
        braces = [o for o in self._open_brackets(values) if o[1] == self.m_lbrace]
        return self._misplaced(text, stack, values, levels[0][0], token, braces,
                               False) is not None

    def _misplaced(self, text, stack, values, top, token, braces, or_token) -> Optional[int]:
        """If the failed statement (or, with `or_token`, the unexpected `token`) starts a
        line indented deeper (by 2 columns or more) than the items of the block (or
        program) it is parsed in, the column of those items; else None."""
        t = self.t
        level = stack[:top + 1]
        if t.shifts(level, "$END"):
            expected = 1
        elif t.shifts(level, self.m_rbrace):
            inner = [b for b in braces if b[0] < top]
            if not inner:
                return None
            b = values[inner[-1][0]]
            ls = b.end_pos - b.end_column + 1
            expected = None
            for typ, _pos, _e, line, col, _l in t.scan(text, b.end_pos, b.end_line, ls):
                if typ:
                    if line > b.end_line and typ not in self.m_labels:
                        expected = col      # (switch bodies indent statements past labels)
                    break
            if expected is None:
                return None
        else:
            return None
        starts = []
        if top < len(values):
            v = values[top]
            if type(v) is Token:
                starts.append((v.start_pos, v.column))
            elif hasattr(v, "span"):
                starts.append((_offset(text, v.span.line, v.span.col), v.span.col))
        if token is not None and (or_token or top >= len(values)):
            starts.append((token.start_pos, token.column))
        for pos, col in starts:
            if col >= expected + 2 and _indent(text, pos) == col:
                return expected
        return None

    def _dedent(self, text, start, line, ls, stack, values, top, expected):
        """Skip to the next line that starts at column `expected` or less: go on at its
        first token, after it if it is a `}` at column `expected` (the early-closed block's
        own), or at it at the level of the block it closes if it is a `}` further left.
        Returns (state index to cut to, (pos, line, line start)) or None."""
        t = self.t
        prev_line = 0
        skip_to = None
        for typ, pos, end, tline, col, _nls in t.scan(text, start, line, ls):
            if typ == "!":
                return None
            if not typ:
                continue
            first = tline != prev_line
            prev_line = tline
            if skip_to is not None:
                # after the early-closed block's own `}`: what followed the block (`catch`,
                # `else`, ...) continues the failed statement, else a new one starts
                if t.shifts(stack, typ):
                    return len(stack) - 1, (pos, tline, tline_start(text, pos))
                if t.shifts(stack[:top + 1], typ):
                    return top, (pos, tline, tline_start(text, pos))
                return None
            if first and col <= expected:
                if typ == self.m_rbrace:
                    if col == expected:
                        skip_to = end       # go on with the token after it
                        continue
                    j = self._close_level(text, pos, col, True, stack, values, top)
                    if j is None:
                        return None
                    return j, (pos, tline, tline_start(text, pos))
                if t.shifts(stack[:top + 1], typ):
                    return top, (pos, tline, tline_start(text, pos))
                return None
        return None

    def _close_level(self, text, pos, col, first, stack, values, top):
        """The state index to cut the stacks to so that the `}` at `pos` closes a block: the
        innermost one around `top`, unless the `}` starts its line and is indented like the
        line of an outer `{` (the inner blocks lack their `}`): then that one."""
        t = self.t
        rbrace = self.m_rbrace
        hi = top
        if first:
            braces = [o[0] for o in self._open_brackets(values[:top])
                      if o[1] == self.m_lbrace]
            inner = None
            for k in reversed(braces):
                b = values[k]
                if _indent(text, b.start_pos) == col:
                    if inner is not None:
                        hi = inner          # only levels inside this block, outside the next
                    break
                inner = k
        for j in range(hi, -1, -1):
            if t.shifts(stack[:j + 1], rbrace):
                return j
        return None

    def resync(self, text: str, start: int, line: int, ls: int, pstate: ParserState,
               token: Optional[Token] = None):
        """Find where to go on after a syntax error at offset `start` (on line `line`,
        which starts at offset `ls`; `token` is the token found there, if any) and cut the
        parser's stacks back accordingly.  Returns (pos, line, line_start) to lex from, or
        None to stop.

        The failed statement is abandoned: the stacks are cut back to the innermost state
        where a statement (or class member) can start.  The tokens from the error on are
        skipped, keeping track of the brackets left open by the failed statement (an
        unexpected `)` or `]`, or `}` inside open brackets, closes nothing; a `for` without
        its `(` counts as one; see `_bracket` for `for` headers), up to
        * a `;` outside any `{` or `for (` opened in the failed statement: parsing goes on
          with that `;` (an empty statement) at the statement's level (after it, for a
          class member);
        * a `}` that closes the block around the failed statement: parsing goes on with it,
          at the level of that block (of an outer block if the `}` starts a line indented
          like that block's `{` line: the inner ones lack their `}`);
        * the token after a `}` that closes a block opened after the error and leaves no
          `{` of the failed statement open (`if (...) {...}`, `function f( {...}`), if a
          statement (or member) can start with it: parsing goes on with it;
        * `function`, `class` or `import` first on a line at column 1, when the failed
          statement is at the top level, or left a `{` open, or is in an indented block
          (a `}` is missing): parsing goes on with it at the top level.
        Before that, two cases are decided by indentation:
        * an unexpected token at column 1 that can start a top-level statement, inside an
          indented block, means a missing `}`: parsing goes on with it at the top level;
        * a failed statement (or unexpected token) starting a line indented deeper than the
          items of its block is the rest of an inner block that an extra `}` closed too
          early: skip to the next line indented like the items or less (see `_dedent`).
        Each candidate is checked against the tables (the token must be shiftable there).
        Errors within the next CONFIRM_TOKENS tokens are not reported (see `confirmed`)."""
        t = self.t
        stack = pstate.state_stack
        values = pstate.value_stack
        levels = self._levels(stack)
        if not levels:
            return None
        top, kind = levels[0]
        braces = [o for o in self._open_brackets(values) if o[1] == self.m_lbrace]
        # the top level: the innermost statement level outside every open `{`
        outer = None
        for i, k in levels:
            if k == "stmt" and (not braces or i <= braces[0][0]):
                outer = i
                break
        at_top = outer == top
        nested_indented = (not at_top and bool(braces)
                           and self._indented(text, values[braces[-1][0]]))

        def cut(i):
            del stack[i + 1:]
            del values[i:]

        if (token is not None and token.column == 1 and nested_indented and outer is not None
                and t.shifts(stack[:outer + 1], token.type)):
            cut(outer)                      # a `}` is missing before this line
            return token.start_pos, token.line, token.start_pos

        expected = self._misplaced(text, stack, values, top, token, braces, True)
        if expected is not None:
            # A failed statement (or an unexpected token) that starts a line indented deeper
            # than the block's items is most likely in the rest of an inner block that an
            # extra `}` closed too early: skip to the next line indented like the items or
            # less.
            got = self._dedent(text, start, line, ls, stack, values, top, expected)
            if got is not None:
                j, where = got
                cut(j)
                return where

        # brackets left open by the failed statement: [name, is a `for (`, `;`s seen in it]
        opened = []
        prev = None
        for k in range(top, len(values)):
            v = values[k]
            if type(v) is Token:
                self._bracket(opened, v.type, prev)
                prev = v.type
            else:
                prev = None
        if prev == self.m_for:
            opened.append([self.m_lpar, True, 0])    # `for` without `(`: a header follows

        prev_line = 0
        prev = None
        block_ended = False
        stray = -1                          # an unexpected closer that closes nothing
        if token is not None and token.type in self.closers:
            if token.type != self.m_rbrace or any(o[0] != self.m_lbrace for o in opened):
                stray = token.start_pos
        for typ, pos, end, tline, col, _nls in t.scan(text, start, line, ls):
            if typ == "!":
                return None                 # unterminated string: nothing reliable follows
            if not typ:
                continue                    # a character no token starts with
            first = tline != prev_line
            prev_line = tline
            before = prev
            prev = typ
            if pos == stray:
                continue                    # the unexpected `)` or `]` closes nothing
            if block_ended:
                block_ended = False
                if typ == self.m_rbrace:
                    j = self._close_level(text, pos, col, first, stack, values, top)
                    if j is not None:
                        cut(j)
                        return pos, tline, tline_start(text, pos)
                elif typ != self.m_semi and t.shifts(stack[:top + 1], typ):
                    cut(top)
                    return pos, tline, tline_start(text, pos)
            if typ == self.m_semi:
                if not any(o[0] == self.m_lbrace or o[1] for o in opened):
                    if kind == "member":
                        cut(top)
                        return end, tline, tline_start(text, pos)
                    if t.shifts(stack[:top + 1], typ):
                        cut(top)
                        return pos, tline, tline_start(text, pos)
                self._bracket(opened, typ, before)
            elif typ in self.openers:
                self._bracket(opened, typ, before)
            elif typ in self.closers:
                closed = self._bracket(opened, typ, before)
                if closed is not None:
                    block_ended = typ == self.m_rbrace and not any(
                        o[0] == self.m_lbrace for o in opened)
                elif typ == self.m_rbrace or not opened or opened[-1][0] != self.m_lpar \
                        or not opened[-1][1]:
                    opened.clear()
                    if typ == self.m_rbrace:
                        # closes the block around the failed statement
                        j = self._close_level(text, pos, col, first, stack, values, top)
                        if j is not None:
                            cut(j)
                            return pos, tline, tline_start(text, pos)
            elif (first and col == 1 and typ in self.m_decls and outer is not None
                  and (at_top or nested_indented
                       or any(o[0] == self.m_lbrace for o in opened))):
                if t.shifts(stack[:outer + 1], typ):
                    cut(outer)
                    return pos, tline, tline_start(text, pos)
        return None


def tline_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _offset(text: str, line: int, col: int) -> int:
    """The string offset of 1-based (line, column)."""
    pos = 0
    for _ in range(line - 1):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return len(text)
    return pos + col - 1


def _indent(text: str, pos: int) -> int:
    """The column of the first non-blank character of the line holding `pos`."""
    ls = text.rfind("\n", 0, pos) + 1
    i = ls
    while i < pos and text[i] in " \t":
        i += 1
    return i - ls + 1
