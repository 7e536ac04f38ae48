"""Small XCCDF 1.2 results documents and STIG builds for the STIG tests.

The real OpenSCAP files in apps/stig/testdata are what the importer is proven
on; these small documents let a test say exactly which rule has which result.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from django.utils import timezone

from apps.catalog.models import ImageDigest, Series
from apps.stig.services import stig_scan_import
from tests.catalog import builders as catalog

TESTDATA = Path(__file__).resolve().parents[2] / "apps/stig/testdata"
RHEL8 = TESTDATA / "saf__xccdf-results-openscap-rhel8.xml"
RHSA_11 = TESTDATA / "defectdojo__openscap_one_vuln_rhsa.xml"
ARF_SAMPLE = TESTDATA / "openscap-report__arf_simple_rule_fail.xml"

NS = "http://checklists.nist.gov/xccdf/1.2"
BENCHMARK = "xccdf_mil.disa.stig_benchmark_TEST_STIG"
PROFILE = "xccdf_mil.disa.stig_profile_MAC-1_Public"


def rule_xml(number: int, severity: str) -> str:
    return f"""
  <Group id="xccdf_mil.disa.stig_group_V-{number}">
    <title>SRG-OS-{number}</title>
    <Rule id="xccdf_mil.disa.stig_rule_SV-{number}r1_rule"
          severity="{severity}" weight="10.0">
      <version>TEST-{number}</version>
      <title>Rule {number} must hold.</title>
      <description>&lt;VulnDiscussion&gt;Why rule {number} matters.\
&lt;/VulnDiscussion&gt;&lt;FalsePositives&gt;&lt;/FalsePositives&gt;</description>
      <ident system="http://cyber.mil/cci">CCI-{number:06d}</ident>
      <fixtext fixref="F-{number}r1_fix">Fix rule {number}.</fixtext>
      <check system="C-{number}r1_chk">
        <check-content>Check rule {number}.</check-content>
      </check>
    </Rule>
  </Group>"""


def _message(text: str | None) -> str:
    return f'<message severity="info">{escape(text)}</message>' if text else ""


def result_xml(
    rules: list[tuple[int, str, str]],
    *,
    benchmark: str = BENCHMARK,
    result_id: str = "xccdf_org.open-scap_testresult_test",
    score: str = "50.000000",
    start: str = "2024-05-01T10:00:00+00:00",
    xmlns: bool = False,
    messages: dict[int, str] | None = None,
) -> str:
    messages = messages or {}
    results = "".join(
        f"""
    <rule-result idref="xccdf_mil.disa.stig_rule_SV-{n}r1_rule"
                 severity="{sev}" version="TEST-{n}" weight="10.0">
      <result>{outcome}</result>{_message(messages.get(n))}
      <ident system="http://cyber.mil/cci">CCI-{n:06d}</ident>
    </rule-result>"""
        for n, sev, outcome in rules
    )
    ns = f' xmlns="{NS}"' if xmlns else ""
    return f"""
  <TestResult{ns} id="{result_id}" start-time="{start}" end-time="{start}"
              version="001.002" test-system="cpe:/a:redhat:openscap:1.3.8">
    <benchmark href="#bench" id="{benchmark}"/>
    <title>OSCAP Scan Result</title>
    <profile idref="{PROFILE}"/>
    <target>build-host</target>
    <target-facts>
      <fact name="urn:xccdf:fact:scanner:name" type="string">OpenSCAP</fact>
      <fact name="urn:xccdf:fact:scanner:version" type="string">1.3.8</fact>
    </target-facts>{results}
    <score system="urn:xccdf:scoring:default" maximum="100.000000">{score}</score>
  </TestResult>"""


def xccdf(
    rules: list[tuple[int, str, str]],
    *,
    benchmark_rules: list[tuple[int, str]] | None = None,
    benchmark_id: str = BENCHMARK,
    **result_kwargs,
) -> bytes:
    """A Benchmark with its rules and one TestResult: ``rules`` are
    (number, severity, result); the benchmark has the same rules unless
    ``benchmark_rules`` says otherwise."""
    if benchmark_rules is None:
        benchmark_rules = [(n, sev) for n, sev, _ in rules]
    body = "".join(rule_xml(n, sev) for n, sev in benchmark_rules)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Benchmark xmlns="{NS}" id="{benchmark_id}" resolved="1" xml:lang="en">
  <status>accepted</status>
  <title>Test Security Technical Implementation Guide</title>
  <plain-text id="release-info">Release: 2 Benchmark Date: 01 Jan 2024</plain-text>
  <version>001.002</version>
  <Profile id="{PROFILE}"><title>I - Mission Critical Public</title></Profile>{body}
{result_xml(rules, **result_kwargs)}
</Benchmark>
""".encode()


def stig_series(name: str = "9") -> Series:
    return catalog.series(catalog.repository("rhel-base"), name)


def stig_build(
    series: Series | None = None, *, days_ago: int = 1, fips: bool = False
) -> ImageDigest:
    return catalog.build(
        series or stig_series(),
        stig=True,
        fips=fips,
        built_at=timezone.now() - timedelta(days=days_ago),
    )


def scan(image: ImageDigest, rules: list[tuple[int, str, str]], **kwargs):
    """Import a small scan of ``image``; returns the StigScan."""
    from apps.stig.models import StigScan

    result = stig_scan_import(image=image, content=xccdf(rules, **kwargs))
    return StigScan.objects.get(pk=result.scan_id)


def when(days_ago: int) -> datetime:
    return timezone.now() - timedelta(days=days_ago)
