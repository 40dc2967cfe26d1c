"""A corpus of messages for the mail class tests: RFC 5322 and RFC 2045-2049 constructs,
real-looking newsletters and notifications, S/MIME and PGP/MIME layouts, reports, and
broken messages.  Written with LF and turned into CRLF unless the name says otherwise.

CORPUS: name -> (bytes, expected) where `expected` describes the tree as
(type, [children]) nested tuples, and optionally the errors: see tests/test_mail_parse.py.
"""
from __future__ import annotations

import base64
import textwrap


def crlf(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").replace("\n", "\r\n").encode("utf-8")


def lf(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode("utf-8")


PDF_DATA = b"%PDF-1.4\n" + bytes(range(256)) * 8
PNG_DATA = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
PDF = base64.encodebytes(PDF_DATA).replace(b"\n", b"\r\n")
PNG = base64.encodebytes(PNG_DATA).replace(b"\n", b"\r\n")

SIMPLE = crlf("""
    Return-Path: <alice@example.org>
    Received: from mail.example.org (mail.example.org [192.0.2.10])
    \tby mx.example.net with ESMTPS id 4Xy2; Tue, 03 Mar 2026 10:00:01 +0000
    From: Alice Example <alice@example.org>
    To: Bob <bob@example.net>, "Carol, C." <carol@example.net>
    Cc: undisclosed-recipients:;
    Subject: Lunch on
     Thursday?
    Date: Tue, 03 Mar 2026 10:00:00 +0000
    Message-ID: <20260303100000.1234@example.org>
    MIME-Version: 1.0 (produced by hand)
    Content-Type: text/plain; charset="us-ascii"; format=flowed

    Hi Bob,

    shall we have lunch on Thursday?
    .
    .. a line with dots
    -- 
    Alice
    """)

OBSOLETE = crlf("""
    From : John Doe <jdoe@machine(comment).  example>
    To    : "Mary Smith: Personal Account" <smith@home.example >
    Subject: Saying Hello (RFC 5322 A.6.3)
    Date: Fri, 21 Nov 97 09:55:06 GMT
    Message-ID: <1234   @   local(blah)  .machine .example>
    X-Empty:
    X-Spaces:    \t  spaced value   \t

    This is a message just to say hello.
    """)

ENCODED_WORDS = crlf("""
    From: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@example.dk>
    To: =?US-ASCII?Q?Keith_Moore?= <moore@example.edu>
    Cc: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@example.be>
    Subject: =?utf-8?B?w4Bww6luw6l0aWY=?= =?utf-8?Q?_=C3=A0_l'?=
     =?utf-8?B?5pel5pys?= plain
    X-Split: =?utf-8?B?5pc=?= =?utf-8?B?peacrA==?=
    X-Broken: =?nosuchcharset?Q?x?= and =?utf-8?B?@@@?=
    Content-Type: text/plain; charset=utf-8

    body
    """)

EIGHT_BIT_HEADERS = ("Subject: Grüße aus Köln\r\n"
                     "From: Jörg <joerg@example.de>\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "\r\n"
                     "Grüße\r\n").encode("utf-8")

LATIN1_HEADERS = ("Subject: Grüße aus Köln\r\n"
                  "Content-Type: text/plain; charset=iso-8859-1\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n"
                  "\r\n"
                  "Grüße\r\n").encode("latin-1")

NEWSLETTER = crlf("""
    From: "Example Shop" <news@shop.example>
    To: customer@example.net
    Subject: =?utf-8?Q?Spring_sale_=E2=80=94_up_to_50=25_off?=
    List-Unsubscribe: <https://shop.example/u/123>, <mailto:unsub@shop.example?subject=123>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click
    List-Id: Example Shop News <news.shop.example>
    Feedback-ID: 123:spring:shop
    DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example; s=s1;
    \th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
    \tb=dGVzdA==
    MIME-Version: 1.0
    Content-Type: multipart/alternative;
     boundary="----=_Part_123_456.789"

    This is a multi-part message in MIME format.

    ------=_Part_123_456.789
    Content-Type: text/plain; charset=utf-8
    Content-Transfer-Encoding: quoted-printable

    Spring sale =E2=80=94 everything up to 50% off until Sunday. Visit https://s=
    hop.example/sale?utm_source=3Dnewsletter&utm_medium=3Demail to see it.

    ------=_Part_123_456.789
    Content-Type: text/html; charset=utf-8
    Content-Transfer-Encoding: quoted-printable

    <!DOCTYPE html><html><head><meta charset=3D"utf-8"></head><body style=3D"=
    margin:0"><table width=3D"100%"><tr><td><h1>Spring sale =E2=80=94 up to 5=
    0% off</h1><img src=3D"https://shop.example/t.gif?u=3D123" width=3D"1" he=
    ight=3D"1"></td></tr></table></body></html>
    ------=_Part_123_456.789--

    """)

ATTACHMENTS = crlf("""
    From: bob@example.net
    To: alice@example.org
    Subject: Documents
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary=outer

    --outer
    Content-Type: multipart/alternative; boundary="inner"

    --inner
    Content-Type: text/plain; charset=utf-8
    Content-Transfer-Encoding: 8bit

    Hello Alice, here are the documents. Grüße!
    --inner
    Content-Type: multipart/related; boundary="rel"; type="text/html"

    --rel
    Content-Type: text/html; charset=utf-8

    <p>Hello <img src="cid:logo@example.net"></p>
    --rel
    Content-Type: image/png
    Content-ID: <logo@example.net>
    Content-Disposition: inline; filename="logo.png"
    Content-Transfer-Encoding: base64

    @PNG@--rel--
    --inner--

    --outer
    Content-Type: application/pdf; name="report.pdf"
    Content-Disposition: attachment; filename="report.pdf"
    Content-Transfer-Encoding: base64

    @PDF@
    --outer
    Content-Type: application/octet-stream
    Content-Disposition: attachment;
     filename*0*=utf-8''%E2%82%AC%20rates;
     filename*1=" 2026.xlsx"
    Content-Transfer-Encoding: base64

    AAEC
    --outer
    Content-Type: text/plain; name="=?utf-8?B?w6l0w6kudHh0?="
    Content-Transfer-Encoding: quoted-printable

    caf=C3=A9
    --outer--
    """).replace(b"@PNG@", PNG).replace(b"@PDF@", PDF)

FORWARD = crlf("""
    From: carol@example.net
    To: dave@example.com
    Subject: Fwd: Lunch on Thursday?
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="fwd"

    --fwd
    Content-Type: text/plain

    See below.
    --fwd
    Content-Type: message/rfc822

    From: Alice Example <alice@example.org>
    To: Bob <bob@example.net>
    Subject: Lunch on Thursday?
    Content-Type: multipart/mixed; boundary="notparsed"

    --notparsed
    Content-Type: text/plain

    shall we?
    --notparsed--
    --fwd--
    """)

DIGEST = crlf("""
    From: list@example.org
    Subject: Digest
    MIME-Version: 1.0
    Content-Type: multipart/digest; boundary="d"

    --d

    From: a@example.org
    Subject: one

    first
    --d
    Content-Type: text/plain

    not a message
    --d--
    """)

SMIME_SIGNED = crlf("""
    From: signer@example.org
    To: r@example.net
    Subject: signed
    MIME-Version: 1.0
    Content-Type: multipart/signed; protocol="application/pkcs7-signature";
     micalg=sha-256; boundary="----7A2F"

    This is an S/MIME signed message

    ------7A2F
    Content-Type: text/plain; charset=us-ascii

    Signed text.
    ------7A2F
    Content-Type: application/pkcs7-signature; name="smime.p7s"
    Content-Transfer-Encoding: base64
    Content-Disposition: attachment; filename="smime.p7s"

    MIIBxAYJKoZIhvcNAQcCoIIBtTCCAbECAQExDzANBglghkgBZQMEAgEFADALBgkq
    hkiG9w0BBwExggGMMIIBiAIBATA=

    ------7A2F--

    """)

SMIME_ENVELOPED = crlf("""
    From: a@example.org
    To: b@example.net
    Subject: secret
    MIME-Version: 1.0
    Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"
    Content-Disposition: attachment; filename="smime.p7m"
    Content-Transfer-Encoding: base64

    MIAGCSqGSIb3DQEHA6CAMIACAQAxggFAMIIBPAIBADAkMBcxFTATBgNVBAMMDGV4
    YW1wbGUub3JnAgkA
    """)

PGP_SIGNED = crlf("""
    From: pgp@example.org
    Subject: pgp signed
    MIME-Version: 1.0
    Content-Type: multipart/signed; micalg=pgp-sha256;
     protocol="application/pgp-signature"; boundary="sig"

    --sig
    Content-Type: text/plain; charset=utf-8
    Content-Transfer-Encoding: quoted-printable

    Signed with PGP.
    --sig
    Content-Type: application/pgp-signature; name="signature.asc"
    Content-Description: OpenPGP digital signature

    -----BEGIN PGP SIGNATURE-----

    iHUEARYIAB0WIQQ=
    =abcd
    -----END PGP SIGNATURE-----

    --sig--
    """)

PGP_ENCRYPTED = crlf("""
    From: pgp@example.org
    Subject: ...
    MIME-Version: 1.0
    Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";
     boundary="enc"

    This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)
    --enc
    Content-Type: application/pgp-encrypted
    Content-Description: PGP/MIME version identification

    Version: 1

    --enc
    Content-Type: application/octet-stream; name="encrypted.asc"
    Content-Description: OpenPGP encrypted message
    Content-Disposition: inline; filename="encrypted.asc"

    -----BEGIN PGP MESSAGE-----

    hF4DAAAAAAAAAAASAQdA
    =xyz1
    -----END PGP MESSAGE-----

    --enc--
    """)

DSN = crlf("""
    From: MAILER-DAEMON@mx.example.net
    To: alice@example.org
    Subject: Undelivered Mail Returned to Sender
    Auto-Submitted: auto-replied
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status;
    \tboundary="DSN.1"

    --DSN.1
    Content-Description: Notification
    Content-Type: text/plain; charset=us-ascii

    Your message could not be delivered.

    --DSN.1
    Content-Description: Delivery report
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mx.example.net
    Arrival-Date: Tue,  3 Mar 2026 10:00:02 +0000 (UTC)

    Final-Recipient: rfc822; nobody@example.net
    Action: failed
    Status: 5.1.1
    Diagnostic-Code: smtp; 550 5.1.1 no such user

    --DSN.1
    Content-Description: Undelivered Message Headers
    Content-Type: text/rfc822-headers

    From: alice@example.org
    To: nobody@example.net
    Subject: hello

    --DSN.1--
    """)

ARF = crlf("""
    From: abuse@isp.example
    To: abuse@shop.example
    Subject: FW: Spring sale
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=feedback-report;
         boundary="part1_13d.2e68ed54_boundary"

    --part1_13d.2e68ed54_boundary
    Content-Type: text/plain; charset="US-ASCII"
    Content-Transfer-Encoding: 7bit

    This is an email abuse report for an email message received from IP
    192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.

    --part1_13d.2e68ed54_boundary
    Content-Type: message/feedback-report

    Feedback-Type: abuse
    User-Agent: SomeGenerator/1.0
    Version: 1
    Original-Mail-From: <news@shop.example>
    Source-IP: 192.0.2.1

    --part1_13d.2e68ed54_boundary
    Content-Type: message/rfc822
    Content-Disposition: inline

    From: <news@shop.example>
    Subject: Spring sale

    Buy now
    --part1_13d.2e68ed54_boundary--
    """)

BINARY = (b"From: a@example.org\r\nContent-Type: application/octet-stream\r\n"
          b"Content-Transfer-Encoding: binary\r\n\r\n" + bytes(range(256)) * 4
          + b"\r\n\x00\r\r\n\n")

LF_MULTIPART = lf("""
    From: a@example.org
    Subject: LF only
    Content-Type: multipart/mixed; boundary=lf

    preamble line
    --lf
    Content-Type: text/plain

    one
    --lf
    Content-Type: text/plain

    two
    --lf--
    epilogue line
    """)

MIXED_ENDINGS = (b"From: a@example.org\nSubject: mixed\r\n"
                 b"Content-Type: multipart/mixed; boundary=\"m\"\n\r\n"
                 b"--m\r\nContent-Type: text/plain\n\nlf part\r\n--m\n\r\ncrlf part\n"
                 b"--m--\r\n")

# -- broken messages ---------------------------------------------------------------------

UNCLOSED = crlf("""
    From: a@example.org
    Content-Type: multipart/mixed; boundary="u"

    --u
    Content-Type: text/plain

    the close delimiter never comes
    """)

NO_DELIMITER = crlf("""
    Content-Type: multipart/alternative; boundary="never"

    just text
    """)

NO_BOUNDARY_PARAM = crlf("""
    Content-Type: multipart/mixed

    --x
    text
    --x--
    """)

BAD_HEADERS = crlf("""
    From: a@example.org
    this line is not a header
    Subject: still read
    \x01bad: name
    continued without a field

    body
    """)

NO_BLANK_LINE = b"From: a@example.org\r\nSubject: only headers"
HEADERS_ONLY = b"From: a@example.org\r\nSubject: x\r\n"
EMPTY = b""
BODY_ONLY = b"This is not a message at all.\r\nJust some text.\r\n"
MBOX_FROM = b"From alice@example.org Tue Mar  3 10:00:00 2026\nFrom: alice@example.org\n\nhi\n"
NO_HEADERS = b"\r\nbody after an empty line\r\n"

CLOSE_AT_EOF = (b"Content-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\n"
                b"Content-Type: text/plain\r\n\r\nx\r\n--e--")

NESTED_SAME_BOUNDARY = crlf("""
    Content-Type: multipart/mixed; boundary="same"

    --same
    Content-Type: multipart/alternative; boundary="same"

    --same
    inner?
    --same--
    """)

LOOKALIKE_DELIMITERS = crlf("""
    Content-Type: multipart/mixed; boundary="b"

    --b
    Content-Type: text/plain

    --bb is not a delimiter, nor is --b-x, and -- b is text
     --b is indented text
    --b \t
    Content-Type: text/plain

    after a padded delimiter
    --b--  \t
    epilogue
    --b
    after the end: still epilogue
    """)

LONG_LINE = b"Subject: " + b"x" * 100_000 + b"\r\n\r\n" + b"y" * 200_000 + b"\r\n"


CORPUS = {
    "simple": (SIMPLE, ("text/plain", [])),
    "obsolete": (OBSOLETE, ("text/plain", [])),
    "encoded_words": (ENCODED_WORDS, ("text/plain", [])),
    "8bit_headers": (EIGHT_BIT_HEADERS, ("text/plain", [])),
    "latin1_headers": (LATIN1_HEADERS, ("text/plain", [])),
    "newsletter": (NEWSLETTER, ("multipart/alternative", [("text/plain", []),
                                                          ("text/html", [])])),
    "attachments": (ATTACHMENTS, ("multipart/mixed", [
        ("multipart/alternative", [("text/plain", []),
                                   ("multipart/related", [("text/html", []),
                                                          ("image/png", [])])]),
        ("application/pdf", []), ("application/octet-stream", []), ("text/plain", [])])),
    "forward": (FORWARD, ("multipart/mixed", [("text/plain", []), ("message/rfc822", [])])),
    "digest": (DIGEST, ("multipart/digest", [("message/rfc822", []), ("text/plain", [])])),
    "smime_signed": (SMIME_SIGNED, ("multipart/signed", [
        ("text/plain", []), ("application/pkcs7-signature", [])])),
    "smime_enveloped": (SMIME_ENVELOPED, ("application/pkcs7-mime", [])),
    "pgp_signed": (PGP_SIGNED, ("multipart/signed", [("text/plain", []),
                                                     ("application/pgp-signature", [])])),
    "pgp_encrypted": (PGP_ENCRYPTED, ("multipart/encrypted", [
        ("application/pgp-encrypted", []), ("application/octet-stream", [])])),
    "dsn": (DSN, ("multipart/report", [("text/plain", []), ("message/delivery-status", []),
                                       ("text/rfc822-headers", [])])),
    "arf": (ARF, ("multipart/report", [("text/plain", []), ("message/feedback-report", []),
                                       ("message/rfc822", [])])),
    "binary": (BINARY, ("application/octet-stream", [])),
    "lf_multipart": (LF_MULTIPART, ("multipart/mixed", [("text/plain", []),
                                                        ("text/plain", [])])),
    "mixed_endings": (MIXED_ENDINGS, ("multipart/mixed", [("text/plain", []),
                                                          ("text/plain", [])])),
    "unclosed": (UNCLOSED, ("multipart/mixed", [("text/plain", [])]), ["unclosed_boundary"]),
    "no_delimiter": (NO_DELIMITER, ("multipart/alternative", []), ["unclosed_boundary"]),
    "no_boundary_param": (NO_BOUNDARY_PARAM, ("multipart/mixed", [])),
    "bad_headers": (BAD_HEADERS, ("text/plain", []), ["bad_header"]),
    "no_blank_line": (NO_BLANK_LINE, ("text/plain", [])),
    "headers_only": (HEADERS_ONLY, ("text/plain", [])),
    "empty": (EMPTY, ("text/plain", [])),
    "body_only": (BODY_ONLY, ("text/plain", []), ["bad_header"]),
    "mbox_from": (MBOX_FROM, ("text/plain", []), ["bad_header"]),
    "no_headers": (NO_HEADERS, ("text/plain", [])),
    "close_at_eof": (CLOSE_AT_EOF, ("multipart/mixed", [("text/plain", [])])),
    # The inner multipart ends at the outer's next delimiter (its body is empty), so the
    # inner "--same" line is the outer's: the text after it is a part without headers.
    "nested_same_boundary": (NESTED_SAME_BOUNDARY, ("multipart/mixed", [
        ("multipart/alternative", []), ("text/plain", [])]),
        ["unclosed_boundary", "bad_header"]),
    "lookalike_delimiters": (LOOKALIKE_DELIMITERS, ("multipart/mixed", [
        ("text/plain", []), ("text/plain", [])])),
    "long_line": (LONG_LINE, ("text/plain", [])),
}
