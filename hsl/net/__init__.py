"""The network layer: what the builtins that reach other hosts share.

http() (builtins/httpclient.py), smtp_lookup_rcpt / smtp_lookup_auth
(builtins/smtpclient.py), MailMessage->send() (mail/send.py, on the SMTP client),
dns_query (builtins/dnslookup.py), spf_query (builtins/spf.py) and DKIM's key lookups
(mail/dkim.py) wait on the network only through these modules, so every one of them
stops the same way at the run's time limit and when the run is cancelled:

* clock.py: `Clock`, the deadlines of one operation (its own, the run's, a phase's) and
  cancellation; every wait blocks one slice at a time;
* dns.py: the process-wide DNS backend (dnspython, `--dns-server`, or `--dns-table`'s
  table) and lookups on a clock;
* hosts.py: the addresses of a host to connect to (the DNS backend when --dns-table or
  --dns-server are given, else the system's getaddrinfo);
* sockets.py: TCP connections (connect, send, receive) on a clock;
* tls.py: TLS contexts, the handshake on a clock, certificate-name matching;
* smtp.py: the SMTP client (one session: MX lookup, STARTTLS and DANE, AUTH, the
  transaction) of smtp_lookup_*, send() and the queue's deliveries (hsl/queue/deliver.py);
* offline.py: what hsl test's mocks put in the network's place (http and SMTP stand-ins,
  the network turned off).
"""
