"""The VS Code extension's own checks: ``npm ci && npm test`` in editors/vscode.

``npm test`` runs ``tsc --noEmit``, eslint, the unit tests under node with a
mocked ``vscode`` module (node's test runner) and packages ``ctask.vsix``
with @vscode/vsce.  ``npm ci`` is skipped when node_modules was just
installed from the current package-lock.json (scripts/test-all runs it before
pytest); ``CTASK_NPM_CI=1`` forces it.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.helpers import REPO
from tests.vscode import tools

EXTENSION = REPO / "editors" / "vscode"

pytestmark = pytest.mark.xdist_group("vscode")
"""The end-to-end tests build ctask.vsix in the same directory: under ``pytest -n``, the same worker runs both."""


@pytest.mark.timeout(600)
def test_vscode_extension_npm_test() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed (scripts/test-all installs them)")
    if os.environ.get("CTASK_NPM_CI"):
        (EXTENSION / "node_modules" / ".package-lock.json").unlink(missing_ok=True)
    tools.ci_if_stale(EXTENSION)
    proc = tools.run(["npm", "test"], cwd=EXTENSION, env=tools.npm_env(), timeout=500)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"npm test failed in {EXTENSION}:\n{output[-6000:]}"
    assert "# fail 0" in output, output[-3000:]
    assert (EXTENSION / "ctask.vsix").is_file()
