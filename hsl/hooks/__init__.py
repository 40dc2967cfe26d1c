"""Hook contexts: the SMTP events a script can run in (HELO/EHLO so far)."""
