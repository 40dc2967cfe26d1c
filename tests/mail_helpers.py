"""What the mail class tests share: the classes, calling their methods the way compiled
HSL does, options arrays, and a fixed clock and boundary source."""
from __future__ import annotations

import pytest

from hsl.builtins import CLASSES, load_all
from hsl.mail import source
from hsl.runtime.values import from_python

load_all()
MailMessage = CLASSES["MailMessage"].cls
MIME = CLASSES["MIME"].cls


def msg(data: bytes):
    """MailMessage::String(data)."""
    return MailMessage.hsl_statics["String"][0](data)


def call(obj, name, *args):
    """$obj->name(args), with the arity checked as the compiler does."""
    fn, lo, hi = type(obj).hsl_methods[name]
    assert lo <= len(args) and (hi is None or len(args) <= hi), (name, args)
    return fn(obj, *args)


def opts(**kw):
    return from_python(kw)


def parts(p) -> list:
    return list(call(p, "getParts").values())


@pytest.fixture
def fixed_source():
    """Dates at Tue, 03 Mar 2026 10:00:00 +0000 and seeded boundaries."""
    source.fix(time=1772532000.0, seed="mail-tests")
    yield
    source.fix()
