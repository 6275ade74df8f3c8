"""A pretend second stage. HARMLESS: it defines a constant and nothing else.

This file only exists inside totally_harmless/data/extras.zip, to show that
dragonfly scan opens archives nested in a distribution. The host ends in
.invalid, a top-level domain that never resolves, and nothing connects to it.
"""

POOL = "stratum+tcp://pool.example.invalid:3333"
