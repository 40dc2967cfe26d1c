"""Bounds for builtins whose work or result grows with their input.

A builtin that builds a result from its input computes the result's size (or an upper
bound) before it builds it and announces it: values.reserve_string(nbytes) and
values.reserve_elements(count, extra_bytes) stop the run at its memory budget or at the
string/array caps.  Work that grows with the input and builds nothing large (a digest, a
search) is announced with work(units) (execution.work: about one unit a byte for C-level
work, STEP units an element for Python-level work).  Either, when large, is not started
past the deadline, moves a speculative run (hsl serve's event loop) to a worker first,
and has the clock checked once the builtin returns.

What runs for long inside one builtin looks at the clock as it goes, so that --max-time
stops it mid-way even without a memory budget:

* Python-level loops walk their input in slices (`pieces`, `ranges`, `paced`,
  `paced_map`); long sorts run in merged runs (`sort_paced`);
* long lists become arrays in slices (`list_array`);
* a string whose size is only known as it is made (replacements, decompression, files)
  grows in a `Pieces` buffer, announced as it grows; `expand` maps bytes through a
  table (escaping) that way.

Small inputs skip all this: callers test `len(x) >= ACCOUNT` (or `n >= MANY`, or
`> WORK` for work) inline before calling in, so the common case costs one comparison.
"""
from __future__ import annotations

from ..runtime.execution import WORK, check_deadline, reserve, work
from ..runtime.values import (ACCOUNT, MAX_ARRAY, MAX_STRING, HArray, reserve_elements,
                              reserve_string)

__all__ = ["ACCOUNT", "CHUNK", "MANY", "MAX_ARRAY", "MAX_STRING", "STEP", "WORK", "Pieces",
           "check_deadline", "expand", "list_array", "paced", "paced_map", "pieces",
           "ranges", "reserve_elements", "reserve_string", "sort_paced", "work", "work_on"]

# execution.work() units for one element of Python-level work.
STEP = 50
# Arrays of this many elements or more are announced (reserve_elements() counts about
# 100 bytes an element, so this is about values.ACCOUNT).
MANY = ACCOUNT // 100
# Elements (or bytes) of Python-level work between two looks at the clock: a few ms.
CHUNK = 1 << 14


def work_on(n: int, per: int = STEP) -> None:
    """Announce Python-level work on `n` elements (or bytes), `per` units each."""
    if n * per > WORK:
        work(n * per)


def pieces(seq, size: int = CHUNK):
    """`seq` (a list, or bytes) in slices of `size`, looking at the clock before every
    slice after the first; a short `seq` is returned whole, as the only slice."""
    if len(seq) <= size:
        return (seq,)
    work_on(len(seq))
    return _pieces(seq, size)


def _pieces(seq, size: int):
    for i in range(0, len(seq), size):
        if i:
            check_deadline()
        yield seq[i:i + size]


def ranges(start: int, stop: int, step: int = 1, size: int = CHUNK):
    """range(start, stop, step) in consecutive ranges of at most `size` numbers, looking
    at the clock before every one after the first."""
    r = range(start, stop, step)
    if len(r) <= size:
        return (r,)
    work_on(len(r))
    return _pieces(r, size)


_ENTRY = 72         # bytes of a dict entry with its int key (values.reserve_elements: 100)


def list_array(values: list) -> HArray:
    """HArray.from_list(values) for a list that may be long: the table is filled in
    slices, looking at the clock between them (a dict of tens of millions of entries
    takes seconds to build)."""
    n = len(values)
    if n <= CHUNK:
        return HArray.from_list(values)
    reserve(n * _ENTRY)
    d = {}
    for i in range(0, n, CHUNK):
        if i:
            check_deadline()
        d.update(zip(range(i, i + CHUNK), values[i:i + CHUNK]))
    a = HArray.from_dict_normalized(d)
    a.maxkey = n - 1
    return a


def paced_map(fn, seq) -> list:
    """list(map(fn, seq)), looking at the clock between slices of a long `seq`."""
    out = []
    for part in pieces(seq):
        out.extend(map(fn, part))
    return out


_RUN = 4 * CHUNK


def sort_paced(seq: list, key=None) -> list:
    """sorted(seq, key=key), looking at the clock as it goes: a long list is sorted in
    runs of _RUN items, then the runs are merged pairwise (list.sort merges two sorted
    runs in one linear pass, and stays stable)."""
    if len(seq) <= _RUN:
        return sorted(seq, key=key)
    runs = [sorted(part, key=key) for part in pieces(seq, _RUN)]
    while len(runs) > 1:
        merged = []
        for i in range(0, len(runs) - 1, 2):
            check_deadline()
            run = runs[i] + runs[i + 1]
            run.sort(key=key)
            merged.append(run)
        if len(runs) % 2:
            merged.append(runs[-1])
        runs = merged
    return runs[0]


class Pieces:
    """A string result whose size is only known as it is made (replacing matches,
    decompressing, reading): its pieces (bytes, or memoryviews of an input: not copied
    twice) are appended to one buffer, announced to the run's budgets before they are
    added (reserve(n)) or, for small ones, once WORK bytes of them have come (add()),
    with a look at the clock; past MAX_STRING it is "string too large" at once, not at
    the end.  (One buffer, not a list of pieces: a piece costs its bytes and no more,
    and measuring the run's memory does not walk millions of them.)"""

    __slots__ = ("buf", "announced")

    def __init__(self):
        self.buf = bytearray()
        self.announced = 0

    @property
    def size(self) -> int:
        return len(self.buf)

    def add(self, piece) -> None:
        buf = self.buf
        buf += piece
        if len(buf) - self.announced >= WORK:
            self.reserve(0)

    def extend(self, parts: list) -> None:
        """add() each of `parts`, announced together first."""
        size = sum(map(len, parts))
        if size >= ACCOUNT:
            self.reserve(size)
        buf = self.buf
        for p in parts:
            buf += p
        if len(buf) - self.announced >= WORK:
            self.reserve(0)

    def reserve(self, n: int) -> None:
        """About to add `n` bytes."""
        total = len(self.buf) + n
        if total > MAX_STRING:
            reserve_string(total)               # raises "string too large"
        if total - self.announced >= ACCOUNT:
            reserve(total - self.announced)
            self.announced = total
        check_deadline()

    def join(self) -> bytes:
        """The result (its own copy of the buffer is announced first)."""
        if len(self.buf) >= ACCOUNT:
            reserve_string(len(self.buf))
        return bytes(self.buf)


def expand(string: bytes, table: list) -> bytes:
    """b"".join([table[c] for c in string]) (`table`: a string for each byte value), made
    in slices for a long string: announced as it grows, with a look at the clock."""
    if len(string) < ACCOUNT:
        return b"".join([table[c] for c in string])
    out = Pieces()
    get = table.__getitem__
    for part in pieces(string):
        out.add(b"".join(map(get, part)))
    return out.join()


def paced(iterable):
    """`iterable`, looking at the clock every CHUNK items (for a long Python-level loop
    over something that is not a list)."""
    for i, x in enumerate(iterable):
        if not i % CHUNK and i:
            check_deadline()
        yield x
