"""Mail messages for the mail classes (MIME, MailMessage, MIMEPart: hsl/builtins/mime.py).

* parse.py: a message's bytes as a tree of spans (parts, header fields, delimiters);
* headers.py: field names and values, RFC 2047 words, MIME parameters;
* body.py: transfer encodings;
* model.py: a parsed message plus its ordered list of modifications, written out;
* builder.py: new parts and messages (MIME);
* send.py: SMTP submission (send) and the EOD hook's queue;
* source.py: the clock and boundary source that tests can fix;
* dkim.py, arc.py: DKIM signatures and ARC sets, made and checked on a message's bytes.

A message is the bytes it was received as plus an ordered list of modifications
(hooks.md §3): reading never sees the edits, writing applies them.
"""
