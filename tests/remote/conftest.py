"""Fixtures for ctask on more than one machine (SPEC 10): simulated hosts with real sshd and ssh.

``network`` is a started :class:`tests.remote.hosts.Network` of two hosts
(``host1``, ``host2``), ``make_network(count)`` one of any size; both are
closed (every sshd, ssh connection, tmux server and namespace gone) after
the test, passed or failed.  See :mod:`tests.remote.hosts` for what a host
is.

Without root, network namespaces or Debian's openssh-server these tests
skip and say what is missing; with ``CTASK_REMOTE=required`` (set by
scripts/test-all, which installs openssh-server) they fail instead, so CI
never passes by skipping them.
"""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

import pytest

from tests.remote.hosts import Network, unavailable

REQUIRED = "CTASK_REMOTE"
"""Set to ``required`` (scripts/test-all does): a machine that cannot simulate hosts fails these tests."""


def need_hosts() -> None:
    why = unavailable()
    if why is None:
        return
    if os.environ.get(REQUIRED) == "required":
        pytest.fail(f"{why} (CTASK_REMOTE=required)")
    pytest.skip(why)


@pytest.fixture
def make_network(tmp_path: Path) -> t.Iterator[t.Callable[..., Network]]:
    """``make_network(count=2, hosts_config=None)``: a started network of ``count`` hosts; all closed at the end."""
    need_hosts()
    made: list[Network] = []

    def make(count: int = 2, hosts_config: list[dict[str, str]] | None = None) -> Network:
        net = Network(tmp_path / f"net{len(made)}", count, hosts_config=hosts_config)
        made.append(net)
        return net.start()

    try:
        yield make
    finally:
        for net in made:
            net.close()


@pytest.fixture
def network(make_network: t.Callable[..., Network]) -> Network:
    """Two hosts, ``host1`` and ``host2``, each with its own sshd, ctask home and tmux, and a client that lists both."""
    return make_network(2)
