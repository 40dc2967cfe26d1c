"""Date and time builtins (builtins.md "Date and time"; strftime/strptime directives per
C / POSIX strftime)."""
import calendar
import math
import os
import time

import pytest

from hsl.runtime import execution as EX
from hsl.builtins import FUNCTIONS, load_all
from hsl.errors import ScriptError
from hsl.runtime.values import from_python as P

load_all()
UTC = P({"local": False})
T = 1234567890.0          # Fri Feb 13 23:31:30 UTC 2009 (the well-known Unix time)


def call(name, *args):
    return FUNCTIONS[name].fn(*args)


@pytest.fixture
def tz():
    """Switch the process timezone (POSIX TZ strings need no tz database)."""
    old = os.environ.get("TZ")

    def set_tz(value):
        os.environ["TZ"] = value
        time.tzset()
    yield set_tz
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize("name, args, pos", [
    ("strftime", (1.0,), 1), ("strftime", (b"%Y", b"0x"), 2), ("strftime", (b"%Y", b""), 2),
    ("strftime", (b"%Y", True), 2), ("strftime", (b"%Y", 0.0, b"x"), 3),
    ("strptime", (1.0, b"%Y"), 1), ("strptime", (b"2000", None), 2),
    ("strptime", (b"2000", b"%Y", b"x"), 3), ("strpduration", (90.0,), 1), ("sleep", (b"1",), 1),
])
def test_type_errors(name, args, pos):
    with pytest.raises(ScriptError) as e:
        call(name, *args)
    assert name + "()" in e.value.message and "type" in e.value.message \
        and f"argument {pos}" in e.value.message


def test_strftime_takes_a_numeric_string_as_its_time():
    # metadata holds strings: a receipt time kept there is formatted as it is
    assert call("strftime", b"%Y-%m-%d %H:%M:%S", b"1796219822.8462732", UTC) == \
        b"2026-12-02 13:57:02"
    assert call("strftime", b"%Y", b" 0 ", UTC) == call("strftime", b"%Y", 0.0, UTC)
    assert call("strftime", b"%Y", b"-1e3", UTC) == b"1969"


def test_option_type_error():
    with pytest.raises(ScriptError, match="type"):
        call("strftime", b"%Y", 0.0, P({"local": 0}))


def test_arity():
    a = {n: (FUNCTIONS[n].min_args, FUNCTIONS[n].max_args) for n in
         ["executiontime", "sleep", "strftime", "strptime", "strpduration", "time",
          "timelocal", "uptime"]}
    assert a == {"executiontime": (0, 0), "sleep": (1, 1), "strftime": (1, 3),
                 "strptime": (2, 3), "strpduration": (1, 1), "time": (0, 0),
                 "timelocal": (0, 0), "uptime": (0, 0)}


# ------------------------------------------------------------------ strftime

@pytest.mark.parametrize("fmt, expected", [
    (b"%Y-%m-%d %H:%M:%S", b"2009-02-13 23:31:30"),
    (b"%a %A %b %B %h", b"Fri Friday Feb February Feb"),
    (b"%c", b"Fri Feb 13 23:31:30 2009"),                  # C locale %c
    (b"%D %T %R %F", b"02/13/09 23:31:30 23:31 2009-02-13"),
    (b"%y %C %e %j", b"09 20 13 044"),
    (b"%I %p %l", b"11 PM 11"),
    (b"%u %w", b"5 5"),
    (b"%U %W %V %G %g", b"06 06 07 2009 09"),
    (b"%z %Z", b"+0000 GMT"),
    (b"%%Y %n%t", b"%Y \n\t"),
    (b"", b""),
    (b"no directives", b"no directives"),
    ("é %Y \x00 ü".encode(), "é 2009 \x00 ü".encode()),
])
def test_strftime_vectors_utc(fmt, expected):
    got = call("strftime", fmt, T, UTC)
    if fmt == b"%z %Z":            # glibc names UTC "GMT" for gmtime(); accept "UTC" too
        assert got in (b"+0000 GMT", b"+0000 UTC")
    else:
        assert got == expected


@pytest.mark.parametrize("when, expected", [
    (0.0, b"1970-01-01 00:00:00 Thu"), (-1.0, b"1969-12-31 23:59:59 Wed"),
    (951782400.0, b"2000-02-29 00:00:00 Tue"), (2147483648.0, b"2038-01-19 03:14:08 Tue"),
    (1.9, b"1970-01-01 00:00:01 Thu"), (-0.5, b"1970-01-01 00:00:00 Thu"),
])
def test_strftime_epochs(when, expected):
    assert call("strftime", b"%Y-%m-%d %H:%M:%S %a", when, UTC) == expected


def test_strftime_local_option(tz):
    tz("EST5")
    assert call("strftime", b"%Y-%m-%d %H:%M %z", 0.0) == b"1969-12-31 19:00 -0500"
    assert call("strftime", b"%H", 0.0, P({"local": True})) == b"19"
    assert call("strftime", b"%H", 0.0, UTC) == b"00"
    assert call("strftime", b"%H", 0.0, P({"other": 1})) == b"19"


def test_strftime_default_time_is_now():
    before = time.gmtime(time.time())
    got = call("strftime", b"%Y-%m-%d", None, UTC)
    assert got in (time.strftime("%Y-%m-%d", before).encode(),
                   time.strftime("%Y-%m-%d", time.gmtime()).encode())
    assert len(call("strftime", b"%Y")) == 4


def test_strftime_result_limit():
    assert call("strftime", b"x" * 100, 0.0) == b"x" * 100
    assert call("strftime", b"x" * 101, 0.0) == b""
    assert call("strftime", b"%Y" * 25, 0.0, UTC) == b"1970" * 25
    assert call("strftime", b"%Y" * 26, 0.0, UTC) == b""


def test_strftime_non_finite_time():
    for bad in (math.nan, math.inf):
        with pytest.raises(ScriptError):
            call("strftime", b"%Y", bad)


# ------------------------------------------------------------------ strptime

@pytest.mark.parametrize("text, fmt, expected", [
    (b"2009-02-13 23:31:30", b"%Y-%m-%d %H:%M:%S", T),
    (b"1970-01-01 00:00:00", b"%Y-%m-%d %H:%M:%S", 0.0),
    (b"13/Feb/2009:23:31:30 +0000", b"%d/%b/%Y:%H:%M:%S %z", T),
    (b"13/Feb/2009:23:31:30 +0100", b"%d/%b/%Y:%H:%M:%S %z", T - 3600),
    (b"13/Feb/2009:23:31:30 -0530", b"%d/%b/%Y:%H:%M:%S %z", T + 5 * 3600 + 1800),
    (b"Fri, 13 Feb 2009 23:31:30", b"%a, %d %b %Y %H:%M:%S", T),
    (b"2000-02-29", b"%Y-%m-%d", 951782400.0),
    (b"1969-12-31 23:59:59", b"%Y-%m-%d %H:%M:%S", -1.0),
    (b"2009 044", b"%Y %j", calendar.timegm((2009, 2, 13, 0, 0, 0))),
    (b"12/31/99", b"%m/%d/%y", calendar.timegm((1999, 12, 31, 0, 0, 0))),
    (b"01/01/68", b"%m/%d/%y", calendar.timegm((2068, 1, 1, 0, 0, 0))),   # POSIX: 69-99 -> 19xx
    (b"2009-02-13T11:31:30PM", b"%Y-%m-%dT%I:%M:%S%p", T),
])
def test_strptime_vectors_utc(text, fmt, expected):
    assert call("strptime", text, fmt, UTC) == expected


@pytest.mark.parametrize("text, fmt", [
    (b"not a date", b"%Y-%m-%d"), (b"2009-13-01", b"%Y-%m-%d"), (b"2009-02-30", b"%Y-%m-%d"),
    (b"", b"%Y"), (b"2009-02-13 extra", b"%Y-%m-%d"), (b"25:00", b"%H:%M"),
    ("2009-02-13é".encode(), b"%Y-%m-%d"),
])
def test_strptime_failure_is_none(text, fmt):
    assert call("strptime", text, fmt, UTC) is None


def test_strptime_time_only_defaults_to_today():
    got = call("strptime", b"23:31:30", b"%H:%M:%S", UTC)
    midnight = time.time() // 86400 * 86400
    assert got - midnight in (84690.0, 84690.0 - 86400)


def test_strptime_local_option(tz):
    tz("EST5")
    assert call("strptime", b"1970-01-01 00:00:00", b"%Y-%m-%d %H:%M:%S") == 18000.0
    assert call("strptime", b"1970-01-01 00:00:00", b"%Y-%m-%d %H:%M:%S", UTC) == 0.0
    # an explicit offset in the text wins over the option
    assert call("strptime", b"1970-01-01 00:00:00 +0000", b"%Y-%m-%d %H:%M:%S %z") == 0.0


def test_strptime_roundtrip_strftime():
    for t in (0.0, T, 951782400.0, 4102444800.0):
        s = call("strftime", b"%Y-%m-%d %H:%M:%S", t, UTC)
        assert call("strptime", s, b"%Y-%m-%d %H:%M:%S", UTC) == t


# ------------------------------------------------------------------ strpduration

@pytest.mark.parametrize("text, expected", [
    (b"90s", 90.0), (b"15m", 900.0), (b"2h", 7200.0), (b"1d", 86400.0), (b"1h30m", 5400.0),
    (b"1d2h3m4s", 93784.0), (b"90", 90.0), (b"0", 0.0), (b"0s", 0.0), (b"30m1h", 5400.0),
    (b"", None), (b"abc", None), (b"1x", None), (b"h", None), (b"-5s", None), (b"1.5h", None),
    (b" 5s", None), (b"5s ", None), (b"5S", None), (b"1h30", None),
])
def test_strpduration(text, expected):
    r = call("strpduration", text)
    assert r == expected and type(r) is type(expected)


# ------------------------------------------------------------------ clocks

def test_time_and_timelocal(tz):
    t = call("time")
    assert type(t) is float and abs(t - time.time()) < 1.0
    tz("EST5")
    assert abs(call("timelocal") - (time.time() - 18000)) < 1.0
    tz("UTC0")
    assert abs(call("timelocal") - time.time()) < 1.0


def test_uptime_monotonic():
    a = call("uptime")
    b = call("uptime")
    assert type(a) is float and 0 <= a <= b


def test_executiontime_inside_execution():
    class Ex:
        started = time.monotonic() - 5.0
        deadline = None
        speculative = False
    old = EX.current()
    EX._current.execution = Ex()
    try:
        assert 5.0 <= call("executiontime") < 6.0
    finally:
        EX._current.execution = old
    assert call("executiontime") >= 0.0


def test_sleep():
    t0 = time.monotonic()
    r = call("sleep", 0.05)
    assert type(r) is float and r >= 0.05 and time.monotonic() - t0 >= 0.05
    assert call("sleep", 0.0) == 0.0 and call("sleep", -1.0) == 0.0
    assert call("sleep", math.nan) == 0.0


def test_sleep_respects_deadline():
    class Ex:
        started = time.monotonic()
        deadline = time.monotonic() + 0.1
        speculative = False
    old = EX.current()
    EX._current.execution = Ex()
    t0 = time.monotonic()
    try:
        with pytest.raises(EX.LimitExceeded):
            call("sleep", 30.0)
    finally:
        EX._current.execution = old
    assert 0.05 <= time.monotonic() - t0 < 2.0


def test_sleep_deadline_through_program():
    import hsl
    prog = hsl.compile("echo 1; $x = sleep(30); echo 2;")
    out = []
    t0 = time.monotonic()
    with pytest.raises(hsl.HSLRuntimeError, match="time limit"):
        prog.run(output=out.append, max_time=0.2)
    assert out == ["1"] and time.monotonic() - t0 < 5.0
