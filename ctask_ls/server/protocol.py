"""The wire protocol as the server's modules name it: :mod:`ctask_ls.protocol`, defined there once."""

from __future__ import annotations

from ctask_ls.protocol import *  # noqa: F403 - a second name for the one definition, not a copy
from ctask_ls.protocol import __all__  # noqa: F401 - mypy: the names of the * above are exported
