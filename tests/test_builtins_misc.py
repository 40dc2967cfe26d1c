"""System and logging builtins: gethostname, syslog (Python logging / stderr), FFIFunction."""
import logging
import socket

import pytest

from hsl.builtins import FUNCTIONS, load_all
from hsl.errors import ScriptError

load_all()


def F(name, *args):
    return FUNCTIONS[name].fn(*args)


def test_gethostname():
    h = F("gethostname")
    assert type(h) is bytes and h == socket.gethostname().encode()
    assert FUNCTIONS["gethostname"].max_args == 0


@pytest.mark.parametrize("prio,level,number", [
    (b"emerg", logging.CRITICAL, 0), (b"alert", logging.CRITICAL, 1),
    (b"crit", logging.CRITICAL, 2), (b"err", logging.ERROR, 3),
    (b"warning", logging.WARNING, 4), (b"notice", logging.INFO, 5),
    (b"info", logging.INFO, 6), (b"debug", logging.DEBUG, 7),
    (b"INFO", logging.INFO, 6),
    (3.0, logging.ERROR, 3), (7.0, logging.DEBUG, 7),
    (3.0 + (4 << 3), logging.ERROR, 3),          # facility bits added (auth)
])
def test_syslog_logging(caplog, prio, level, number):
    with caplog.at_level(logging.DEBUG, logger="hsl.syslog"):
        assert F("syslog", prio, b"hello \xc3\xa4") is None
    rec = caplog.records[-1]
    assert rec.name == "hsl.syslog" and rec.levelno == level
    assert rec.getMessage() == "hello ä"
    assert rec.syslog_priority == number


def test_syslog_facility(caplog):
    with caplog.at_level(logging.DEBUG, logger="hsl.syslog"):
        F("syslog", 3.0 + (4 << 3), b"x")
    assert caplog.records[-1].syslog_facility == 4


def test_syslog_stderr_without_handlers(capsys, monkeypatch):
    from hsl.builtins import misc
    monkeypatch.setattr(misc._logger, "hasHandlers", lambda: False)
    F("syslog", b"warning", b"disk low")
    assert capsys.readouterr().err == "syslog[warning]: disk low\n"


def test_syslog_errors():
    with pytest.raises(ScriptError, match="priority"):
        F("syslog", b"loud", b"x")
    with pytest.raises(ScriptError, match="type"):
        F("syslog", b"info", 1.0)
    with pytest.raises(ScriptError, match="type"):
        F("syslog", None, b"x")
    with pytest.raises(ScriptError):
        F("syslog", -1.0, b"x")


def test_ffifunction_unavailable():
    with pytest.raises(ScriptError, match="not available"):
        F("FFIFunction")
