"""Code actions for `hsl lsp`: quick fixes for the checker's diagnostics.

* "did you mean" (HSL101 unknown function, HSL102 unknown class, HSL105 unknown method,
  and any other diagnostic whose hint names a close name): replace the name;
* a function of an older HSL generation (HSL701, HSL702): rewrite the call with the
  replacement hsl/check/legacy.py names, when that replacement is a call whose
  arguments are the old call's (in the same order, or swapped where the table says "note
  the argument order"), with its constant arguments (`dns_query($host, ["type" => "a"])`);
* an unknown function or class (HSL101, HSL102): "declare it as a plugin" in the
  project's plugins file (hsl/plugins.py's format, docs/plugins.md), with as many
  parameters as the call passes.  The file is the first `plugins` entry of the
  `.hslcheck.toml` (or pyproject's `[tool.hsl-check]`) that applies; without one,
  `plugins.yaml` at the project's root (where the configuration is, else where
  smtpd-app.yaml is, else the workspace folder) is created and the configuration gets
  `plugins = ["plugins.yaml"]` (created too when there is none), so that `hsl check` and
  the server know the declaration.

The diagnostics are the checker's own (hsl.check.checker.check_source with the options
`hsl check` would use for the file), so an action reads the code, span and hint the
checker set rather than the text an editor shows.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from lsprotocol import types as T
from pygls.uris import from_fs_path

from ..builtins import index as builtin_index
from ..check import config as check_config, legacy
from ..check.checker import Options, check_source
from ..errors import Diagnostic
from ..plugins import load_plugins
from ..syntax import ast as A
from .symbols import FileIndex, _at, _to_range, index_for

__all__ = ["code_actions", "check_document", "plugins_file", "register"]

_MEAN = re.compile(r"did you mean `?\$?([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?`?\?")
_CALL_TEMPLATE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)\Z")
_NOTE_ORDER = " (note the argument order)"
_PARAM = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*\Z")


# ------------------------------------------------------------------ the checker's view

def _settings(path: str) -> tuple:
    """(settings dict, configuration file or None) that apply to `path`."""
    try:
        found = check_config.find(os.path.dirname(os.path.abspath(path)))
        return (check_config.load(found) if found else {}), found
    except (check_config.ConfigError, OSError):
        return {}, None


def _options(path: str, roots: list, include_paths=()):
    settings, _ = _settings(path)
    try:
        plugins = load_plugins(settings.get("plugins", []), settings.get("extras", []))
    except (ValueError, OSError):
        plugins = None
    return Options(hook=settings.get("hook"),
                   include_paths=list(include_paths) + list(settings.get("include", [])),
                   allow_unknown_functions=bool(settings.get("allow-unknown-functions")),
                   no_warnings=bool(settings.get("no-warnings")),
                   roots=list(roots),
                   plugin_functions=frozenset(settings.get("plugin-functions", [])),
                   plugins=plugins)


_CHECKED: dict = {}      # path -> (text, diagnostics): the last document checked


def check_document(path: str, text: str, roots=(), include_paths=()) -> list:
    """The checker's diagnostics of `text` (the file `path`), as `hsl check` gives them
    (`include_paths`: the server's -I folders)."""
    settings, config = _settings(path)
    stamp = (text, tuple(include_paths),
             tuple(_mtime(p) for p in [config, *settings.get("plugins", [])]))
    got = _CHECKED.get(path)
    if got is not None and got[0] == stamp:
        return got[1]
    diags = [d for d in check_source(text, path, _options(path, list(roots), include_paths))
             if d.filename == path or os.path.abspath(d.filename) == os.path.abspath(path)]
    _CHECKED.clear()             # (one entry: the document being edited)
    _CHECKED[path] = (stamp, diags)
    return diags


def _mtime(path: Optional[str]):
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return st and (st.st_mtime_ns, st.st_size)


# ------------------------------------------------------------------ edits

def _span_of(d: Diagnostic) -> A.Span:
    return A.Span(d.line, d.column, d.end_line or d.line, d.end_column or d.column + 1)


def _overlaps(s: A.Span, line0a: int, line0b: int) -> bool:
    return s.line - 1 <= line0b and (s.end_line or s.line) - 1 >= line0a


def _lsp_diag(fi: FileIndex, ws, d: Diagnostic, sent: list) -> T.Diagnostic:
    """The client's diagnostic for `d` when it sent one (same code and start), else one
    made here (the client links the action to it)."""
    rng = _to_range(fi, ws, _span_of(d))
    for s in sent:
        if str(s.code) == d.code and s.range.start == rng.start:
            return s
    return T.Diagnostic(range=rng, message=d.message, code=d.code, source="hsl",
                        severity=T.DiagnosticSeverity.Error if d.severity == "error"
                        else T.DiagnosticSeverity.Warning)


def _nodes_at(fi: FileIndex, line: int, col: int, typ) -> list:
    if fi.program is None:
        return []
    return [n for n in A.walk(fi.program) if type(n) is typ
            and (n.span.line, n.span.col) <= (line, col) <= (n.span.end_line, n.span.end_col)]


def _source(fi: FileIndex, span: A.Span) -> str:
    lines = fi.lines
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1:span.end_col - 1]
    out = [lines[span.line - 1][span.col - 1:]]
    out += lines[span.line:span.end_line - 1]
    out.append(lines[span.end_line - 1][:span.end_col - 1])
    return "\n".join(out)


def _edit(ws, fi: FileIndex, span: A.Span, text: str) -> T.WorkspaceEdit:
    return T.WorkspaceEdit(changes={from_fs_path(fi.path): [
        T.TextEdit(range=_to_range(fi, ws, span), new_text=text)]})


def _did_you_mean(ws, fi: FileIndex, d: Diagnostic, diag: T.Diagnostic) -> Optional[T.CodeAction]:
    m = _MEAN.search(d.hint or "")
    if m is None:
        return None
    new = m.group(1)
    span = _span_of(d)
    # the name inside the diagnostic's span (HSL105 covers `$obj->name`)
    found = None
    for t in fi.toks.within(span):
        if t.type in ("IDENT", "VARIABLE") and t.text.lstrip("$") != new:
            found = t
    if found is None:
        return None
    name = found.text
    replacement = ("$" + new) if name.startswith("$") else new
    tspan = A.Span(found.line, found.col, found.line, found.col + len(name))
    return T.CodeAction(title=f"Replace {name} with {replacement}", kind=T.CodeActionKind.QuickFix,
                        diagnostics=[diag], is_preferred=True,
                        edit=_edit(ws, fi, tspan, replacement))


def legacy_rewrite(name: str, args: list) -> Optional[str]:
    """The call that replaces `name(args...)` (args: source texts), or None when the
    replacement is not a call of the same arguments (see the module docstring)."""
    text = legacy.replacement(name)
    if text is None:
        return None
    swap = text.endswith(_NOTE_ORDER)
    if swap:
        text = text[:-len(_NOTE_ORDER)]
    m = _CALL_TEMPLATE.match(text)
    if m is None:
        return None
    fname, inner = m.group(1), m.group(2)
    parts = _split_args(inner)
    if parts is None:
        return None
    params = [i for i, p in enumerate(parts) if _PARAM.match(p)]
    if any("$" in p for i, p in enumerate(parts) if i not in params):
        return None          # (a template such as isset($array[$key]))
    given = list(args)
    if swap:
        if len(given) != 2:
            return None
        given.reverse()
    if len(given) > len(params):
        return None
    if len(given) < len(params):
        # the missing parameters must be the last ones, optional in the new function
        first_missing = params[len(given)]
        if params[len(given):] != list(range(first_missing, len(parts))) \
                or not _optional_from(fname, len(given)):
            return None
        parts, params = parts[:first_missing], params[:len(given)]
    out = list(parts)
    for i, arg in zip(params, given):
        out[i] = arg
    return f"{fname}({', '.join(out)})"


def _optional_from(fname: str, n: int) -> bool:
    e = builtin_index.functions_for(None).get(fname)
    return e is not None and e.min_args <= n


def _split_args(inner: str) -> Optional[list]:
    """The comma-separated arguments of a template (brackets and strings kept whole)."""
    out, depth, cur, quote = [], 0, "", False
    for ch in inner:
        if ch == '"':
            quote = not quote
        elif not quote and ch in "([{":
            depth += 1
        elif not quote and ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out if depth == 0 and not quote else None


def _legacy(ws, fi: FileIndex, d: Diagnostic, diag: T.Diagnostic) -> Optional[T.CodeAction]:
    calls = [c for c in _nodes_at(fi, d.line, d.column, A.Call)
             if type(c.callee) is A.NameRef and (c.callee.span.line, c.callee.span.col)
             == (d.line, d.column)]
    if not calls:
        return None
    call = calls[-1]
    if any(type(a) is A.Spread for a in call.args):
        return None
    new = legacy_rewrite(call.callee.name, [_source(fi, a.span) for a in call.args])
    if new is None:
        return None
    return T.CodeAction(title=f"Replace {call.callee.name}() with {new.split('(')[0]}()",
                        kind=T.CodeActionKind.QuickFix, diagnostics=[diag], is_preferred=True,
                        edit=_edit(ws, fi, call.span, new))


# ------------------------------------------------------------------ plugin declarations

def _project_root(path: str, ws_roots: list) -> str:
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.isfile(os.path.join(d, "smtpd-app.yaml")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    for r in ws_roots:
        if os.path.abspath(path).startswith(os.path.abspath(r).rstrip(os.sep) + os.sep):
            return os.path.abspath(r)
    return os.path.dirname(os.path.abspath(path))


def plugins_file(path: str, ws_roots=()) -> tuple:
    """(plugins file, configuration file or None, whether the configuration lists it) for
    the file `path` (see the module docstring)."""
    settings, config = _settings(path)
    listed = settings.get("plugins") or []
    if listed:
        return listed[0], config, True
    root = os.path.dirname(config) if config else _project_root(path, list(ws_roots))
    return os.path.join(root, "plugins.yaml"), config, False


def _yaml_insert(text: str, section: str, entry: list) -> Optional[tuple]:
    """(line, col, text to insert) adding `entry` (lines, unindented) under the top-level
    `section:` of a YAML file, or None when its layout is not one this can edit."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(rf"{section}:\s*(#.*)?$", line)
        if m:
            indent = "  "
            for nxt in lines[i + 1:]:
                if nxt.strip() and not nxt.lstrip().startswith("#"):
                    got = re.match(r"( +)\S", nxt)
                    if got:
                        indent = got.group(1)
                    break
            block = "".join(indent + e + "\n" for e in entry)
            if i + 1 == len(lines):          # (the last line, without a newline)
                return i, len(line), "\n" + block.rstrip("\n")
            return i + 1, 0, block
        if re.match(rf"{section}:\s*\{{\s*\}}\s*(#.*)?$", line):
            return None
        if re.match(rf"{section}:", line):
            return None           # (a flow mapping: not edited)
    block = f"{section}:\n" + "".join("  " + e + "\n" for e in entry)
    if not text or text.endswith("\n"):
        return len(lines) - 1, 0, block
    return len(lines) - 1, len(lines[-1]), "\n" + block


def _params_for(call: Optional[A.Call]) -> Optional[list]:
    """Parameter names for a declaration from the call's arguments (None: any number)."""
    if call is None:
        return None
    if any(type(a) is A.Spread for a in call.args):
        return None
    out = []
    for i, a in enumerate(call.args):
        name = a.name if type(a) is A.Var and a.name else f"arg{i + 1}"
        while name in out:
            name += "_"
        out.append(name)
    return out


def _declare(ws, fi: FileIndex, d: Diagnostic, diag: T.Diagnostic, roots: list,
             kind: str, edits: tuple = (True, True)) -> Optional[T.CodeAction]:
    refs = [n for n in _nodes_at(fi, d.line, d.column, A.NameRef)
            if (n.span.line, n.span.col) == (d.line, d.column)]
    if not refs:
        return None
    name = refs[-1].name
    calls = [c for c in _nodes_at(fi, d.line, d.column, A.Call) if c.callee is refs[-1]]
    params = _params_for(calls[-1] if calls else None)
    entry = [f"{name}:"]
    if params is not None:
        entry.append("  params: [" + ", ".join(params) + "]")
    else:
        entry = [f"{name}: {{}}"]
    target, config, listed = plugins_file(fi.path, roots)
    section = "functions" if kind == "function" else "classes"
    changes: list = []
    uri = from_fs_path(target)
    if os.path.exists(target):
        try:
            with open(target, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            return None
        if re.search(rf"^\s+{re.escape(name)}:", text, re.MULTILINE):
            return None               # (declared already: the checker was not told)
        where = _yaml_insert(text, section, entry)
        if where is None:
            return None
        line, col, new = where
        changes.append(_text_edit(uri, line, col, new))
    else:
        changes.append(T.CreateFile(uri=uri, options=T.CreateFileOptions(ignore_if_exists=True)))
        changes.append(_text_edit(uri, 0, 0, "# Plugins of the Halon host (docs/plugins.md)\n"
                                  + f"{section}:\n" + "".join("  " + e + "\n" for e in entry)))
    if not listed:
        rel = os.path.relpath(target, os.path.dirname(config) if config else
                              os.path.dirname(target))
        setting = f'plugins = ["{rel}"]\n'
        if config is None:
            config = os.path.join(os.path.dirname(target), ".hslcheck.toml")
            curi = from_fs_path(config)
            changes.append(T.CreateFile(uri=curi,
                                        options=T.CreateFileOptions(ignore_if_exists=True)))
            changes.append(_text_edit(curi, 0, 0, setting))
        else:
            line = 0
            if os.path.basename(config) == "pyproject.toml":
                with open(config, encoding="utf-8") as f:
                    lines = f.read().split("\n")
                line = next((i + 1 for i, s in enumerate(lines)
                             if s.strip() == "[tool.hsl-check]"), None)
                if line is None:
                    return None
            changes.append(_text_edit(from_fs_path(config), line, 0, setting))
    what = "plugin function" if kind == "function" else "plugin class"
    document_changes, create = edits
    creates = any(isinstance(c, T.CreateFile) for c in changes)
    if creates and not (document_changes and create):
        return None                   # (the client cannot create files)
    if document_changes:
        edit = T.WorkspaceEdit(document_changes=changes)
    else:
        edit = T.WorkspaceEdit(changes={c.text_document.uri: list(c.edits) for c in changes})
    return T.CodeAction(title=f"Declare {name} as a {what} in {os.path.basename(target)}",
                        kind=T.CodeActionKind.QuickFix, diagnostics=[diag], edit=edit)


def _text_edit(uri: str, line: int, col: int, text: str) -> T.TextDocumentEdit:
    p = T.Position(line, col)
    return T.TextDocumentEdit(
        text_document=T.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
        edits=[T.TextEdit(range=T.Range(p, p), new_text=text)])


# ------------------------------------------------------------------ the feature

def code_actions(ws, doc, params: T.CodeActionParams, edits: tuple = (True, True)) -> list:
    """The quick fixes for the diagnostics in `params.range`.  `edits`: whether the client
    takes `documentChanges` and whether it can create files in them (its
    workspace.workspaceEdit capabilities)."""
    if params.context.only and not any(
            str(k).startswith(str(T.CodeActionKind.QuickFix)) for k in params.context.only):
        return []
    idx = index_for(ws)
    fi = idx.for_document(doc)
    roots = idx.roots()
    start, _ = _at(doc, params.range.start)
    end, _ = _at(doc, params.range.end)
    out = []
    for d in check_document(fi.path, fi.text, roots, idx.include_paths):
        span = _span_of(d)
        if not _overlaps(span, start - 1, end - 1):
            continue
        diag = _lsp_diag(fi, ws, d, params.context.diagnostics or [])
        for make in (_did_you_mean, _legacy):
            if d.code in ("HSL701", "HSL702") and make is _did_you_mean:
                continue
            action = make(ws, fi, d, diag)
            if action is not None:
                out.append(action)
        # (beside a "did you mean": a name close to a builtin may still be a plugin's)
        if d.code in ("HSL101", "HSL102"):
            action = _declare(ws, fi, d, diag, roots,
                              "function" if d.code == "HSL101" else "class", edits)
            if action is not None:
                out.append(action)
    return out


def register(server) -> None:
    @server.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                    T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
    def _code_actions(ls, params: T.CodeActionParams):
        doc = ls.workspace.get_text_document(params.text_document.uri)
        return code_actions(ls.workspace, doc, params, _edit_support(ls))


def _edit_support(ls) -> tuple:
    """(documentChanges, create) of the client's workspace.workspaceEdit capabilities."""
    caps = getattr(getattr(ls.client_capabilities, "workspace", None), "workspace_edit", None)
    if caps is None:
        return False, False
    ops = caps.resource_operations or []
    return bool(caps.document_changes), T.ResourceOperationKind.Create in ops

