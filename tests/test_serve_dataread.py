"""Reading DATA in blocks (hsl/serve/dataread.py) gives exactly what the line-by-line reader
it replaced gave, for any input: the same message bytes (dot-unstuffed), the same TOO_BIG
past the size limit, the same None when the input ends early, and the same bytes left for
the commands after the message, however the input is split into reads."""
from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from hsl.hooks.conversation import TOO_BIG
from hsl.serve.dataread import DotParser, read_message

LINE_LIMIT = 1001           # aiosmtpd's StreamReader limit: long lines come in pieces


async def line_reader(reader, limit):
    """The reader hsl serve used before (one readuntil per line), as the reference."""
    parts, size, too_big, line_start = [], 0, False, True
    while True:
        try:
            chunk = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as e:
            chunk = await reader.read(e.consumed)
        except asyncio.IncompleteReadError:
            return None
        if line_start:
            if chunk == b".\r\n":
                break
            if chunk[:1] == b".":
                chunk = chunk[1:]
        line_start = chunk.endswith(b"\r\n")
        if too_big:
            continue
        size += len(chunk)
        if limit and size > limit:
            too_big = True
            parts = []
            continue
        parts.append(chunk)
    return TOO_BIG if too_big else b"".join(parts)


def run(read, pieces, limit):
    """`read`'s result on a StreamReader fed `pieces` one by one (each after the reader
    has taken what came before), and the bytes it left in the reader."""
    async def main():
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        task = asyncio.ensure_future(read(reader, limit))
        for p in pieces:
            await asyncio.sleep(0)
            reader.feed_data(p)
        await asyncio.sleep(0)
        reader.feed_eof()
        got = await task
        return got, await reader.read()
    return asyncio.run(main())


# Inputs rich in what matters: dots at line starts, CR, LF, CRLF, the terminator.
TOKENS = st.sampled_from([b".", b"..", b"\r", b"\n", b"\r\n", b"\r\n.\r\n", b".\r\n",
                          b"a", b"line of text", b"x" * 700, b"QUIT\r\n", b"\x00\xff"])


@st.composite
def streams(draw):
    data = b"".join(draw(st.lists(TOKENS, max_size=40)))
    if draw(st.booleans()):
        data += b"\r\n.\r\n" + draw(st.sampled_from([b"", b"QUIT\r\n", b"RSET\r\nNOOP"]))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    pieces, last = [], 0
    for c in cuts + [len(data)]:
        pieces.append(data[last:c])
        last = c
    return [p for p in pieces if p]


@settings(max_examples=600, deadline=None)
@given(streams(), st.sampled_from([None, 0, 1, 5, 100, 2000]))
def test_blocks_give_what_lines_gave(pieces, limit):
    assert run(read_message, pieces, limit) == run(line_reader, pieces, limit)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.data())
def test_any_bytes_split_anywhere(data, draw):
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=6)))
    pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)]) if data[a:b]]
    assert run(read_message, pieces, None) == run(line_reader, pieces, None)


def test_byte_by_byte():
    data = b".a\r\n..\r\nb\r.\r\n\n.\r\nc\r\n.\r\nNEXT\r\n"
    pieces = [data[i:i + 1] for i in range(len(data))]
    assert run(read_message, pieces, None) == (b"a\r\n.\r\nb\r.\r\n\n.\r\nc\r\n",
                                               b"NEXT\r\n")
    assert run(read_message, pieces, None) == run(line_reader, pieces, None)


def test_the_parser_says_where_the_message_ended():
    p = DotParser()
    assert p.feed(b"Subject: x\r\n\r\nbody\r\n.") is None
    assert p.feed(b"\r\nQUIT\r\n") == 2
    assert p.result() == b"Subject: x\r\n\r\nbody\r\n"
    empty = DotParser()
    assert empty.feed(b".\r\nMAIL") == 3 and empty.result() == b""


def test_past_the_limit_the_rest_is_read_not_kept():
    p = DotParser(10)
    assert p.feed(b"0123456789\r\n" * 3) is None
    assert p.feed(b".\r\n") == 3
    assert p.result() is TOO_BIG and p.parts == []
