"""Hook contexts: the SMTP events a script can run in (HELO/EHLO so far)."""

# The pre-defined variables of an SMTP hook that a script cannot assign (builtins.md,
# "Hook contexts"): the one list that the HELO hook, `hsl check` and the REPL read.
SMTP_READONLY = ("arguments", "connection", "transaction")
