"""The release shown on every page: the installed package's version, so a new wheel is a new release."""

from __future__ import annotations

from importlib import metadata


def release_version() -> str:
    try:
        return metadata.version("visitor-board")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
