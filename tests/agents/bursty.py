"""A generic agent without hooks: bursts of output and silences, driven by typed lines.

``bursty``: each line typed into its terminal:

- ``burst SECONDS``: a line of output every 0.1 s for that long, then silence;
- ``quit``: exit 0.

Only tmux can tell what it does: its output is ``working``, its silence past
``idle_after`` is ``idle``.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    print("bursty agent ready", flush=True)
    for line in sys.stdin:
        command, _, rest = line.strip().partition(" ")
        if command == "burst":
            end = time.monotonic() + float(rest or 1)
            n = 0
            while time.monotonic() < end:
                n += 1
                print(f"working... {n}", flush=True)
                time.sleep(0.1)
            print("done", flush=True)
        elif command == "quit":
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
