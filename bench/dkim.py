"""DKIM signing and verification of a 100 KB message: hsl.mail.dkim next to dkimpy.

    python bench/dkim.py [--quick]

For each algorithm and canonicalisation, the median time of one sign() and one verify()
call with hsl.mail.dkim, and of dkimpy's sign() and verify() (calls interleaved with
ours) on the same message with
the same key (ed25519 through dkimpy's PyNaCl), in the same run.  Keys are made here;
lookups answer from a dict, so no DNS is timed.  The bar: hsl within 1.5x of dkimpy
(ratios above it are flagged and the exit status is 1).
"""
from __future__ import annotations

import base64
import os
import statistics
import sys
import time

# This file is bench/dkim.py: its folder must not hide dkimpy's package `dkim`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.join(_HERE, ".."))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa  # noqa: E402

from hsl.mail import dkim as D  # noqa: E402

LIMIT = 1.5
SIZE = 100 * 1024


def message() -> bytes:
    line = b"Lorem ipsum dolor sit amet,  consectetur adipiscing elit \t sed do eiusmod\r\n"
    body = line * (SIZE // len(line) + 1)
    return (b"From: Joe <joe@example.com>\r\nTo: Suzie <suzie@example.org>\r\n"
            b"Subject: a 100 KB message\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            b"Message-ID: <bench@example.com>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body[:SIZE])


def median_times(fns, repeat: int) -> list:
    """The median time of each function, calls interleaved (so that a busy moment of the
    machine falls on both sides alike)."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def main(argv) -> int:
    import dkim as dkimpy
    quick = "--quick" in argv
    repeat = 5 if quick else 31
    msg = message()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    rsa_pem = rsa_key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    ed_pem = ed_key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    ed_seed = base64.b64encode(ed_key.private_bytes(serialization.Encoding.Raw,
                                                    serialization.PrivateFormat.Raw,
                                                    serialization.NoEncryption()))
    records = {"rsa._domainkey.example.com": D.public_key_record(rsa_key),
               "ed._domainkey.example.com": D.public_key_record(ed_key)}

    def lookup(name):
        return [records[name]]

    def dnsfunc(name, timeout=5):
        return records[name.decode().rstrip(".")]

    print(f"message: {len(msg)} bytes; median of {repeat} interleaved calls; hsl/dkimpy above "
          f"{LIMIT}x is flagged")
    print(f"{'case':38} {'hsl ms':>8} {'dkimpy ms':>10} {'ratio':>6}")
    worst = 0.0
    for algorithm, selector, ours_key, their_key in (
            (b"rsa-sha256", b"rsa", rsa_pem, rsa_pem), (b"rsa-sha1", b"rsa", rsa_pem, rsa_pem),
            (b"ed25519-sha256", b"ed", ed_pem, ed_seed)):
        for canon in ((b"relaxed", b"relaxed"), (b"simple", b"simple")):
            options = D.SignOptions(algorithm=algorithm, canonicalization_header=canon[0],
                                    canonicalization_body=canon[1])
            field = D.sign(msg, selector, b"example.com", ours_key, options)
            theirs = dkimpy.sign(msg, selector, b"example.com", their_key,
                                 canonicalize=canon, signature_algorithm=algorithm)
            assert D.verify(field + msg, field, lookup)["result"] == "pass"
            assert dkimpy.verify(theirs + msg, dnsfunc=dnsfunc)
            cases = (
                ("sign", lambda: D.sign(msg, selector, b"example.com", ours_key, options),
                 lambda: dkimpy.sign(msg, selector, b"example.com", their_key,
                                     canonicalize=canon, signature_algorithm=algorithm)),
                ("verify", lambda: D.verify(field + msg, field, lookup),
                 lambda: dkimpy.verify(theirs + msg, dnsfunc=dnsfunc)))
            for what, ours_fn, theirs_fn in cases:
                a, b = median_times((ours_fn, theirs_fn), repeat)
                ratio = a / b
                worst = max(worst, ratio)
                name = f"{what} {algorithm.decode()} {canon[0].decode()}/{canon[1].decode()}"
                flag = "  <-- over the bar" if ratio > LIMIT else ""
                print(f"{name:38} {a * 1e3:8.2f} {b * 1e3:10.2f} {ratio:5.2f}x{flag}")
    print(f"worst ratio: {worst:.2f}x (bar {LIMIT}x)")
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
