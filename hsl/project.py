"""Halon projects (hooks.md §5): the configuration that names which script runs in which
hook of which server, read from a project tree or from a packed `smtpd-app.yaml`.
docs/projects.md describes both forms.

A project tree is a directory laid out as Halon's tooling lays it out:

    src/config/smtpd.yaml          servers[].id and listeners[{address, port}]
    src/config/smtpd-app.yaml      servers[].phases.<phase>.hook, transport, data.maxsize,
                                   transportgroups; scripting.hooks / scripting.files too
    src/hooks/<phase>/<id>.hsl     the hook scripts the phases name
    src/hooks/queue/predelivery.hsl, postdelivery.hsl
    src/files/**                   the file area (include and import paths resolve from it)

The packed form is the one `smtpd-app.yaml` the tooling builds from a tree: the scripts are
in `scripting.hooks.<phase>: [{id, data}]`, `scripting.hooks.predelivery/postdelivery` and
`scripting.files: [{id, data}]` (`binary: true`: data is base64).  Its files and hooks are
written into a private temporary directory laid out as a tree (mode 0700, removed by
Project.close() or at exit), so that include, import and glob data imports resolve in it
exactly as in a tree; Project.shown() names those copies as the configuration's parts
(`dist/smtpd-app.yaml#files/lib.hsl`).

    project = load_project("myproject")         # or load_packed("dist/smtpd-app.yaml")
    hook = project.servers["default"].hooks["eod"]
    program = compile_hook("eod", hook.source, hook.path,
                           include_paths=project.include_paths)

Every problem is a ProjectError whose message starts with FILE:LINE:COL of the YAML node
at fault (or FILE for a file that is missing): a missing configuration, a hook id whose
file does not exist, a value of the wrong type, an unknown phase.  Settings hsl does not
use are ignored; what is doubtful but usable is in Project.warnings.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from typing import Optional

from .hooks.phases import QUEUE_PHASES
from .inputs import read_located
from .syntax.sourcefile import read_source, read_source_text

#: The SMTP phases a server's `phases:` may give a hook, in the order of a session.
HOOK_PHASES = ("connect", "proxy", "helo", "auth", "mailfrom", "rcptto", "eod", "disconnect")
#: The phases of `servers[].phases` that take settings but no hook.
SETTING_PHASES = ("data",)
#: The queue's hooks (the phase table's queue phases): one global pair,
#: src/hooks/queue/<phase>.hsl.
QUEUE_HOOKS = QUEUE_PHASES

_ID = re.compile(r"[^/\\\x00]+\Z")


class ProjectError(Exception):
    """A project that cannot be used; the message starts with FILE:LINE:COL (or FILE)."""


@dataclass
class Hook:
    """One hook script.  `path` is the file to compile (for a packed configuration, its
    copy in the private directory), `filename` the name to report it by, `where` the
    position in the configuration that names it."""
    phase: str
    id: str
    path: str
    source: str
    filename: str
    where: str


@dataclass
class Server:
    """One server id: its listeners (address None: every address), its hooks by phase,
    the rcptto hooks of given recipient domains (lower case), data.maxsize (bytes) and
    the default transport id."""
    id: str
    listeners: list = field(default_factory=list)          # [(address, port)]
    hooks: dict = field(default_factory=dict)              # phase -> Hook
    rcptto_domains: dict = field(default_factory=dict)     # domain -> Hook
    maxsize: Optional[int] = None
    transport: Optional[str] = None


@dataclass
class Project:
    """A loaded project.  `include_paths`: the file area's directories, for the
    compiler's include_paths (files_dir first).  `transportgroups`: the configuration's
    list as written (its shape is checked: ids, retry count and intervals, dsn.transport,
    transports with connection.server/port)."""
    root: str                       # the project directory, or the packed file's
    config: str                     # the smtpd-app.yaml read
    startup: Optional[str]          # the smtpd.yaml read, if any
    packed: bool
    servers: dict = field(default_factory=dict)             # id -> Server
    queue_hooks: dict = field(default_factory=dict)         # predelivery/postdelivery -> Hook
    files_dir: Optional[str] = None
    include_paths: list = field(default_factory=list)
    transportgroups: list = field(default_factory=list)
    queue_grouping: Optional[dict] = None   # queues.grouping, checked (hsl/queue/grouping.py)
    queue_policies: list = field(default_factory=list)  # smtpd-policy.yaml's, checked
    warnings: list = field(default_factory=list)
    _shown: dict = field(default_factory=dict, repr=False)  # private copy -> name to show
    _cleanup: object = field(default=None, repr=False)

    def hooks(self) -> list:
        """Every hook of the project once (a script several servers use is one Hook)."""
        seen: dict = {}
        for server in self.servers.values():
            for hook in list(server.hooks.values()) + list(server.rcptto_domains.values()):
                seen.setdefault((hook.phase, hook.path), hook)
        for hook in self.queue_hooks.values():
            seen.setdefault((hook.phase, hook.path), hook)
        return list(seen.values())

    def area_files(self, suffix: str = ".hsl") -> list:
        """The files of the file area whose names end in `suffix` (sorted paths)."""
        found = []
        for area in self.include_paths:
            for folder, dirs, files in os.walk(area):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(folder, f) for f in sorted(files)
                          if f.endswith(suffix) and not f.startswith(".")]
        return found

    def shown(self, path: str) -> str:
        """The name to report a file by: a packed configuration's copies are named as
        parts of it (`CONFIG#hooks/eod/default.hsl`, `CONFIG#files/ID`); others as they are."""
        return self._shown.get(os.path.abspath(path), path) if self._shown else path

    def close(self) -> None:
        """Remove the private directory of a packed configuration (also done at exit)."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ------------------------------------------------------------------ loading

def load_project(path: str) -> Project:
    """The project of the tree at `path` (the directory that holds src/)."""
    if not os.path.isdir(path):
        raise ProjectError(f"{path}: not a directory (a project has src/config/smtpd-app.yaml)")
    config_dir = os.path.join(path, "src", "config")
    app = os.path.join(config_dir, "smtpd-app.yaml")
    if not os.path.isfile(app):
        raise ProjectError(f"{app}: no such file (a Halon project tree has "
                           "src/config/smtpd-app.yaml)")
    startup = os.path.join(config_dir, "smtpd.yaml")
    files = os.path.join(path, "src", "files")
    project = Project(root=path, config=app, startup=startup if os.path.isfile(startup)
                      else None, packed=False,
                      files_dir=files if os.path.isdir(files) else None)
    if project.files_dir:
        project.include_paths.append(files)
    _Loader(project, os.path.join(path, "src", "hooks")).load()
    return project


def load_packed(path: str, startup: Optional[str] = None) -> Project:
    """The project of a packed `smtpd-app.yaml`; listeners from `startup` (default: the
    smtpd.yaml beside it, if there is one)."""
    if not os.path.isfile(path):
        raise ProjectError(f"{path}: no such file")
    if startup is None:
        beside = os.path.join(os.path.dirname(path), "smtpd.yaml")
        startup = beside if os.path.isfile(beside) else None
    elif not os.path.isfile(startup):
        raise ProjectError(f"{startup}: no such file")
    project = Project(root=os.path.dirname(path) or ".", config=path, startup=startup,
                      packed=True)
    loader = _Loader(project, "")
    try:
        private = loader.private_root()
        loader.hooks_dir = os.path.join(private, "src", "hooks")
        project.files_dir = os.path.join(private, "src", "files")
        project.include_paths.append(project.files_dir)
        os.makedirs(project.files_dir)
        loader.load()
    except BaseException:
        project.close()
        raise
    return project


class _Loader:
    """Reads a project's configuration files into `project`."""

    def __init__(self, project: Project, hooks_dir: str):
        self.project = project
        self.hooks_dir = hooks_dir      # src/hooks of the tree (of the private one, packed)
        self.private: Optional[str] = None     # see private_root
        self.file, self.pos = None, None
        self.wanted: list = []          # (server, phase, id, where, domain) of hooks named

    # -- errors
    def fail(self, where: tuple, message: str, key: bool = False):
        raise ProjectError(f"{self.pos.at(where, key)}: {_label(where)}{message}")

    def warn(self, where: tuple, message: str) -> None:
        self.project.warnings.append(f"{self.pos.at(where)}: {_label(where)}{message}")

    def read(self, path: str, what: str):
        try:
            value, self.pos = read_located(path, what)
        except ValueError as e:
            raise ProjectError(str(e)) from None
        self.file = path
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail((), "must be a mapping of settings")
        return value

    # -- checked values
    def mapping(self, value, where: tuple) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, "must be a mapping")
        return value

    def sequence(self, value, where: tuple) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, "must be a list")
        return value

    def text(self, value, where: tuple) -> str:
        if not isinstance(value, str) or not value:
            self.fail(where, "must be a non-empty string")
        return value

    def number(self, value, where: tuple, lo: int = 0, hi: Optional[int] = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < lo \
                or (hi is not None and value > hi):
            self.fail(where, f"must be a whole number of at least {lo}"
                      + (f" and at most {hi}" if hi is not None else ""))
        return value

    def ident(self, value, where: tuple) -> str:
        """A hook id: one file name of src/hooks/<phase>/."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)          # (`hook: 1` names src/hooks/eod/1.hsl)
        if not isinstance(value, str) or not _ID.match(value) or value in (".", ".."):
            self.fail(where, "must be a hook id (a file name, without / or \\)")
        return value

    # -- the files
    def load(self) -> None:
        p = self.project
        app = self.read(p.config, "configuration")
        scripting = self.scripting(app)
        self.app_servers(app)
        self.transportgroups(app)
        self.queues(app)
        policies = os.path.join(os.path.dirname(p.config), "smtpd-policy.yaml")
        if os.path.isfile(policies):
            app_place = self.file, self.pos     # (errors below name smtpd-app.yaml again)
            self.policies(self.read(policies, "policy configuration"))
            self.file, self.pos = app_place
        self.files(scripting)
        self.attach_hooks(scripting)
        if p.startup is not None:
            self.startup(self.read(p.startup, "configuration"))
        for server in p.servers.values():
            if not server.listeners:
                p.warnings.append(f"{p.config}: server {server.id} has no listeners"
                                  + (f" in {p.startup}" if p.startup else
                                     " (no smtpd.yaml)"))
        if not p.packed:
            self.unused_hooks()

    def startup(self, conf: dict) -> None:
        p = self.project
        for i, spec in enumerate(self.sequence(conf.get("servers"), ("servers",))):
            where = ("servers", i)
            spec = self.mapping(spec, where)
            sid = self.text(spec.get("id"), where + ("id",))
            listeners = []
            for j, item in enumerate(self.sequence(spec.get("listeners"),
                                                   where + ("listeners",))):
                lw = where + ("listeners", j)
                item = self.mapping(item, lw)
                address = item.get("address")
                if address is not None:
                    address = self.text(address, lw + ("address",))
                if "port" not in item:
                    self.fail(lw, "a listener needs a port")
                listeners.append((address, self.number(item["port"], lw + ("port",), 1, 65535)))
            server = p.servers.get(sid)
            if server is None:
                server = p.servers[sid] = Server(sid)
                p.warnings.append(f"{self.pos.at(where + ('id',))}: server {sid} is not in "
                                  f"{p.config}: no hooks")
            server.listeners = listeners

    def app_servers(self, app: dict) -> None:
        p = self.project
        for i, spec in enumerate(self.sequence(app.get("servers"), ("servers",))):
            where = ("servers", i)
            spec = self.mapping(spec, where)
            sid = self.text(spec.get("id"), where + ("id",))
            if sid in p.servers:
                self.fail(where + ("id",), f"server {sid} is already defined")
            server = p.servers[sid] = Server(sid)
            if spec.get("transport") is not None:
                server.transport = self.text(spec["transport"], where + ("transport",))
            phases = self.mapping(spec.get("phases"), where + ("phases",))
            for phase, settings in phases.items():
                pw = where + ("phases", phase)
                if phase not in HOOK_PHASES + SETTING_PHASES:
                    self.fail(pw, f"unknown phase (known: "
                              f"{', '.join(HOOK_PHASES + SETTING_PHASES)})", key=True)
                settings = self.mapping(settings, pw)
                if phase == "data":
                    if settings.get("maxsize") is not None:
                        server.maxsize = self.number(settings["maxsize"], pw + ("maxsize",))
                    continue
                hook = settings.get("hook")
                if hook is None:
                    continue
                hw = pw + ("hook",)
                if phase == "rcptto" and isinstance(hook, dict):
                    if hook.get("id") is not None:
                        self.wanted.append((server, phase, self.ident(hook["id"], hw + ("id",)),
                                            hw + ("id",), None))
                    domains = self.mapping(hook.get("recipientdomains"),
                                           hw + ("recipientdomains",))
                    for domain, hid in domains.items():
                        dw = hw + ("recipientdomains", domain)
                        self.text(domain, dw)
                        self.wanted.append((server, phase, self.ident(hid, dw), dw,
                                            str(domain).lower()))
                else:
                    self.wanted.append((server, phase, self.ident(hook, hw), hw, None))

    def queues(self, app: dict) -> None:
        """queues.grouping: `default` (recipientdomain or remotemx) and `groupings` (id,
        remotemx patterns, remoteip addresses or networks)."""
        where = ("queues", "grouping")
        grouping = self.mapping(self.mapping(app.get("queues"), ("queues",)).get("grouping"),
                                where)
        if not grouping:
            return
        default = grouping.get("default")
        if default is not None and default not in ("recipientdomain", "remotemx"):
            self.fail(where + ("default",), "must be recipientdomain or remotemx")
        for i, group in enumerate(self.sequence(grouping.get("groupings"),
                                                where + ("groupings",))):
            gw = where + ("groupings", i)
            group = self.mapping(group, gw)
            self.text(group.get("id"), gw + ("id",))
            for j, pattern in enumerate(self.sequence(group.get("remotemx"),
                                                      gw + ("remotemx",))):
                self.text(pattern, gw + ("remotemx", j))
            for j, network in enumerate(self.sequence(group.get("remoteip"),
                                                      gw + ("remoteip",))):
                try:
                    ipaddress.ip_network(str(network), strict=False)
                except ValueError:
                    self.fail(gw + ("remoteip", j), "must be an IP address or network")
        self.project.queue_grouping = grouping

    def policies(self, config: dict) -> None:
        """smtpd-policy.yaml: policies[] with fields, conditions[] (if, then) and default;
        limits are concurrency (a whole number), rate ("N/SECONDS"), tag, properties."""
        from .queue.policy import FIELDS     # deferred: the queue only for a project's
        items = self.sequence(config.get("policies"), ("policies",))
        for i, item in enumerate(items):
            where = ("policies", i)
            item = self.mapping(item, where)
            fields = self.sequence(item.get("fields"), where + ("fields",))
            for j, name in enumerate(fields):
                if name not in FIELDS:
                    self.fail(where + ("fields", j), "must be one of " + ", ".join(FIELDS))
            for j, cond in enumerate(self.sequence(item.get("conditions"),
                                                   where + ("conditions",))):
                cw = where + ("conditions", j)
                cond = self.mapping(cond, cw)
                for name, value in self.mapping(cond.get("if"), cw + ("if",)).items():
                    if name not in fields:
                        self.fail(cw + ("if", name), "is not one of the policy's fields",
                                  key=True)
                    for v in value if isinstance(value, list) else [value]:
                        self.text(v if isinstance(v, str) else None, cw + ("if", name))
                self.limits(cond.get("then"), cw + ("then",))
            if item.get("default") is not None:
                self.limits(item["default"], where + ("default",))
        self.project.queue_policies = items

    def limits(self, value, where: tuple) -> None:
        limits = self.mapping(value, where)
        if limits.get("concurrency") is not None:
            self.number(limits["concurrency"], where + ("concurrency",), 1)
        rate = limits.get("rate")
        if rate is not None and not (isinstance(rate, str) and
                                     re.fullmatch(r"\d+(\.\d+)?/\d+(\.\d+)?", rate)
                                     and float(rate.partition("/")[2]) > 0):
            self.fail(where + ("rate",), 'must be "MESSAGES/SECONDS" (as "30/60")')
        if limits.get("tag") is not None:
            self.text(limits["tag"], where + ("tag",))
        self.mapping(limits.get("properties"), where + ("properties",))

    def transportgroups(self, app: dict) -> None:
        groups = self.sequence(app.get("transportgroups"), ("transportgroups",))
        for i, group in enumerate(groups):
            where = ("transportgroups", i)
            group = self.mapping(group, where)
            self.text(group.get("id"), where + ("id",))
            retry = self.mapping(group.get("retry"), where + ("retry",))
            if retry.get("count") is not None:
                self.number(retry["count"], where + ("retry", "count"))
            for j, step in enumerate(self.sequence(retry.get("intervals"),
                                                   where + ("retry", "intervals"))):
                sw = where + ("retry", "intervals", j)
                step = self.mapping(step, sw)
                if "interval" not in step:
                    self.fail(sw, "needs an interval (seconds)")
                self.number(step["interval"], sw + ("interval",))
                if "notify" in step and not isinstance(step["notify"], bool):
                    self.fail(sw + ("notify",), "must be true or false")
            dsn = self.mapping(group.get("dsn"), where + ("dsn",))
            if dsn.get("transport") is not None:
                self.text(dsn["transport"], where + ("dsn", "transport"))
            for j, transport in enumerate(self.sequence(group.get("transports"),
                                                        where + ("transports",))):
                tw = where + ("transports", j)
                transport = self.mapping(transport, tw)
                self.text(transport.get("id"), tw + ("id",))
                conn = self.mapping(transport.get("connection"), tw + ("connection",))
                if conn.get("server") is not None:
                    self.text(conn["server"], tw + ("connection", "server"))
                if conn.get("port") is not None:
                    self.number(conn["port"], tw + ("connection", "port"), 1, 65535)
        self.project.transportgroups = groups

    def scripting(self, app: dict) -> dict:
        """`scripting:` checked: {hooks: {phase: [{id, data}], predelivery: str, ...},
        files: [{id, data [, binary]} or {id, path}]}."""
        scripting = self.mapping(app.get("scripting"), ("scripting",))
        hooks = self.mapping(scripting.get("hooks"), ("scripting", "hooks"))
        for phase, entries in hooks.items():
            where = ("scripting", "hooks", phase)
            if phase in QUEUE_HOOKS:
                if not isinstance(entries, str):
                    self.fail(where, "must be the script (a string)")
                continue
            if phase not in HOOK_PHASES:
                self.fail(where, f"unknown hook phase (known: "
                          f"{', '.join(HOOK_PHASES + QUEUE_HOOKS)})", key=True)
            for i, entry in enumerate(self.sequence(entries, where)):
                entry = self.mapping(entry, where + (i,))
                self.ident(entry.get("id"), where + (i, "id"))
                if not isinstance(entry.get("data"), str):
                    self.fail(where + (i, "data"), "must be the script (a string)")
        return scripting

    # -- the file area
    def files(self, scripting: dict) -> None:
        """scripting.files: written into the packed form's file area, or for a tree into
        a private overlay that the tree's own src/files take precedence over."""
        entries = self.sequence(scripting.get("files"), ("scripting", "files"))
        p = self.project
        for i, entry in enumerate(entries):
            where = ("scripting", "files", i)
            entry = self.mapping(entry, where)
            fid = self.file_id(entry.get("id"), where + ("id",))
            if "data" in entry:
                data = entry["data"]
                if not isinstance(data, str):
                    self.fail(where + ("data",), "must be a string")
                if entry.get("binary") is True:
                    try:     # (a YAML block may wrap the base64 text over lines)
                        content = base64.b64decode("".join(data.split()), validate=True)
                    except (binascii.Error, ValueError):
                        self.fail(where + ("data",), "binary: true, but not valid base64")
                elif entry.get("binary") not in (None, False):
                    self.fail(where + ("binary",), "must be true or false")
                else:
                    content = data.encode("utf-8", "surrogateescape")
            elif "path" in entry:
                content = self.outside_file(self.text(entry["path"], where + ("path",)),
                                            where + ("path",))
                if content is None:
                    continue
            else:
                self.fail(where, "a file needs data: (its content) or path:")
            if not p.packed and p.files_dir and os.path.lexists(os.path.join(p.files_dir, fid)):
                continue                # (src/files/ID replaces the entry, as when packed)
            target = os.path.join(self.area_for_entries(), *fid.split("/"))
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(content)
            except OSError as e:    # ("a" and "a/b" both files, or a full disk)
                self.fail(where + ("id",), f"cannot keep this file: {e.strerror}")
            p._shown[os.path.abspath(target)] = f"{p.config}#files/{fid}"

    def file_id(self, value, where: tuple) -> str:
        """A file area id: a relative path without . or .. parts."""
        if not isinstance(value, str) or not value:
            self.fail(where, "must be the file's id (its path in the file area)")
        parts = value.split("/")
        if value.startswith("/") or "\\" in value or "\x00" in value or \
                any(part in ("", ".", "..") for part in parts):
            self.fail(where, "a file id is a relative path without '.' or '..' parts")
        return value

    def area_for_entries(self) -> str:
        """Where scripting.files entries are written: the packed form's file area, or a
        tree's overlay (searched after its src/files)."""
        p = self.project
        if p.packed:
            return p.files_dir
        overlay = os.path.join(self.private_root(), "src", "files")
        if overlay not in p.include_paths:
            os.makedirs(overlay, exist_ok=True)
            p.include_paths.append(overlay)
        return overlay

    def private_root(self) -> str:
        """The project's private directory (mode 0700), made when first needed and
        removed by Project.close() or at exit."""
        if self.private is None:
            self.private = tempfile.mkdtemp(prefix="hsl-project-")
            self.project._cleanup = weakref.finalize(self.project, shutil.rmtree,
                                                     self.private, True)
        return self.private

    def outside_file(self, path: str, where: tuple) -> Optional[bytes]:
        """The content of a `path:` entry: relative to the configuration's directory, the
        project's or a parent of it (the workspace); None (a warning) when not found."""
        p = self.project
        bases = [os.path.dirname(self.file), p.root]
        d = os.path.abspath(p.root)
        while os.path.dirname(d) != d:
            d = os.path.dirname(d)
            bases.append(d)
        for base in dict.fromkeys(bases):
            candidate = os.path.join(base, path)
            if os.path.isfile(candidate):
                try:
                    return read_source(candidate)
                except OSError as e:
                    self.fail(where, f"cannot read {candidate}: {e.strerror}")
        self.warn(where, f"{path} not found here (a file of the Halon host?): left out")
        return None

    # -- the hooks
    def attach_hooks(self, scripting: dict) -> None:
        p = self.project
        inline = self.mapping(scripting.get("hooks"), ("scripting", "hooks"))
        loaded: dict = {}
        for server, phase, hid, where, domain in self.wanted:
            hook = loaded.get((phase, hid))
            if hook is None:
                hook = loaded[(phase, hid)] = self.hook(phase, hid, where, inline)
            if domain is None:
                server.hooks[phase] = hook
            else:
                server.rcptto_domains[domain] = hook
        for name in QUEUE_HOOKS:
            path = os.path.join(self.hooks_dir, "queue", name + ".hsl")
            if not p.packed and os.path.isfile(path):
                p.queue_hooks[name] = self.hook_file(name, name, path, p.config)
            elif isinstance(inline.get(name), str):
                p.queue_hooks[name] = self.inline_hook(name, name, inline[name], os.path.join(
                    self.hooks_dir, "queue", name + ".hsl"), ("scripting", "hooks", name))

    def hook(self, phase: str, hid: str, where: tuple, inline: dict) -> Hook:
        """The hook `hid` of `phase` that `where` names: src/hooks/<phase>/<id>.hsl of a
        tree, else the configuration's scripting.hooks entry of that id."""
        path = os.path.join(self.hooks_dir, phase, hid + ".hsl")
        if not self.project.packed and os.path.isfile(path):
            return self.hook_file(phase, hid, path, self.pos.at(where))
        for i, entry in enumerate(inline.get(phase) or ()):
            if str(entry.get("id")) == hid:
                return self.inline_hook(phase, hid, entry["data"], path,
                                        ("scripting", "hooks", phase, i, "data"))
        if self.project.packed:
            self.fail(where, f"the {phase} hook {hid} is not in scripting.hooks.{phase}")
        self.fail(where, f"the {phase} hook {hid}: {path} does not exist")

    def hook_file(self, phase: str, hid: str, path: str, where: str) -> Hook:
        try:
            source = read_source_text(path)
        except (OSError, ValueError) as e:
            raise ProjectError(f"{where}: the {phase} hook {hid}: cannot read {path}: "
                               f"{getattr(e, 'strerror', None) or e}") from None
        return Hook(phase, hid, path, source, path, where)

    def inline_hook(self, phase: str, hid: str, source: str, path: str, where: tuple) -> Hook:
        """A hook written in the configuration: kept as a file laid out as in a tree (in
        the private directory), so that its includes resolve as a tree's would."""
        p = self.project
        rel = os.path.join(phase if phase not in QUEUE_HOOKS else "queue", hid + ".hsl")
        target = os.path.join(self.private_root(), "src", "hooks", rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(source)
        shown = f"{p.config}#hooks/{rel.replace(os.sep, '/')}"
        p._shown[os.path.abspath(target)] = shown
        return Hook(phase, hid, target, source, shown, self.pos.at(where))

    def unused_hooks(self) -> None:
        """A tree's hook files that no server names (Halon's tooling leaves them out)."""
        p = self.project
        used = {os.path.abspath(h.path) for h in p.hooks()}
        for phase in HOOK_PHASES:
            folder = os.path.join(self.hooks_dir, phase)
            if not os.path.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                path = os.path.join(folder, name)
                if name.endswith(".hsl") and os.path.abspath(path) not in used:
                    p.warnings.append(f"{path}: no server's phases.{phase}.hook names "
                                      f"{name[:-4]}: not used")
        queue = os.path.join(self.hooks_dir, "queue")
        if os.path.isdir(queue):
            for name in sorted(os.listdir(queue)):
                if name.endswith(".hsl") and name[:-4] not in QUEUE_HOOKS:
                    p.warnings.append(f"{os.path.join(queue, name)}: not a queue hook (the "
                                      f"queue runs {' and '.join(h + '.hsl' for h in QUEUE_HOOKS)}"
                                      "): not used")


def _label(where: tuple) -> str:
    """`servers[0].phases.eod.hook: ` for a path of keys and indexes."""
    out = ""
    for part in where:
        out += f"[{part}]" if type(part) is int else ("." if out else "") + str(part)
    return out + ": " if out else ""
