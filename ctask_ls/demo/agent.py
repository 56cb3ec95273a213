"""A scripted stand-in for a coding agent, used by ``ctask demo``.

It works in its current directory (the task's workspace) for about
``--seconds`` seconds: it writes a note, adds a small module, edits the
README it found and deletes a stale log, printing what it does as a real agent
would.  No network, no model: just files, so the diff at the end is exact.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

STEPS = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ctask-demo-agent")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    pause = max(0.0, args.seconds) / STEPS
    here = Path.cwd()

    def say(text: str) -> None:
        print(f"demo-agent> {text}", flush=True)
        time.sleep(pause)

    say("reading the task...")
    (here / "NOTES.md").write_text("# Plan\n\n1. add a greeting module\n2. document it\n")
    say("wrote NOTES.md with a plan")
    src = here / "src"
    src.mkdir(exist_ok=True)
    (src / "greet.py").write_text('def greet(name: str) -> str:\n    return f"hello, {name}"\n')
    say("added src/greet.py")
    readme = here / "README.txt"
    if readme.exists():
        readme.write_text(readme.read_text() + "\nUsage: from greet import greet\n")
        say("documented it in README.txt")
    stale = here / "build.log"
    if stale.exists():
        stale.unlink()
        say("removed the stale build.log")
    print("demo-agent> done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
