#!/usr/bin/env python3
"""Print the runtime part of requirements.lock: the packages the portal's own
dependencies need, with their locked versions and hashes, and none of the
development tools (pytest, playwright, moto, linters) the lock also pins.

    python deploy/runtime_requirements.py > runtime.lock
    pip install --require-hashes --no-deps -r runtime.lock
    python deploy/runtime_requirements.py --pip-check /opt/venv/bin/pip

The lock is uv's ``pip compile`` output; its ``# via`` notes are the
dependency graph, walked here from pyproject.toml's ``[project] dependencies``.

``--pip-check PIP`` runs ``PIP check`` on the installed set and fails on every
broken requirement except those on a package pyproject.toml's ``[tool.uv]
override-dependencies`` names: the lock was resolved with those overrides,
so a dependency's own exact pin on such a package is known to be set aside.
"""

from __future__ import annotations

import re
import subprocess
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


def overridden(pyproject: dict) -> set[str]:
    """The packages whose requirements the lock's overrides replace."""
    lines = pyproject.get("tool", {}).get("uv", {}).get("override-dependencies", [])
    return {canonical(re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0]) for line in lines}


# pip check: "<dist> <version> has requirement <req>, but you have <name> <v>."
_MISMATCH = re.compile(
    r"^\S+ \S+ has requirement (?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(\[[^\]]*\])?[^,]*, but you have \S+ \S+\.$"
)


def pip_check_failures(output: str, allowed: set[str]) -> list[str]:
    """The lines of ``pip check`` output that are real failures: anything but
    a version mismatch on an overridden package (a missing package always is)."""
    failures = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line == "No broken requirements found.":
            continue
        match = _MISMATCH.match(line)
        if match is None or canonical(match.group("name")) not in allowed:
            failures.append(line)
    return failures


def pip_check(pip: str, pyproject: dict) -> int:
    run = subprocess.run(  # noqa: S603 - the builder's own pip
        [pip, "check"], capture_output=True, text=True, check=False
    )
    output = run.stdout + run.stderr
    failures = pip_check_failures(output, overridden(pyproject))
    sys.stdout.write(output)
    if failures or (run.returncode != 0 and not output.strip()):
        sys.stderr.write("pip check failed:\n" + "\n".join(failures) + "\n")
        return 1
    return 0


def main() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    if sys.argv[1:2] == ["--pip-check"] and len(sys.argv) == 3:
        sys.exit(pip_check(sys.argv[2], pyproject))
    entries = lock_entries((ROOT / "requirements.lock").read_text())
    for pkg in runtime_packages(pyproject, entries):
        sys.stdout.write(entries[pkg][0] + "\n")


if __name__ == "__main__":
    main()
