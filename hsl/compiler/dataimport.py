"""Loaders for data imports (`import $var from "file.json"`): the file's content becomes a
read-only value shared by every execution (a script may assign the variable: each
execution starts from the imported value again)."""
from __future__ import annotations

import os

from ..runtime import values as V
from ..builtins import FUNCTIONS, load_all
from ..errors import ScriptError
from ..syntax.sourcefile import read_source


def _option(options, name, default):
    if options is None or type(options) is not V.HArray:
        return default
    value = options.get(name.encode())
    return default if value is None else value


def load_data(path: str, spec: str, options):
    loader = None
    if "!" in spec.split("/")[0]:
        loader = spec.split("!", 1)[0]
    ext = loader or os.path.splitext(path)[1].lstrip(".").lower()
    try:
        data = read_source(path)
    except OSError as e:
        raise ScriptError(e.strerror or str(e)) from None
    if ext == "txt":
        if _option(options, "array", False):
            lines = data.split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            return V.HArray.from_list([line[:-1] if line.endswith(b"\r") else line
                                       for line in lines])
        return data
    if ext == "json":
        data = strip_json_comments(data)
        load_all()
        decode = FUNCTIONS.get("json_decode")
        if decode is not None:
            value = decode.fn(data)
        else:
            import json
            try:
                value = V.from_python(json.loads(data.decode("utf-8")))
            except ValueError:
                value = None
        if value is None and data.strip() not in (b"null",):
            raise ScriptError("invalid JSON")
        return value
    if ext in ("yaml", "yml"):
        import yaml
        try:
            return V.from_python(yaml.safe_load(data.decode("utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ScriptError(f"invalid YAML: {e}") from None
    if ext == "csv":
        load_all()
        decode = FUNCTIONS.get("csv_decode")
        if decode is None:
            raise ScriptError("csv loader needs csv_decode")
        opts = V.HArray()
        delimiter = _option(options, "delimiter", None)
        if delimiter is not None:
            opts.set(b"delimiter", delimiter)
        header = _option(options, "header", True)
        opts.set(b"header", header)
        schema = _option(options, "schema", None)
        if schema is not None:
            opts.set(b"schema", schema)
        return decode.fn(data, opts)
    if ext == "crt":
        return _certificates(data, _option(options, "resource", False) is True)
    if ext == "key":
        return _private_key(data)
    if ext == "eml":
        # deferred: the mail classes only for .eml files
        from ..builtins.mime import MailMessageObject
        # (one object for every run, as any data import: a run that modifies it should
        # work on MailMessage::String($mail->toString()))
        return MailMessageObject._new(data)
    raise ScriptError(f"unsupported data loader \"{ext}\"")


def load_glob(root: str, ids: list, spec: str, options):
    """A glob data import (hooks.md §4): an array from each file's id (its path relative
    to `root`, as program.find_glob found them) to its content, each file loaded as
    load_data would (by the `loader!` prefix of `spec`, else by its own extension)."""
    prefix = spec.split("!", 1)[0] + "!" if "!" in spec.split("/")[0] else ""
    out = V.HArray()
    for fid in ids:
        try:
            value = load_data(os.path.join(root, fid), prefix + fid, options)
        except ScriptError as e:
            raise ScriptError(f"{fid}: {e.message}") from None
        out.set(fid.encode("utf-8", "surrogateescape"), value)
    return out


def _certificates(data: bytes, resources: bool):
    """The certificates of a PEM file: a list of X509 objects, or of X509Resources with
    ["resource" => true] (hooks.md §4; Halon's S/MIME modules import `$cert[0]` and the
    chain `$cert[1:]` so)."""
    from cryptography import x509
    # deferred: cryptography only for .crt files
    from ..builtins.x509 import X509Object, X509Resource
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ScriptError("invalid certificate file (PEM certificates expected)") from None
    return V.HArray.from_list([X509Resource(c) if resources else X509Object(X509Resource(c))
                               for c in certs])


def _private_key(data: bytes):
    """A PEM private key as the resource rsa_privatekey(), ec_privatekey() or
    ed25519_privatekey() would give (Halon's S/MIME modules import the signer's key so)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    # deferred: cryptography only for .key files
    from ..builtins.crypto import ECPrivateKey, ED25519PrivateKey, RSAPrivateKey
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ScriptError("invalid private key file (an unencrypted PEM key expected)") \
            from None
    for kind, resource in ((rsa.RSAPrivateKey, RSAPrivateKey),
                           (ec.EllipticCurvePrivateKey, ECPrivateKey),
                           (ed25519.Ed25519PrivateKey, ED25519PrivateKey)):
        if isinstance(key, kind):
            return resource(key)
    raise ScriptError("unsupported private key type")


def strip_json_comments(data: bytes) -> bytes:
    """Remove // and /* */ comments outside JSON strings (data imports allow them)."""
    out = bytearray()
    i, n, in_string = 0, len(data), False
    while i < n:
        c = data[i]
        if in_string:
            out.append(c)
            if c == 0x5C and i + 1 < n:          # backslash escape
                out.append(data[i + 1])
                i += 2
                continue
            if c == 0x22:
                in_string = False
            i += 1
            continue
        if c == 0x22:
            in_string = True
        elif data.startswith(b"//", i):
            end = data.find(b"\n", i)
            i = n if end < 0 else end
            continue
        elif data.startswith(b"/*", i):
            end = data.find(b"*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(0x20)
            continue
        out.append(c)
        i += 1
    return bytes(out)
