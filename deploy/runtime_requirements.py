#!/usr/bin/env python3
"""Print the runtime part of requirements.lock: the packages the portal's own
dependencies need, with their locked versions and hashes, and none of the
development tools (pytest, playwright, moto, linters) the lock also pins.

    python deploy/runtime_requirements.py > runtime.lock
    pip install --require-hashes --no-deps -r runtime.lock

The lock is uv's ``pip compile`` output; its ``# via`` notes are the
dependency graph, walked here from pyproject.toml's ``[project] dependencies``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "hardened-portal"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(text: str) -> dict[str, tuple[str, set[str]]]:
    """Package name -> (its requirement block, the packages it is there for)."""
    entries: dict[str, tuple[str, set[str]]] = {}
    name = ""
    block: list[str] = []
    via: set[str] = set()

    def flush() -> None:
        if name:
            entries[name] = ("\n".join(block), via)

    for line in text.splitlines():
        head = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==", line)
        if head:
            flush()
            name, block, via = canonical(head.group(1)), [line], set()
            continue
        stripped = line.strip()
        if stripped.startswith("--hash"):
            block.append(line)
        elif stripped.startswith("# via"):
            rest = stripped[len("# via") :].strip()
            if rest:
                via.add(rest)
        elif stripped.startswith("#   "):
            via.add(stripped[1:].strip())
    flush()
    # "hardened-portal (pyproject.toml)" -> the project; "celery" -> celery.
    return {
        pkg: (text_, {canonical(v.split(" ")[0]) for v in vias})
        for pkg, (text_, vias) in entries.items()
    }


def runtime_packages(pyproject: dict, entries: dict) -> list[str]:
    wanted = {
        canonical(re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0])
        for dep in pyproject["project"]["dependencies"]
    }
    # Anything some runtime package needs is a runtime package too.
    changed = True
    while changed:
        changed = False
        for pkg, (_, via) in entries.items():
            if pkg not in wanted and via & wanted:
                wanted.add(pkg)
                changed = True
    return sorted(pkg for pkg in entries if pkg in wanted)


def main() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entries = lock_entries((ROOT / "requirements.lock").read_text())
    for pkg in runtime_packages(pyproject, entries):
        sys.stdout.write(entries[pkg][0] + "\n")


if __name__ == "__main__":
    main()
