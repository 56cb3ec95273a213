"""A user's own Claude Code hook: appends ``[time, event]`` as a JSON line to the file named in argv[1].

The real-Claude test puts it in ``~/.claude/settings.json`` to see which
events Claude Code sent, in what order and when, and that the user's own
hooks still run next to those ctask wires with ``--settings``.
"""

import json
import sys
import time

event = json.loads(sys.stdin.buffer.read() or b"null")
with open(sys.argv[1], "a") as log:
    log.write(json.dumps([time.time(), event]) + "\n")
