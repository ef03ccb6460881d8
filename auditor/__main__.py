"""Entry point for ``python -m auditor``."""

from auditor.cli import run

run()
