"""The image's pip check fails on every broken requirement except a version
mismatch on a package the lock's overrides name (deploy/runtime_requirements.py
--pip-check), and the overrides are exactly the ones the lock was made with."""

import tomllib

from .conftest import ROOT

TRESTLE_CRYPTO = (
    "compliance-trestle 3.7.0 has requirement cryptography==43.0.3, "
    "but you have cryptography 50.0.2."
)
TRESTLE_JINJA = (
    "compliance-trestle 3.7.0 has requirement Jinja2==3.1.4, but you have jinja2 3.1.6."
)


def test_overridden_names_come_from_pyproject(runtime_requirements):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert runtime_requirements.overridden(pyproject) == {"cryptography", "jinja2"}


def test_mismatch_on_an_overridden_package_passes(runtime_requirements):
    output = f"{TRESTLE_CRYPTO}\n{TRESTLE_JINJA}\n"
    failures = runtime_requirements.pip_check_failures(
        output, {"cryptography", "jinja2"}
    )
    assert failures == []


def test_mismatch_on_any_other_package_fails(runtime_requirements):
    line = "pyhanko 0.38.0 has requirement cryptography>=48.0.0, but you have "
    line += "cryptography 43.0.3."
    other = "sigstore 4.5.1 has requirement rfc8785~=0.1.2, but you have rfc8785 0.2."
    failures = runtime_requirements.pip_check_failures(f"{line}\n{other}\n", {"jinja2"})
    assert failures == [line, other]


def test_missing_package_always_fails(runtime_requirements):
    line = "compliance-trestle 3.7.0 requires cryptography, which is not installed."
    failures = runtime_requirements.pip_check_failures(line, {"cryptography"})
    assert failures == [line]


def test_clean_check_passes(runtime_requirements):
    failures = runtime_requirements.pip_check_failures(
        "No broken requirements found.\n", set()
    )
    assert failures == []


def test_lock_was_made_with_the_overrides():
    lock = (ROOT / "requirements.lock").read_text()
    assert "#   --override (workspace)" in lock
