"""A small DNS server for tests: UDP and TCP on 127.0.0.1 (or ::1 with host="::1"; one
ephemeral port for both),
answering from a dict, in a background thread, built with dnspython's message API.
A fixed `port` (e.g. 53 on another loopback address, for programs that read
/etc/resolv.conf, which has no port) can be asked for.

    zone = {
        "example.test": {"a": ["192.0.2.1"], "mx": ["10 mx.example.test."]},
        "signed.test": {"a": ["192.0.2.7"], "ad": True},   # answers with the AD flag
        "alias.test": {"cname": ["example.test."]},         # followed for other types
        "broken.test": "SERVFAIL",      # or NXDOMAIN, REFUSED, FORMERR, NOTIMP
        "gone.test": {"rcode": "NXDOMAIN", "ad": True},     # an error with flags
        "slow.test": "DROP",            # never answered (the client times out)
    }
    with DnsServer(zone) as srv:
        srv.address         # "127.0.0.1:PORT" ("[::1]:PORT"), for the servers option
        srv.queries         # [(name, type, "udp" or "tcp"), ...] as received

Records are in zone-file text (names relative to the root, so end them with a dot or not:
both mean the same here).  A name not in the zone is NXDOMAIN; a name without records of
the asked type is NODATA (NOERROR, empty answer).  A UDP answer larger than the client's
EDNS payload size (512 without EDNS) is sent truncated (TC), so the client asks again
over TCP.
"""
from __future__ import annotations

import socket
import struct
import threading

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

RCODES = {"NXDOMAIN": dns.rcode.NXDOMAIN, "SERVFAIL": dns.rcode.SERVFAIL,
          "REFUSED": dns.rcode.REFUSED, "FORMERR": dns.rcode.FORMERR,
          "NOTIMP": dns.rcode.NOTIMP}
TTL = 300


class DnsServer:
    def __init__(self, zone: dict, host: str = "127.0.0.1", port: int = 0):
        self.zone = {dns.name.from_text(name): entry for name, entry in zone.items()}
        self.queries: list = []
        self._stop = threading.Event()
        self.udp, self.tcp = self._bind(host, port)
        self.port = self.udp.getsockname()[1]
        self.address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _bind(host: str, port: int = 0):
        """A UDP and a TCP socket on the same port: `port`, or a free one."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(50):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((host, port))
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((host, udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
                continue
            tcp.listen(16)
            udp.settimeout(0.1)
            tcp.settimeout(0.1)
            return udp, tcp
        raise RuntimeError("no free port for both UDP and TCP")

    # ------------------------------------------------------------------ answers
    def answer(self, wire: bytes, transport: str):
        """The response to one query (wire format), or None to not answer."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        q = query.question[0]
        self.queries.append((q.name.to_text(omit_final_dot=True).lower(),
                             dns.rdatatype.to_text(q.rdtype).lower(), transport))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        name = q.name
        for _ in range(8):                   # CNAME chain, as a recursive resolver would
            entry = self._entry(name)
            if entry is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                break
            if isinstance(entry, str):
                if entry == "DROP":
                    return None
                response.set_rcode(RCODES[entry])
                break
            if entry.get("ad"):
                response.flags |= dns.flags.AD
            if "rcode" in entry:
                response.set_rcode(RCODES[entry["rcode"]])
                break
            wanted = dns.rdatatype.to_text(q.rdtype).lower()
            if wanted in entry:
                response.answer.append(self._rrset(name, wanted, entry[wanted]))
                break
            if "cname" in entry and wanted != "cname":
                target = entry["cname"][0]
                response.answer.append(self._rrset(name, "cname", [target]))
                name = dns.name.from_text(target)
                continue
            break                            # NODATA
        if transport == "tcp":
            return response.to_wire(max_size=65535)
        limit = query.payload if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=max(limit, 512))
        except dns.exception.TooBig:
            response.answer = []
            response.flags |= dns.flags.TC
            return response.to_wire()

    def _entry(self, name):
        for key, entry in self.zone.items():
            if key == name:                  # dns.name comparison ignores case
                return entry
        return None

    @staticmethod
    def _rrset(name, rdtype: str, records: list):
        return dns.rrset.from_text_list(name, TTL, dns.rdataclass.IN,
                                        dns.rdatatype.from_text(rdtype), records)

    # -------------------------------------------------------------- transports
    def _serve_udp(self):
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            reply = self.answer(wire, "udp")
            if reply is not None:
                try:
                    self.udp.sendto(reply, peer)
                except OSError:
                    pass

    def _serve_tcp(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._tcp_connection, args=(conn,), daemon=True).start()

    def _tcp_connection(self, conn):
        conn.settimeout(5)
        with conn:
            try:
                while not self._stop.is_set():
                    head = self._recv_exact(conn, 2)
                    if head is None:
                        return
                    wire = self._recv_exact(conn, struct.unpack("!H", head)[0])
                    if wire is None:
                        return
                    reply = self.answer(wire, "tcp")
                    if reply is None:       # not answering: the client times out
                        self._stop.wait(10)
                        return
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return

    @staticmethod
    def _recv_exact(conn, n: int):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    # ------------------------------------------------------------------ control
    def close(self):
        self._stop.set()
        for t in self._threads:
            t.join(2)
        self.udp.close()
        self.tcp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
