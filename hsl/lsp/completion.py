"""Completion: what the cursor is typing comes from hsl/syntax/cursor.py (the REPL's
completer reads the same), the candidates from the document's names (names.py):

* a bare word: user functions and classes (the document's, its includes' and imports'),
  the hook functions of its phase, builtins and builtin classes of that phase with their
  signatures, keywords, and snippets;
* `$`: the variables of the scope around the cursor and the phase's pre-defined ones;
* `$arguments["`, `$connection["`, `$transaction["`, `$message["`: the keys of that array
  in the document's phase, with their type and meaning;
* `$var->`: the methods of its class when the class is certain (hsl/check/methods.py),
  else of the class of its last `$var = Class(...)` before the cursor;
* `Class::`: static methods of a builtin or user class.

The document's own declarations come from its last analysis (a few keystrokes old while
the user types): completion never waits for a check.
"""
from __future__ import annotations

from lsprotocol import types as T

from ..builtins.registry import member_signatures
from ..check.flow import Scope
from ..check.methods import ClassMethods, known_types
from ..compiler.resolve import Resolution
from ..hooks import phases as P
from ..syntax import ast as A
from ..syntax.cursor import ALL_KEYWORDS, BUFFER_VARS, assigned_class, typing_at
from .names import Names, hook_doc, params_text

K = T.CompletionItemKind

#: (label, snippet, what it is)
SNIPPETS = (
    ("if", "if (${1:condition}) {\n\t$0\n}", "if statement"),
    ("ifelse", "if (${1:condition}) {\n\t$2\n} else {\n\t$0\n}", "if/else statement"),
    ("foreach", "foreach (${1:\\$array} as ${2:\\$key} => ${3:\\$value}) {\n\t$0\n}",
     "foreach loop"),
    ("while", "while (${1:condition}) {\n\t$0\n}", "while loop"),
    ("function", "function ${1:name}(${2}) {\n\t$0\n}", "function declaration"),
    ("class", "class ${1:Name} {\n\tconstructor(${2}) {\n\t\t$0\n\t}\n}", "class declaration"),
    ("try", "try {\n\t$1\n} catch (${2:\\$e}) {\n\t$0\n}", "try/catch"),
    ("switch", "switch (${1:\\$value}) {\n\tcase ${2:1}:\n\t\t$0\n\tbreak;\n}", "switch"),
    ("import", "import { ${2:name} } from \"${1:file.hsl}\";", "import names from a module"),
    ("include", "include \"${1:file.hsl}\";", "include a file"),
)

_KEYED = ("arguments", "connection", "transaction", "message")


def complete(documents, uri: str, pos: T.Position, a=None,
             snippets: bool = True) -> T.CompletionList:
    text = documents.text(uri)
    if text is None:
        return T.CompletionList(is_incomplete=False, items=[])
    lines = documents.lines(uri, text)
    offset = lines.offset(pos)
    start = text.rfind("\n", 0, offset) + 1
    before = text[start:offset]
    t = typing_at(before)
    if t is None:
        return T.CompletionList(is_incomplete=False, items=[])
    names = Names(a, documents)
    if t.kind == "keys":
        items = _keys(names, t)
    elif t.kind == "method":
        items = _methods(names, t, text[:offset], pos)
    elif t.kind == "static":
        items = _statics(names, t)
    elif t.kind == "variable":
        items = _variables(names, t, text, pos)
    else:
        items = _names(names, t.prefix, snippets)
    return T.CompletionList(is_incomplete=False, items=items)


def _names(names: Names, prefix: str, snippets: bool = True) -> list:
    out, seen = [], set()

    def add(label, kind, detail="", doc="", sort="5"):
        if label in seen or not label.startswith(prefix):
            return
        seen.add(label)
        out.append(T.CompletionItem(label=label, kind=kind, detail=detail or None,
                                    documentation=_markup(doc) if doc else None,
                                    sort_text=sort + label))

    for name, d in sorted(names.user().items()):
        add(name, K.Class if d.is_class else K.Function, d.signature(), d.doc(), "1")
    for name, f in sorted(names.hook_functions().items()):
        add(name, K.Function, names.callable_signature(name)[0], hook_doc(f, names.phase), "2")
    builtins = names.builtins()
    for name in sorted(builtins):
        b = builtins[name]
        add(name, K.Function, b.signature(), b.doc, "3")
    classes = names.builtin_classes()
    for name in sorted(classes):
        add(name, K.Class, "class " + name, classes[name].doc, "3")
    if prefix:
        for word in ALL_KEYWORDS:
            add(word, K.Keyword, "keyword", sort="4")
    for label, body, what in SNIPPETS if snippets else ():
        if label.startswith(prefix):
            out.append(T.CompletionItem(label=label, kind=K.Snippet, detail=what,
                                        insert_text=body,
                                        insert_text_format=T.InsertTextFormat.Snippet,
                                        sort_text="6" + label))
    return out


def _scope_at(program, pos: T.Position, inner: list = None):
    """(node, facts, entry, class) of the innermost scope around a position.  `inner`,
    when given, receives the line spans of the other scopes inside it."""
    line = pos.line + 1
    best = None
    scopes = Resolution().file_scopes(program)
    for scope in scopes:
        node = scope[0]
        if type(node) is A.Program:
            if best is None:
                best = scope
            continue
        s = node.span
        if s.line <= line <= s.end_line and (best is None or type(best[0]) is A.Program
                                             or s.line >= best[0].span.line):
            best = scope
    if inner is not None and best is not None:
        outer = best[0].span if type(best[0]) is not A.Program else None
        for scope in scopes:
            s = scope[0].span
            if scope is not best and type(scope[0]) is not A.Program and (
                    outer is None or outer.line <= s.line <= outer.end_line):
                inner.append((s.line, s.end_line))
    return best


def _variables(names: Names, t, text: str, pos: T.Position) -> list:
    found: dict = {}
    a = names.a
    scope = None
    others: list = []           # line spans of scopes not the cursor's
    if a is not None and a.program is not None:
        try:
            scope = _scope_at(a.program, pos, others)
        except RecursionError:
            scope = None
    if scope is not None:
        node, facts, entry, _cls = scope
        for name in sorted(entry):
            found.setdefault(name, "parameter" if name != "this" else "the object")
        for name, _n in facts.writes:
            found.setdefault(name, "variable")
        for g in facts.globals:
            for name in g.names:
                found.setdefault(name, "global")
        if type(node) is A.Program:
            for name in names.variables():
                found.setdefault(name, f"pre-defined ({names.phase or 'hook'})")
    else:
        for name in names.variables():
            found.setdefault(name, "pre-defined")
    # names typed since the last analysis, on the lines around the cursor (not in other
    # functions)
    lo = max(pos.line - 30, 0)
    window = "\n".join(line for n, line in enumerate(text.split("\n")[lo:pos.line + 1], lo + 1)
                       if not any(a <= n <= b for a, b in others if not a <= pos.line + 1 <= b))
    for name in BUFFER_VARS.findall(window):
        if name != t.prefix:
            found.setdefault(name, "variable")
    return [T.CompletionItem(label="$" + name, kind=K.Variable, detail=what,
                             filter_text="$" + name, insert_text=name,
                             sort_text=("1" if what != "variable" else "2") + name)
            for name, what in found.items() if name.startswith(t.prefix)]


def _keys(names: Names, t) -> list:
    if t.var not in _KEYED or t.path:
        return []
    out = []
    for k in P.variable_keys(names.phase, t.var):
        if k.name.startswith(t.prefix):
            detail = k.type + (" (optional)" if k.optional else "")
            out.append(T.CompletionItem(
                label=k.name, kind=K.Field, detail=detail,
                documentation=_markup(k.meaning + ("\n\nabsent when not available: test it "
                                                   "with isset()" if k.optional else "")),
                insert_text=k.name))
    return out


def class_of(names: Names, var: str, before: str, pos: T.Position):
    """The class of `$var` at a position: certain (methods.py), else the last assignment
    of a class before the cursor, else None."""
    a = names.a
    if a is not None and a.program is not None:
        try:
            scope = _scope_at(a.program, pos)
            if scope is not None:
                node, facts, entry, _cls = scope
                tables = ClassMethods(a.program, names.builtin_classes(),
                                      set(names.builtins()) | set(names.user()))
                known = known_types(Scope(node.body, entry, _cls, facts), entry, tables)
                if var in known:
                    return known[var]
        except (RecursionError, KeyError):
            pass
    return assigned_class(var, before)


def members(names: Names, cls: str, static: bool) -> dict:
    """name -> signature of the methods of a user or builtin class."""
    user = names.user().get(cls)
    if user is not None and user.is_class:
        return {m.name: f"{m.name}({params_text(m.params)})" for m in user.node.members
                if type(m) is A.ClassMethod and m.static == static and not m.private}
    entry = names.builtin_classes().get(cls)
    return member_signatures(entry, static) if entry is not None else {}


def _methods(names: Names, t, before: str, pos: T.Position) -> list:
    cls = class_of(names, t.var, before, pos)
    if cls is None:
        return []
    return [T.CompletionItem(label=n, kind=K.Method, detail=sig)
            for n, sig in sorted(members(names, cls, False).items()) if n.startswith(t.prefix)]


def _statics(names: Names, t) -> list:
    return [T.CompletionItem(label=n, kind=K.Method, detail=sig)
            for n, sig in sorted(members(names, t.var, True).items()) if n.startswith(t.prefix)]


def _markup(text: str) -> T.MarkupContent:
    return T.MarkupContent(kind=T.MarkupKind.Markdown, value=text)


def register(server) -> None:
    docs = server.hsl_documents

    @server.feature(T.TEXT_DOCUMENT_COMPLETION,
                    T.CompletionOptions(trigger_characters=["$", ">", ":", "\""]))
    async def completion(ls, params: T.CompletionParams):
        return await server.hsl_answer(params.text_document.uri,
                                       lambda a: complete(docs, params.text_document.uri,
                                                          params.position, a,
                                                          _snippets(server)),
                                       T.CompletionList(is_incomplete=False, items=[]))


def _snippets(server) -> bool:
    """Whether the client takes snippets (else none are offered)."""
    try:
        item = server.client_capabilities.text_document.completion.completion_item
        return bool(item.snippet_support)
    except AttributeError:          # (a capability left out: None somewhere on the way)
        return False

