"""Every builtin function and class, called from HSL with odd arguments (none, booleans,
NaN, infinities, huge and negative numbers, empty and invalid UTF-8 strings, empty and
nested arrays, functions): it returns a value or raises a clean HSL error, never an
internal error (a Python exception that the builtin did not expect).

No test reaches the network: DNS answers from an empty table (tests/conftest.py) and
sockets refuse to connect."""
from __future__ import annotations

import math
import random
import socket

import pytest

import hsl
from hsl.builtins import CLASSES, FUNCTIONS, load_all
from hsl.runtime.values import HArray, HFunction

load_all()

SEED = 20261125
CALLS_PER_ARITY = 60
# Calls that wait on purpose: they are bounded by the run's time limit instead.
SLOW = {"sleep"}


def _values():
    nested = HArray.from_list([1.0, HArray.from_pairs([(b"k", b"v")]), None])
    return [
        None, True, False, 0.0, -0.0, -1.0, 3.0, 2.5, 1e15, 2.0 ** 53, 1e300, -1e300,
        math.nan, math.inf, -math.inf,
        b"", b"a", b"\xff\xfe\x00", b"-1", b"10.0.0.1", b"2001:db8::1", b"example.com",
        "h\u00e9llo w\u00f6rld \u2603".encode(), b"%s %d %x", b"a,b;c\r\nd",
        HArray(), HArray.from_list([b"x", 2.0]), nested,
        HArray.from_list([float(i) for i in range(50)]),
        HArray.from_pairs([(b"type", b"txt"), (b"timeout", 0.01)]),
        HFunction("cb", lambda *a: True, 0, None),
    ]


VALUES = _values()
# A call draws its arguments from one of these pools: mixing every type mostly exercises
# type checks; one type at a time reaches the code behind them.
POOLS = [VALUES,
         [v for v in VALUES if type(v) is bytes],
         [v for v in VALUES if type(v) is float],
         [v for v in VALUES if type(v) in (bytes, float)],
         [v for v in VALUES if type(v) in (bytes, HArray)]]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def _arities(entry):
    hi = entry.max_args if entry.max_args is not None else entry.min_args + 2
    return range(entry.min_args, min(hi, entry.min_args + 2) + 1)


def _cases():
    for name, entry in sorted(FUNCTIONS.items()):
        if entry.context is not None:          # hook functions (Accept, ...) need a hook
            continue
        yield pytest.param(name, entry, id=name)
    for name, entry in sorted(CLASSES.items()):
        if entry.context is not None:
            continue
        yield pytest.param(name, entry, id=f"class-{name}")


@pytest.mark.parametrize("name,entry", list(_cases()))
def test_odd_arguments_give_values_or_clean_errors(name, entry, capsys):
    rng = random.Random(f"{SEED}:{name}")
    for n in _arities(entry):
        params = ", ".join(f"$a{i}" for i in range(n))
        program = hsl.compile(f"$r = {name}({params});", "<fuzz>",
                              predefined={f"a{i}" for i in range(n)})
        calls = min(CALLS_PER_ARITY, len(VALUES) ** n)
        for pool in (rng.choice(POOLS) for _ in range(calls)):
            args = tuple(rng.choice(pool) for _ in range(n))
            variables = {f"a{i}": v for i, v in enumerate(args)}
            try:
                program.run(variables=variables, output=lambda s: None,
                            max_time=0.05 if name in SLOW else 2.0, max_steps=100_000)
            except hsl.HSLRuntimeError as e:
                assert "internal error" not in e.message, (name, args, e.message)
    capsys.readouterr()          # syslog() and friends may have written to stderr


# ------------------------------------------------------------------- methods

_MAIL = (b"Subject: fuzz\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
         b"Content-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/plain\r\n"
         b"Content-Transfer-Encoding: base64\r\n\r\ndHdv\r\n--b--\r\n")


def _instances() -> dict:
    """HSL source making one instance of each builtin class, with its variables."""
    import certs
    pki = certs.pki()
    return {
        "Map": ('Map("string", "any")', {}),
        "Set": ('Set("number")', {}),
        "Iconv": ('Iconv("UTF-8", "ISO-8859-1//TRANSLIT")', {}),
        "File": ('File::String("line one\\nline two\\n")', {}),
        "Exception": ('Exception("boom")', {}),
        "X509": ("X509::String($pem)", {"pem": certs.to_pem(pki.leaf)}),
        "X509CRL": ("X509CRL::String($pem)", {"pem": certs.to_pem(pki.crl)}),
        "MIME": ('MIME()->addHeader("Subject", "x")->setBody("body")', {}),
        "MailMessage": ("MailMessage::String($mail)", {"mail": _MAIL}),
        "MIMEPart": ("MailMessage::String($mail)->getParts()[1]", {"mail": _MAIL}),
    }


def _method_cases():
    for cls, entry in sorted(CLASSES.items()):
        if entry.context is not None:
            continue
        for method, (_, lo, hi) in sorted(entry.cls.hsl_methods.items()):
            yield pytest.param(cls, method, lo, hi, id=f"{cls}->{method}")


def test_every_class_has_an_instance_for_the_method_fuzz():
    instances = _instances()
    assert set(instances) == {n for n, e in CLASSES.items() if e.context is None}
    for cls, (make, variables) in instances.items():
        out = []
        hsl.compile(f"echo is_object({make});", "<make>", predefined=set(variables)).run(
            variables=variables, output=out.append)
        assert out == ["true"], cls


@pytest.mark.parametrize("cls,method,lo,hi", list(_method_cases()))
def test_methods_with_odd_arguments_give_values_or_clean_errors(cls, method, lo, hi):
    make, variables = _instances()[cls]
    rng = random.Random(f"{SEED}:{cls}->{method}")
    top = hi if hi is not None else lo + 2
    for n in range(lo, min(top, lo + 2) + 1):
        params = ", ".join(f"$a{i}" for i in range(n))
        names = {f"a{i}" for i in range(n)} | set(variables)
        program = hsl.compile(f"$o = {make}; $r = $o->{method}({params}); $r = $o->{method}"
                              f"({params});", "<fuzz>", predefined=names)
        for pool in (rng.choice(POOLS) for _ in range(min(CALLS_PER_ARITY, 40))):
            args = {f"a{i}": rng.choice(pool) for i in range(n)}
            try:
                program.run(variables=dict(variables, **args), output=lambda s: None,
                            max_time=2.0, max_steps=100_000)
            except hsl.HSLRuntimeError as e:
                assert "internal error" not in e.message, (cls, method, args, e.message)
