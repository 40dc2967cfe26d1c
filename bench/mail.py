#!/usr/bin/env python3
"""The mail classes next to Python's `email` package, in the same run.

    python bench/mail.py [--quick]

Two messages: a 100 KB newsletter (multipart/alternative, quoted-printable text and HTML,
a small image) and a 10 MB message (text plus a base64 attachment).  For each:

* "edit": parse, read the Subject, add a field on top, write the message out;
  hsl: MailMessage::String, getHeader, addHeader, toString (called the way compiled HSL
  calls them); email: message_from_bytes (compat32, its fastest policy), msg["Subject"],
  a field inserted on top, as_bytes();
* "walk": parse and decode every part's body (hsl: getParts recursively and getBody;
  email: walk() and get_payload(decode=True)), which makes hsl read the whole tree too.

Each figure is the best of several runs, in milliseconds; the ratio is email / hsl (above
1: hsl is faster).  The DKIM figures belong to bench/dkim.py.
"""
from __future__ import annotations

import argparse
import base64
import email
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hsl.builtins import CLASSES, load_all  # noqa: E402

load_all()
MailMessage = CLASSES["MailMessage"].cls
STRING = MailMessage.hsl_statics["String"][0]
METHODS = MailMessage.hsl_methods


def _qp_lines(text: str, n: int) -> bytes:
    line = text.encode() + b"=\r\n"
    return line * n


def newsletter(size: int) -> bytes:
    head = (b"From: \"Example Shop\" <news@shop.example>\r\nTo: customer@example.net\r\n"
            b"Subject: =?utf-8?Q?Spring_sale_=E2=80=94_up_to_50=25_off?=\r\n"
            b"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <1@shop.example>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"==b==\"\r\n"
            b"\r\n")
    image = base64.encodebytes(bytes(range(256)) * 40).replace(b"\n", b"\r\n")
    text_part = (b"--==b==\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
    html_part = (b"--==b==\r\nContent-Type: text/html; charset=utf-8\r\n"
                 b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
    img_part = (b"--==b==\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" + image)
    fill = size - len(head) - len(image) - 400
    lines = fill // 2 // 76
    body = (text_part + _qp_lines("Spring sale =E2=80=94 everything up to 50% off unti"
                                  "l Sunday, visit the shop", lines)
            + b"\r\n" + html_part
            + _qp_lines("<td style=3D\"padding:4px\">Spring sale =E2=80=94 50% off</td>",
                        lines) + b"\r\n" + img_part + b"--==b==--\r\n")
    return head + body


def big(size: int) -> bytes:
    att = base64.encodebytes(os.urandom(size * 3 // 4 - 2000)).replace(b"\n", b"\r\n")
    return (b"From: a@example.org\r\nTo: b@example.net\r\nSubject: the figures\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XXXX\"\r\n\r\n"
            b"--XXXX\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n--XXXX\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            b"filename=\"figures.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + att
            + b"\r\n--XXXX--\r\n")


def hsl_edit(data: bytes) -> bytes:
    m = STRING(data)
    METHODS["getHeader"][0](m, b"subject")
    METHODS["addHeader"][0](m, b"X-Bench", b"1")
    return METHODS["toString"][0](m)


def email_edit(data: bytes) -> bytes:
    m = email.message_from_bytes(data)
    m["Subject"]
    m._headers.insert(0, ("X-Bench", "1"))       # on top, as addHeader does
    return m.as_bytes()


def hsl_walk(data: bytes) -> int:
    total = 0
    stack = [STRING(data)]
    while stack:
        p = stack.pop()
        kids = METHODS["getParts"][0](p).values()
        if not kids:
            total += len(METHODS["getBody"][0](p))
        stack += kids
    return total


def email_walk(data: bytes) -> int:
    total = 0
    for part in email.message_from_bytes(data).walk():
        if not part.is_multipart():
            total += len(part.get_payload(decode=True))
    return total


def best(fn, data, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - t)
    return min(times) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    args = ap.parse_args()
    messages = [("100 KB", newsletter(100 * 1024)), ("10 MB", big(10 * 1024 * 1024))]
    slower = False
    print(f"{'message':>8} {'task':>5} {'hsl ms':>9} {'email ms':>9} {'email/hsl':>9}")
    for label, data in messages:
        repeat = (3 if args.quick else 7) if len(data) > 1 << 20 else (20 if args.quick
                                                                     else 100)
        assert hsl_edit(data).startswith(b"X-Bench: 1\r\n")
        assert hsl_walk(data) == email_walk(data)
        for task, ours, theirs in (("edit", hsl_edit, email_edit),
                                   ("walk", hsl_walk, email_walk)):
            a, b = best(ours, data, repeat), best(theirs, data, repeat)
            slower |= a > b
            print(f"{label:>8} {task:>5} {a:9.2f} {b:9.2f} {b / a:8.1f}x")
    if slower:
        print("hsl is slower than email somewhere: see above")
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
