"""The package version, recorded in every store."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nnvalues")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"
