"""STIG Viewer 2.x checklists (.ckl, XML), read and written.

XML is parsed without DTDs, entities or network access, and a document declaring
entities is refused outright.
"""

from __future__ import annotations

import re

from lxml import etree

from .checklist import (
    ASSET_ELEMENTS,
    SI_NAMES,
    VULN_ATTRIBUTES,
    VULN_REPEATED,
    VULN_REVIEW,
    Asset,
    Checklist,
    Stig,
    StigInfo,
    Vuln,
    check_size,
    checklist_to_parsed,
    refuse,
)
from .parsed import ParsedScan

# The first line after the XML declaration: the format marker STIG Viewer 2.x
# writes, and which other tools writing its format (Evaluate-STIG) write too.
CKL_COMMENT = "DISA STIG Viewer :: 2.17"
CKL_STATUSES = ("NotAFinding", "Open", "Not_Applicable", "Not_Reviewed")

# Entity expansion (billion laughs) and external entities: a checklist never
# needs them, so a document declaring any is refused before it is parsed.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ENTITIES_REFUSED = "The checklist declares XML entities in its DOCTYPE; refused."
_NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_ATTRIBUTE_FIELD = dict(VULN_ATTRIBUTES)
_REPEATED_FIELD = dict(VULN_REPEATED)
_REVIEW_FIELD = dict(VULN_REVIEW)


def _xml_root(content: bytes) -> etree._Element:
    check_size(content)
    if _ENTITY_DECLARATION.search(content):
        raise refuse(_ENTITIES_REFUSED)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        reason = re.sub(r",? line \d+, column \d+$", "", exc.msg or "").strip()
        raise refuse(
            f"The checklist is not well-formed XML (line {line}, column {column}): "
            f"{reason}."
        ) from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        # Declarations the byte check cannot see (another encoding than UTF-8).
        raise refuse(_ENTITIES_REFUSED)
    if root.tag != "CHECKLIST":
        raise refuse(
            f"The root element is <{root.tag}> (line {root.sourceline}); a STIG Viewer "
            "checklist starts with <CHECKLIST>."
        )
    return root


def _text(element: etree._Element | None) -> str:
    if element is None:
        return ""
    if len(element):
        # An element inside a text field: an entity reference left unexpanded, or
        # markup where text belongs.
        raise refuse(
            f"<{element.tag}> on line {element.sourceline} holds markup where text "
            "belongs."
        )
    return element.text or ""


def _ckl_vuln(element: etree._Element) -> Vuln:
    vuln = Vuln(legacy_ids=[], ccis=[])
    for child in element:
        if child.tag == "STIG_DATA":
            name = _text(child.find("VULN_ATTRIBUTE"))
            value = _text(child.find("ATTRIBUTE_DATA"))
            if name in _ATTRIBUTE_FIELD:
                setattr(vuln, _ATTRIBUTE_FIELD[name], value)
            elif name in _REPEATED_FIELD:
                getattr(vuln, _REPEATED_FIELD[name]).append(value)
            # Attributes a later STIG Viewer may add are not ours to keep.
        elif child.tag in _REVIEW_FIELD:
            setattr(vuln, _REVIEW_FIELD[child.tag], _text(child))
    rule = vuln.rule_id or vuln.vuln_num
    if not rule:
        raise refuse(f"The VULN on line {element.sourceline} has no Rule_ID.")
    if vuln.status not in CKL_STATUSES:
        raise refuse(
            f"Rule {rule} (line {element.sourceline}) has the status "
            f"{vuln.status!r}; a checklist status is one of "
            f"{', '.join(CKL_STATUSES)}."
        )
    return vuln


def ckl_loads(content: bytes) -> Checklist:
    """Read a STIG Viewer 2.x .ckl."""
    root = _xml_root(content)
    asset = Asset()
    asset_element = root.find("ASSET")
    if asset_element is not None:
        for tag, name in ASSET_ELEMENTS:
            value = _text(asset_element.find(tag))
            if name == "web_or_database":
                setattr(asset, name, value.strip().lower() == "true")
            else:
                setattr(asset, name, value)
    istigs = root.findall("STIGS/iSTIG")
    if not istigs:
        raise refuse("The checklist has no STIGS/iSTIG: no STIG in it.")
    stigs = []
    for istig in istigs:
        info = StigInfo()
        for si in istig.findall("STIG_INFO/SI_DATA"):
            name = _text(si.find("SID_NAME"))
            if name in SI_NAMES:
                setattr(info, name, _text(si.find("SID_DATA")))
        vulns = [_ckl_vuln(v) for v in istig.findall("VULN")]
        stigs.append(Stig(info=info, vulns=vulns))
    return Checklist(asset=asset, stigs=stigs)


def _xml_text(value: str) -> str:
    return _NOT_XML_CHARS.sub("", value)


def _leaf(parent: etree._Element, tag: str, value: str | None) -> None:
    element = etree.SubElement(parent, tag)
    if value is not None:
        # Text "" (not None) writes <TAG></TAG>, as STIG Viewer does.
        element.text = _xml_text(value)


def ckl_dumps(checklist: Checklist) -> bytes:
    """Write a .ckl as STIG Viewer 2.x does: its element order, tab indents, its
    header comment, an empty SI_DATA without SID_DATA."""
    root = etree.Element("CHECKLIST")
    asset = etree.SubElement(root, "ASSET")
    for tag, name in ASSET_ELEMENTS:
        value = getattr(checklist.asset, name)
        if isinstance(value, bool):
            value = "true" if value else "false"
        _leaf(asset, tag, value)
    stigs = etree.SubElement(root, "STIGS")
    for stig in checklist.stigs:
        istig = etree.SubElement(stigs, "iSTIG")
        info = etree.SubElement(istig, "STIG_INFO")
        for name in SI_NAMES:
            si = etree.SubElement(info, "SI_DATA")
            _leaf(si, "SID_NAME", name)
            value = getattr(stig.info, name)
            if value:
                _leaf(si, "SID_DATA", value)
        for vuln in stig.vulns:
            element = etree.SubElement(istig, "VULN")
            for attribute, name in VULN_ATTRIBUTES:
                data = etree.SubElement(element, "STIG_DATA")
                _leaf(data, "VULN_ATTRIBUTE", attribute)
                _leaf(data, "ATTRIBUTE_DATA", getattr(vuln, name))
            for attribute, name in VULN_REPEATED:
                for value in getattr(vuln, name):
                    data = etree.SubElement(element, "STIG_DATA")
                    _leaf(data, "VULN_ATTRIBUTE", attribute)
                    _leaf(data, "ATTRIBUTE_DATA", value)
            for tag, name in VULN_REVIEW:
                _leaf(element, tag, getattr(vuln, name))
    etree.indent(root, space="\t")
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<!--{CKL_COMMENT}-->\n'
    return head.encode() + body


def ckl_parse(content: bytes) -> ParsedScan:
    """A .ckl as the importer stores it."""
    return checklist_to_parsed(ckl_loads(content), source_format="ckl")
