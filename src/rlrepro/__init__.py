"""rlrepro: end-to-end reproductions of MIRL (soft Q-learning with mutual-information
regularisation) and EPMD (exploration in policy mirror descent)."""

from importlib import metadata

try:
    __version__ = metadata.version("rlrepro")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

from rlrepro import _moved

_moved.install()
