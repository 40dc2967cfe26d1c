"""Hook contexts: the SMTP events a script can run in.  The phases and what each has are
one table (phases.py); the hook functions are functions.py, running one phase is
engine.py (its replies: reply.py), simulated sessions for `hsl run` session.py; helo.py
keeps the HELO names `hsl serve` uses."""
