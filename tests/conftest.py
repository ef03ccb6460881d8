"""Fixtures for every test.

The scan time is the one field of a report that changes between two scans of the same input; it
is pinned here with ``SOURCE_DATE_EPOCH`` (set in the environment, so the CLI processes the tests
start inherit it) and golden files stay byte-identical. tests/test_provenance.py unsets it to
test the real clock.
"""

from __future__ import annotations

import os

#: 2026-12-01T00:00:00Z.
PINNED_EPOCH = "1796083200"

os.environ["SOURCE_DATE_EPOCH"] = PINNED_EPOCH
