"""The walker: every CSV and XLSX export door (``DOORS`` in
tests/core/export_doors.py) fed values that would be formulas, through the
public pages and commands where others type or publish them. No cell of any
export may start like a formula, no XLSX cell may be one, and every value fed
in must be there, neutralized."""

from __future__ import annotations

import pytest
import time_machine

from apps.sla.defaults import defaults_load
from tests.entitlements.builders import ensure_tiers

from .export_doors import DOORS, START, build_world, walk


@pytest.fixture
def world(settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()
    defaults_load()

    def run():
        """Tasks run once the request or command commits, as on a worker."""
        return django_capture_on_commit_callbacks(execute=True)

    with time_machine.travel(START, tick=True) as traveller:
        yield build_world(run, traveller, tmp_path / "osv")


@pytest.mark.django_db
def test_no_export_door_writes_a_cell_a_spreadsheet_would_run(world):
    problems = [problem for door in DOORS for problem in walk(door, world)]
    assert problems == []
    # Typed emails that fit the login form were logged and walked (the form
    # refuses the others before anyone could log them).
    assert world.emails
