"""The queue side of hsl: the spool that EOD's committed copies go to (`spool.py`), which the
queue reads."""
