"""Errors that stop a run. Problems inside one document never raise: they become findings."""

from __future__ import annotations


class AuditorError(Exception):
    """Base of the errors the CLI turns into a one-line message and exit code 2."""


class SourceError(AuditorError):
    """The source cannot be read at all (wrong path, nothing recognisable in it)."""


class RuleError(AuditorError):
    """The rule catalog is invalid (unknown fields, missing checks, bad values)."""


class ConfigError(AuditorError):
    """An option or a file named on the command line cannot be used (an output path, a format)."""
