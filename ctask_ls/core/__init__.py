"""The session core, in layers (README "Architecture"); the front doors import :mod:`ctask_ls.core.api` only."""
