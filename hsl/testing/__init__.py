"""`hsl test`: policy tests as one command (issue 16; docs/testing.md).  mocks.py reads a
test file's and a case's `mocks:` and installs them for one case run."""
