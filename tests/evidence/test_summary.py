"""What the upload page tells staff after an import, in a sentence."""

from apps.evidence.ingest import summary_text


def test_empty_values_are_left_out_of_the_sentence():
    text = summary_text(
        "vex",
        {"kind": "vex", "id": 5, "version": 1, "statements": 1, "replaced": ""},
    )
    assert text == "id: 5; version: 1; statements: 1."


def test_a_summary_with_nothing_to_say_reads_stored():
    assert summary_text("kev", {"kind": "kev", "created": True}) == "Stored."
