"""apps/sla/cr26.py's numbers, read back from FedRAMP's own rule text
(tests/data/fedramp/, copied with its provenance): every cell of the
VDR-TFR-PVR table for every class, the evaluation timeframes, the 192 days
and the PAIN definitions. A cell typed wrong in the code fails here."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from apps.sla import cr26

RULES = Path(__file__).resolve().parents[1] / "data" / "fedramp"
VDR = (RULES / "rev5-vulnerability-detection-and-response.md").read_text("utf-8")
VER = (RULES / "rev5-vulnerability-evaluation-and-reporting.md").read_text("utf-8")
DEFINITIONS = (RULES / "definitions.md").read_text("utf-8")


def _section(text: str, rule_id: str) -> str:
    """The text of one rule: from its abstract to the next rule's."""
    start = text.index(f'??? abstract "{rule_id}"')
    following = text.find("??? abstract", start + 1)
    return text[start : following if following != -1 else len(text)]


def _tabs(section: str) -> dict[str, str]:
    """Each class tab's text (``=== "Class C"``), by class letter."""
    parts = re.split(r'^\s*=== "Class ([A-D])"\s*$', section, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _span(text: str) -> timedelta:
    number, unit = text.split()
    if unit.startswith("hour"):
        return timedelta(hours=int(number))
    if unit.startswith("day"):
        return timedelta(days=int(number))
    raise ValueError(f"unit {unit!r}")


def _pvr_rules() -> dict[str, dict[int, tuple[timedelta, ...]]]:
    tables = {}
    for letter, tab in _tabs(_section(VDR, "VDR-TFR-PVR")).items():
        header = next(line for line in tab.splitlines() if "PAIN</abbr> Rating" in line)
        columns = [re.sub(r"<[^>]+>", "", cell).strip() for cell in header.split("|")]
        assert columns[2:5] == ["LEV + IRV", "LEV + NIRV", "NLEV"], columns
        rows = {}
        for line in tab.splitlines():
            match = re.match(r"\s*\| PAIN-(\d) \|(.+)\|\s*$", line)
            if match:
                cells = [c.strip() for c in match.group(2).split("|")]
                rows[int(match.group(1))] = tuple(_span(c) for c in cells)
        tables[letter] = rows
    return tables


PVR = _pvr_rules()


def test_the_rule_text_has_a_table_for_every_class_and_rows_n5_to_n2():
    assert sorted(PVR) == list(cr26.CLASSES)
    for letter in cr26.CLASSES:
        assert sorted(PVR[letter]) == [2, 3, 4, 5], letter


@pytest.mark.parametrize(
    ("letter", "pain", "column"),
    [
        (letter, pain, column)
        for letter in cr26.CLASSES
        for pain in (2, 3, 4, 5)
        for column in cr26.COLUMNS
    ],
)
def test_every_timeframe_cell_is_the_rules(letter, pain, column):
    expected = PVR[letter][pain][cr26.COLUMNS.index(column)]
    assert cr26.PVR_TIMEFRAMES[letter][pain][cr26.COLUMNS.index(column)] == expected
    likely = column != cr26.NLEV
    reachable = column == cr26.LEV_IRV
    assert (
        cr26.timeframe(
            letter, pain, likely_exploitable=likely, internet_reachable=reachable
        )
        == expected
    )


def test_the_code_table_has_no_cell_the_rules_lack():
    assert {k: set(v) for k, v in cr26.PVR_TIMEFRAMES.items()} == {
        k: set(v) for k, v in PVR.items()
    }


def test_n1_has_no_timeframe_as_the_rules_leave_it_to_routine_operations():
    assert "PAIN-1" not in _section(VDR, "VDR-TFR-PVR")
    assert "remaining vulnerabilities during routine operations" in _section(
        VDR, "VDR-TFR-RMN"
    )
    for letter in cr26.CLASSES:
        assert (
            cr26.timeframe(letter, 1, likely_exploitable=True, internet_reachable=True)
            is None
        )


def _timeframes(rule_id: str) -> dict[str, timedelta]:
    found = {}
    for letter, tab in _tabs(_section(VER, rule_id)).items():
        match = re.search(r"\*\*Timeframe:\*\* (\d+ \w+)", tab)
        assert match, (rule_id, letter)
        found[letter] = _span(match.group(1))
    return found


def test_the_evaluation_timeframes_are_ver_tfr_evu():
    assert _timeframes("VER-TFR-EVU") == cr26.EVALUATION_TIMEFRAMES


def test_accepted_after_192_days_is_ver_tfr_mav():
    section = _section(VER, "VER-TFR-MAV")
    assert "within 192 days of evaluation as an accepted vulnerability" in section
    assert re.search(r"\*\*Timeframe:\*\* (\d+ days)", section).group(1) == "192 days"
    assert timedelta(days=192) == cr26.ACCEPTED_AFTER


def test_history_update_periods_are_ver_tfr_mrh():
    for letter, tab in _tabs(_section(VER, "VER-TFR-MRH")).items():
        said = re.search(r"\*\*Timeframe:\*\* (\d+ \w+)", tab).group(1)
        assert cr26.HISTORY_UPDATE[letter] == said


def test_the_pain_definitions_are_ver_eva_epa_word_for_word():
    section = _section(VER, "VER-EVA-EPA")
    for rating, text in cr26.PAIN_DEFINITIONS.items():
        assert f"- **N{rating}**: {text}" in section


def test_the_lev_minimum_is_the_definitions():
    section = DEFINITIONS[DEFINITIONS.index("## Likely Exploitable Vulnerability") :]
    assert (
        "At the absolute minimum, any vulnerability that an automated "
        "unauthenticated system can exploit over the internet is a likely "
        "exploitable vulnerability." in section[:2000]
    )
    assert "Providers MUST assume the exploitation of vulnerabilities can be " in (
        _section(VER, "VER-EVA-AIA")
    )


def test_kev_due_dates_are_vdr_tfr_kev():
    assert "according to the due dates in the CISA Known Exploited Vulnerabilities" in (
        _section(VDR, "VDR-TFR-KEV")
    )
