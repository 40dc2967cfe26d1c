"""The queue side of hsl: the spool that EOD's committed copies go to (`spool.py`), which the
queue reads, and one delivery attempt of a copy (`deliver.py`)."""
