"""The MS registry service: the registry API of the MS in front of a Distribution registry."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nerve-registry")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
