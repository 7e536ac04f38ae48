"""Read OpenSCAP results: XCCDF 1.2 (and 1.1) TestResults and ARF reports.

A results document comes in three shapes:

- a bare ``<TestResult>`` (``oscap xccdf eval --results`` without the benchmark);
- a ``<Benchmark>`` holding the rules and, after them, the ``<TestResult>``
  (what ``oscap`` writes for an XCCDF benchmark file);
- an ARF ``<asset-report-collection>`` (``oscap xccdf eval --results-arf``): the
  source data stream with the Benchmark in its report request, the TestResult
  in its reports.

Rule metadata (title, discussion, check and fix text, CCIs, STIG id, V-number)
comes from the Benchmark when the document includes one; without it a rule
result carries only its id, result, severity, version and idents.

The XML is untrusted: it is parsed by lxml without entity resolution, DTD
loading or network access, within libxml2's default size limits, and a
document that declares entities (an XML bomb, an external entity) is refused
outright rather than parsed around.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from lxml import etree

from apps.catalog.formats.subject import StatedSubject, scan_target_subject

from .parsed import ParsedRule, ParsedScan

XCCDF_12 = "http://checklists.nist.gov/xccdf/1.2"
XCCDF_11 = "http://checklists.nist.gov/xccdf/1.1"
XCCDF_VERSIONS = {XCCDF_12: "1.2", XCCDF_11: "1.1"}
ARF = "http://scap.nist.gov/schema/asset-reporting-format/1.1"
DATA_STREAM = "http://scap.nist.gov/schema/scap/source/1.2"

CCI_SYSTEMS = frozenset({"http://cyber.mil/cci", "http://iase.disa.mil/cci"})
DISA_PREFIXES = {
    "rule": "xccdf_mil.disa.stig_rule_",
    "group": "xccdf_mil.disa.stig_group_",
    "benchmark": "xccdf_mil.disa.stig_benchmark_",
    "profile": "xccdf_mil.disa.stig_profile_",
}
SEVERITIES = frozenset({"high", "medium", "low"})
# When a rule has several results (multi-check, or one per instance), the
# rule's result is the one a reviewer must act on first.
RESULT_PRECEDENCE = (
    "fail",
    "error",
    "unknown",
    "notchecked",
    "informational",
    "fixed",
    "pass",
    "notapplicable",
    "notselected",
)
# XCCDF 1.2's result values (resultEnumType), the StigRuleResult.Result choices.
RESULTS = frozenset(RESULT_PRECEDENCE)
_RANK = {result: rank for rank, result in enumerate(RESULT_PRECEDENCE)}
_GROUP_VULN_ID = re.compile(r"^V-\d+$")
# Room in the model's columns; ids longer than this are refused, text is cut.
ID_MAX = 255


def _refuse(message: str) -> ValidationError:
    return ValidationError({"document": message})


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def safe_xml(content: bytes) -> etree._Element:
    """The document's root element, parsed without entities, DTDs or network.

    A document declaring entities is refused before and after parsing: the
    byte scan catches it in ASCII-compatible encodings without reading the
    document, the DTD check in any other.
    """
    if b"<!ENTITY" in content:
        raise _refuse(
            "The document declares XML entities (<!ENTITY ...>); entities are "
            "refused, as in an XML bomb or an external entity. Export the "
            "results again without a DOCTYPE."
        )
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise _refuse(
            f"The document is not well-formed XML (line {line}, column {column}): "
            f"{exc.msg}"
        ) from exc
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise _refuse(
            "The document's DOCTYPE declares entities; entities are refused, as "
            "in an XML bomb or an external entity."
        )
    return root


# --------------------------------------------------------------------------
# Small readers
# --------------------------------------------------------------------------


def _strip(value: str, kind: str) -> str:
    return value.removeprefix(DISA_PREFIXES[kind])


def _text(element: etree._Element | None) -> str:
    if element is None:
        return ""
    if len(element) == 0:
        return (element.text or "").strip()
    return "".join(element.itertext()).strip()


def _decimal(value: str | None, *, places: str = "0.01") -> Decimal | None:
    if value is None or not value.strip():
        return None
    try:
        number = Decimal(value.strip()).quantize(Decimal(places))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _when(value: str | None, what: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise _refuse(f"The TestResult's {what} {value[:40]!r} is not a date and time.")
    # OpenSCAP 1.2 wrote local times without an offset: read them as UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _discussion(description: str) -> str:
    """DISA descriptions wrap the discussion in escaped pseudo-XML tags."""
    start = description.find("<VulnDiscussion>")
    end = description.find("</VulnDiscussion>", start)
    if start < 0 or end < 0:
        return description
    return description[start + len("<VulnDiscussion>") : end].strip()


@dataclasses.dataclass
class _RuleInfo:
    """What the Benchmark says of one rule."""

    title: str = ""
    severity: str = ""
    vuln_id: str = ""
    stig_id: str = ""
    description: str = ""
    check_text: str = ""
    fix_text: str = ""
    ccis: list[str] = dataclasses.field(default_factory=list)
    weight: Decimal | None = None


class _Reader:
    """Tag names in one XCCDF namespace, and the readers that use them."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.version = XCCDF_VERSIONS[ns]
        self._tags: dict[str, str] = {}

    def tag(self, name: str) -> str:
        found = self._tags.get(name)
        if found is None:
            found = self._tags[name] = f"{{{self.ns}}}{name}"
        return found

    def child(self, element: etree._Element, name: str) -> etree._Element | None:
        return element.find(self.tag(name))

    def ccis(self, element: etree._Element) -> list[str]:
        return [
            _text(ident)
            for ident in element.iterchildren(self.tag("ident"))
            if ident.get("system") in CCI_SYSTEMS and _text(ident)
        ]

    def check_text(self, rule: etree._Element) -> str:
        check = self.child(rule, "check")
        if check is None:
            return ""
        content = self.child(check, "check-content")
        if content is not None:
            return _text(content)
        ref = self.child(check, "check-content-ref")
        if ref is None:
            return ""
        name, href = ref.get("name", ""), ref.get("href", "")
        where = f" in {href}" if href else ""
        return f"Automated check {name}{where}." if name else ""

    def rule_info(self, rule: etree._Element) -> _RuleInfo:
        parent = rule.getparent()
        vuln_id = ""
        if parent is not None and parent.tag == self.tag("Group"):
            group = _strip(parent.get("id", ""), "group")
            vuln_id = group if _GROUP_VULN_ID.match(group) else ""
        # One pass over the rule's children: this runs for every rule.
        first: dict[str, etree._Element] = {}
        ccis = []
        ident, cci_systems = self.tag("ident"), CCI_SYSTEMS
        for child in rule:
            if child.tag == ident:
                if child.get("system") in cci_systems and (text := _text(child)):
                    ccis.append(text)
            else:
                first.setdefault(child.tag, child)
        description = _discussion(_text(first.get(self.tag("description"))))
        rationale = _text(first.get(self.tag("rationale")))
        if rationale:
            description = f"{description}\n\nRationale: {rationale}".strip()
        return _RuleInfo(
            title=_text(first.get(self.tag("title"))),
            severity=rule.get("severity", ""),
            vuln_id=vuln_id,
            stig_id=_text(first.get(self.tag("version"))),
            description=description,
            check_text=self.check_text(rule),
            fix_text=_text(first.get(self.tag("fixtext"))),
            ccis=ccis,
            weight=_decimal(rule.get("weight")),
        )

    def benchmark_rules(self, benchmark: etree._Element) -> dict[str, _RuleInfo]:
        return {
            rule.get("id", ""): self.rule_info(rule)
            for rule in benchmark.iter(self.tag("Rule"))
        }


# --------------------------------------------------------------------------
# Finding the Benchmark and the TestResult
# --------------------------------------------------------------------------


def _namespace(element: etree._Element) -> str:
    return etree.QName(element).namespace or ""


def _locate(root: etree._Element) -> tuple[str, list, list]:
    """(source format, TestResults, Benchmarks) of a document."""
    name = etree.QName(root)
    if name.namespace == ARF and name.localname == "asset-report-collection":
        results = list(root.iter(f"{{{XCCDF_12}}}TestResult"))
        benchmarks = list(root.iter(f"{{{XCCDF_12}}}Benchmark"))
        return "arf", results, benchmarks
    if name.namespace in XCCDF_VERSIONS:
        if name.localname == "TestResult":
            return "xccdf", [root], []
        if name.localname == "Benchmark":
            results = list(root.iterchildren(f"{{{name.namespace}}}TestResult"))
            return "xccdf", results, [root]
    if name.namespace == DATA_STREAM:
        raise _refuse(
            "This is a SCAP source data stream (the content to scan with), not "
            "results; upload the ARF or XCCDF results of a scan."
        )
    raise _refuse(
        f"This is not XCCDF results or an ARF report: the root element is "
        f"<{name.localname}>"
        + (f" in namespace {name.namespace}" if name.namespace else "")
        + ". Expected an XCCDF 1.2 TestResult or Benchmark "
        f"({XCCDF_12}) or an ARF asset-report-collection ({ARF})."
    )


def _pick_result(results: list, wanted: str | None) -> etree._Element:
    if not results:
        raise _refuse(
            "The document holds no TestResult: it is a benchmark (the rules to "
            "check), not the results of a scan."
        )
    ids = [r.get("id", "") for r in results]
    if wanted:
        for result in results:
            if result.get("id") == wanted:
                return result
        raise _refuse(f"No TestResult {wanted!r} in the document; it holds {ids}.")
    if len(results) > 1:
        raise _refuse(
            f"The document holds {len(results)} TestResults ({', '.join(ids)}); "
            "upload one scan per document, or name the TestResult to import."
        )
    return results[0]


def _pick_benchmark(result: etree._Element, benchmarks: list, reader: _Reader):
    """The Benchmark the TestResult was run against, refusing a mismatch."""
    if not benchmarks:
        return None
    ref = reader.child(result, "benchmark")
    wanted = ref.get("id", "") if ref is not None else ""
    ids = [b.get("id", "") for b in benchmarks]
    if wanted:
        for benchmark in benchmarks:
            if benchmark.get("id") == wanted:
                return benchmark
        raise _refuse(
            f"The results are for benchmark {wanted}, the document's benchmark is "
            f"{' / '.join(ids)}: they do not belong together."
        )
    if len(benchmarks) > 1:
        raise _refuse(
            f"The TestResult names no benchmark and the document holds "
            f"{len(benchmarks)} ({', '.join(ids)}): which one it is for is unclear."
        )
    return benchmarks[0]


# --------------------------------------------------------------------------
# The scan
# --------------------------------------------------------------------------


def _facts(result: etree._Element, reader: _Reader) -> list[tuple[str, str]]:
    """The TestResult's target facts, (name, value), in document order."""
    target_facts = reader.child(result, "target-facts")
    if target_facts is None:
        return []
    return [
        (fact.get("name", ""), _text(fact))
        for fact in target_facts.iterchildren(reader.tag("fact"))
    ]


def _subject(result: etree._Element, reader: _Reader) -> StatedSubject:
    """The image the scan names in its target or target facts, if any."""
    return scan_target_subject(
        _text(reader.child(result, "target")),
        _facts(result, reader),
        where="the TestResult's target and target facts",
    )


def _scanner(result: etree._Element, reader: _Reader) -> str:
    facts: dict[str, str] = {}
    for name, value in _facts(result, reader):
        facts.setdefault(name, value)
    name = facts.get("urn:xccdf:fact:scanner:name", "")
    if name:
        return f"{name} {facts.get('urn:xccdf:fact:scanner:version', '')}".strip()
    return result.get("test-system", "")


def _score(result: etree._Element, reader: _Reader):
    scores = list(result.iterchildren(reader.tag("score")))
    if not scores:
        return None, None, ""
    chosen = next(
        (s for s in scores if s.get("system") == "urn:xccdf:scoring:default"),
        scores[0],
    )
    return (
        _decimal(_text(chosen)),
        _decimal(chosen.get("maximum")),
        chosen.get("system", ""),
    )


def _profile(result, benchmark, reader: _Reader) -> tuple[str, str]:
    ref = reader.child(result, "profile")
    profile_id = ref.get("idref", "") if ref is not None else ""
    title = ""
    if profile_id and benchmark is not None:
        for profile in benchmark.iterchildren(reader.tag("Profile")):
            if profile.get("id") == profile_id:
                title = _text(reader.child(profile, "title"))
                break
    return _strip(profile_id, "profile"), title


def _release_info(benchmark, reader: _Reader) -> str:
    for plain in benchmark.iterchildren(reader.tag("plain-text")):
        if plain.get("id") == "release-info":
            return _text(plain)
    return ""


def _rule_results(result, reader: _Reader, catalog: dict[str, _RuleInfo] | None):
    """ParsedRules by XCCDF rule id, several results of one rule merged."""
    rules: dict[str, ParsedRule] = {}
    unknown: list[str] = []
    result_tag, message_tag = reader.tag("result"), reader.tag("message")
    override_tag = reader.tag("override")
    for element in result.iterchildren(reader.tag("rule-result")):
        idref = element.get("idref", "")
        if not idref:
            raise _refuse("A rule-result has no idref: its rule is unknown.")
        outcome, messages, remarks = "", [], []
        # One pass over the result's children: this runs for every rule.
        for child in element:
            if child.tag == result_tag:
                outcome = outcome or _text(child)
            elif child.tag == message_tag and (text := _text(child)):
                messages.append(text)
            elif child.tag == override_tag:
                remarks.append(_text(reader.child(child, "remark")))
        if outcome not in RESULTS:
            raise _refuse(
                f"Rule {idref} has the result {outcome[:40]!r}, which is not an "
                f"XCCDF result ({', '.join(RESULT_PRECEDENCE)})."
            )
        info = catalog.get(idref) if catalog is not None else None
        if catalog is not None and info is None:
            unknown.append(idref)
            continue
        info = info or _RuleInfo()
        seen = rules.get(idref)
        if seen is not None:
            if _RANK[outcome] < _RANK[seen.result]:
                seen.result = outcome
            seen.finding_details = "\n".join(
                filter(None, [seen.finding_details, *messages])
            )
            continue
        severity = element.get("severity") or info.severity
        weight = _decimal(element.get("weight"))
        rule_id = _strip(idref, "rule")
        if len(rule_id) > ID_MAX:
            raise _refuse(f"Rule id {rule_id[:60]}... is longer than {ID_MAX}.")
        rules[idref] = ParsedRule(
            rule_id=rule_id,
            result=outcome,
            severity=severity if severity in SEVERITIES else "unknown",
            vuln_id=info.vuln_id,
            stig_id=info.stig_id or element.get("version", ""),
            title=info.title,
            description=info.description,
            check_text=info.check_text or reader.check_text(element),
            fix_text=info.fix_text,
            finding_details="\n".join(messages),
            comments="\n".join(filter(None, remarks)),
            ccis=info.ccis or reader.ccis(element),
            weight=info.weight if weight is None else weight,
        )
    return rules, unknown


@dataclasses.dataclass
class XccdfRead:
    scan: ParsedScan
    spec_version: str  # "1.2" or "1.1"


def xccdf_read(root: etree._Element, *, test_result_id: str | None = None) -> XccdfRead:
    """Read a parsed results document (see ``safe_xml``)."""
    source_format, results, benchmarks = _locate(root)
    result = _pick_result(results, test_result_id)
    reader = _Reader(_namespace(result))
    benchmark = _pick_benchmark(result, benchmarks, reader)
    catalog = reader.benchmark_rules(benchmark) if benchmark is not None else None

    rules, unknown = _rule_results(result, reader, catalog)
    ref = reader.child(result, "benchmark")
    result_benchmark = ref.get("id", "") if ref is not None else ""
    if unknown:
        named = result_benchmark or "an unnamed benchmark"
        raise _refuse(
            f"{len(unknown)} rule results name rules the document's benchmark "
            f"{benchmark.get('id', '')} does not have (e.g. {unknown[0]}): the "
            f"results are for benchmark {named}, the document's benchmark is "
            f"{benchmark.get('id', '')}."
        )
    if not rules:
        raise _refuse("The TestResult holds no rule results.")
    benchmark_id = benchmark.get("id", "") if benchmark is not None else ""
    benchmark_id = benchmark_id or result_benchmark
    if not benchmark_id:
        raise _refuse(
            "The TestResult names no benchmark and the document includes none: "
            "which STIG it was checked against is unknown."
        )
    profile_id, profile_title = _profile(result, benchmark, reader)
    score, score_max, score_system = _score(result, reader)
    scan = ParsedScan(
        source_format=source_format,
        benchmark_id=_strip(benchmark_id, "benchmark"),
        benchmark_title=(
            _text(reader.child(benchmark, "title")) if benchmark is not None else ""
        ),
        benchmark_version=(
            _text(reader.child(benchmark, "version")) if benchmark is not None else ""
        )
        or result.get("version", ""),
        release_info=_release_info(benchmark, reader) if benchmark is not None else "",
        profile_id=profile_id,
        profile_title=profile_title,
        scanner=_scanner(result, reader),
        target=_text(reader.child(result, "target")),
        started_at=_when(result.get("start-time"), "start time"),
        finished_at=_when(result.get("end-time"), "end time"),
        score=score,
        score_max=score_max,
        score_system=score_system,
        rules=list(rules.values()),
        subject=_subject(result, reader),
    )
    return XccdfRead(scan=scan, spec_version=reader.version)


def xccdf_parse(content: bytes, *, test_result_id: str | None = None) -> ParsedScan:
    """The scan an XCCDF 1.2/1.1 results document or an ARF report holds.

    A document with several TestResults is refused unless ``test_result_id``
    names the one to read. Raises ValidationError({"document": ...}).
    """
    return xccdf_read(safe_xml(content), test_result_id=test_result_id).scan
