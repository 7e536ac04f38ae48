"""The input walker: bad input at every door of its kind, found by walking the
project rather than listed by hand, so a new door is covered when it appears.

* Every URL pattern with a path parameter (from the URL resolver, as the
  tenancy walker finds them) is requested with NUL and another control
  character in each parameter, GET and POST: 400 from the input guard, naming
  the parameter where the pattern's converter can hold the character.
* Every API operation that takes a JSON body (from the OpenAPI schema the
  router's views generate) gets a NUL in a string, a 10,000-deep array and a
  100,000-digit number, and every one that takes a form a NUL in a field:
  400 saying why, nothing written.
* Every kind of evidence the door registers, through the service, the staff
  upload page and the API, and every management command that reads a JSON
  file, gets a too-deep document, a 100,000-digit number and a NUL (and each
  inside a zip): a clear refusal, nothing stored.

The data is the tenancy walker's world (tests/test_tenancy.py), built once
for this module; every case runs in its own savepoint.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import Resolver404, resolve, reverse
from drf_spectacular.generators import SchemaGenerator

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.evidence.ingest import NEEDS_DIGEST, EvidenceKind, evidence_import
from apps.orgs.models import Role
from tests import test_tenancy as tenancy
from tests.factories import MembershipFactory, UserFactory
from tests.walker import Route, discover_routes

pytestmark = pytest.mark.django_db

# The tenancy walker's world, built once for this module, and its media.
world = tenancy.world
world_media = tenancy.world_media
_media = tenancy._media
API_SPECS = tenancy.API_SPECS
fingerprint = tenancy.fingerprint

# --------------------------------------------------------------------------
# What nothing written means: every table's row count and every stored file.
# --------------------------------------------------------------------------


def everything() -> dict:
    from django.conf import settings

    media = Path(settings.MEDIA_ROOT)
    state = {m._meta.label: m._base_manager.count() for m in apps.get_models()}
    state["files"] = sorted(str(p) for p in media.rglob("*") if p.is_file())
    state.update({f"tenants.{k}": v for k, v in fingerprint().items()})
    return state


def changed(before: dict) -> list[str]:
    """What differs from ``before``: tables, stored files, tenant rows."""
    after = everything()
    return sorted(k for k in before if before[k] != after[k])


# --------------------------------------------------------------------------
# Path parameters
# --------------------------------------------------------------------------

CONTROL_CHARACTERS = ("\x00", "\x1f")
_PARAMETER = re.compile(r"\(\?P<(\w+)>([^)]*)\)|<(?:(\w+):)?(\w+)>")
# A value each converter takes; a regex parameter gets the first that fits.
_SAMPLE = {
    "int": "1",
    "uuid": "00000000-0000-4000-8000-000000000001",
    "slug": "acme",
    "str": "x1",
    "path": "x1",
}
_CANDIDATES = ("x1", "1", "json", _SAMPLE["uuid"])


def _parameters(route: str) -> list[tuple[str, str]]:
    """(name, converter or pattern) of each parameter, in order."""
    found = []
    for m in _PARAMETER.finditer(route):
        if m.group(1):
            found.append((m.group(1), m.group(2)))
        else:
            found.append((m.group(4), m.group(3) or "str"))
    return found


def _render(route: str, values: dict[str, str]) -> str:
    def value(m: re.Match) -> str:
        return values[m.group(1) or m.group(4)]

    path = _PARAMETER.sub(value, route)
    path = path.replace("^", "").replace("$", "").replace("\\.", ".")
    return "/" + path.replace("/?", "/")


def _sample(kind: str) -> str:
    if kind in _SAMPLE:
        return _SAMPLE[kind]
    # A choice of names (the admin's app labels): the first.
    candidates = (*_CANDIDATES, kind.split("|")[0])
    return next(c for c in candidates if re.fullmatch(kind, c))


ROUTES_WITH_PARAMETERS = [r for r in discover_routes() if _parameters(r.route)]


def test_the_walk_finds_the_routes_with_parameters():
    assert len(ROUTES_WITH_PARAMETERS) > 100
    names = {r.name for r in ROUTES_WITH_PARAMETERS}
    assert {"api:repository-detail", "api:vulnerability-detail"} <= names


@pytest.mark.parametrize(
    "route", ROUTES_WITH_PARAMETERS, ids=lambda r: r.name or r.route
)
def test_a_control_character_in_any_path_parameter_is_400(route: Route):
    samples = {name: _sample(kind) for name, kind in _parameters(route.route)}
    assert resolve(_render(route.route, samples)).route == route.route
    client = Client(raise_request_exception=False)
    for name in samples:
        for char in CONTROL_CHARACTERS:
            raw = _render(route.route, {**samples, name: samples[name] + char})
            # Where the pattern holds the character, the guard names the
            # parameter; where it cannot (an int, a slug), the path.
            named = name if _route_of(raw) == route.route else "path"
            path = raw.replace(char, f"%{ord(char):02X}")
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                assert response.status_code == 400, (method, path, response)
                if path.startswith("/api/"):
                    assert list(response.json()) == [named], path
                elif named != "path":
                    assert f"\u201c{named}\u201d" in response.content.decode(), path


def _route_of(path: str) -> str | None:
    try:
        return resolve(path).route
    except Resolver404:
        return None


# --------------------------------------------------------------------------
# JSON bodies on the API
# --------------------------------------------------------------------------

DEEP = b"[" * 10_000 + b"]" * 10_000
LONG_NUMBER = b"1" * 100_000


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _body_operations() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(method, schema path, a field of the body, media types) of every
    operation the schema says takes a request body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema.get("components", {}).get("schemas", {})
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            if not content:
                continue
            first = next(iter(content.values()))
            ref = first.get("schema", {}).get("$ref", "")
            body = components.get(ref.rsplit("/", 1)[-1], {})
            field = next(iter(body.get("properties", {})), "name")
            found.append((method, path, field, tuple(content)))
    return found


BODY_OPERATIONS = _body_operations()
JSON_OPERATIONS = [
    (method, path, field)
    for method, path, field, types in BODY_OPERATIONS
    if "application/json" in types
]
FORM_OPERATIONS = [
    (method, path, field, media)
    for method, path, field, types in BODY_OPERATIONS
    for media in types
    if media in FORM_TYPES
]


def test_the_walk_finds_the_operations_with_a_body():
    assert len(JSON_OPERATIONS) >= 5
    paths = {path for _, path, _ in JSON_OPERATIONS}
    assert {"/api/v1/auditor-grants/", "/api/v1/customizations/"} <= paths
    assert ("post", "/api/v1/evidence/", "kind", "multipart/form-data") in (
        FORM_OPERATIONS
    )


def _url(schema_path: str, refs: dict) -> str:
    name = resolve(re.sub(r"\{\w+\}", "1", schema_path)).view_name
    spec = next((s for s in API_SPECS if s.name == name), None)
    kwargs = {k: refs[v] for k, v in spec.kwargs.items()} if spec else {}
    return reverse(name, kwargs=kwargs)


def _all_scopes_token(w) -> dict:
    """A token that passes every API door: every scope, made by a publisher
    staff member who is also an owner of the organization."""
    maker = MembershipFactory(
        org=w.org, role=Role.OWNER, user=UserFactory(is_staff=True)
    ).user
    _, raw = api_token_create(
        org=w.org,
        name="input-walker",
        scopes=list(ApiToken.Scope.values),
        expires_at=None,
        actor=maker,
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.mark.parametrize(
    ("method", "schema_path", "field"),
    JSON_OPERATIONS,
    ids=[f"{m.upper()} {p}" for m, p, _ in JSON_OPERATIONS],
)
def test_every_json_operation_refuses_bad_bodies_with_400(
    world, method, schema_path, field
):
    url = _url(schema_path, world.refs)
    headers = _all_scopes_token(world)
    client = Client(raise_request_exception=False)
    bodies = {
        "nul": (json.dumps({field: "mon\u0000go"}).encode(), "NUL character"),
        "deep": (DEEP, "nested too deeply"),
        "long": (b'{"' + field.encode() + b'": ' + LONG_NUMBER + b"}", "long"),
    }
    for what, (body, says) in bodies.items():
        before = everything()
        response = getattr(client, method)(
            url, body, content_type="application/json", **headers
        )
        assert response.status_code == 400, (what, response.content[:300])
        answer = response.json()
        if what == "nul":
            assert list(answer) == [field], answer
            assert says in answer[field][0]
        else:
            assert answer["detail"].startswith("JSON parse error - "), answer
            assert says in answer["detail"], answer
        assert not changed(before), f"{what}: a refused body wrote something"


@pytest.mark.parametrize(
    ("method", "schema_path", "field", "media"),
    FORM_OPERATIONS,
    ids=[f"{m.upper()} {p} {t}" for m, p, _, t in FORM_OPERATIONS],
)
def test_every_form_operation_refuses_nul_with_400(
    world, method, schema_path, field, media
):
    url = _url(schema_path, world.refs)
    headers = _all_scopes_token(world)
    client = Client(raise_request_exception=False)
    if media == "multipart/form-data":
        body = encode_multipart(BOUNDARY, {field: "mon\x00go"})
        content_type = MULTIPART_CONTENT
    else:
        body, content_type = urlencode({field: "mon\x00go"}).encode(), media
    before = everything()
    response = client.generic(
        method.upper(), url, body, content_type=content_type, **headers
    )
    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == [field], response.json()
    assert "NUL character" in response.json()[field][0]
    assert not changed(before), "a refused body wrote something"


# --------------------------------------------------------------------------
# Evidence: every kind, through every door
# --------------------------------------------------------------------------

BAD_DOCUMENTS = {
    "deep": (b'{"a": ' + DEEP + b"}", "nested too deeply"),
    "long-number": (b'{"id": "X-1", "n": ' + LONG_NUMBER + b"}", "characters long"),
    "nul": (b'{"id": "X-1", "summary": "a\\u0000b"}', "NUL character"),
}


def zipped(content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("advisories/X-1.json", content)
    return out.getvalue()


def _digest(kind: str, w) -> str:
    # A STIG build: the STIG importer takes nothing else, the others read the
    # document before they look at the build.
    return w.refs["stig_scan_digest"] if kind in NEEDS_DIGEST else ""


def _evidence_cases():
    for kind in EvidenceKind.values:
        for name in BAD_DOCUMENTS:
            yield pytest.param(kind, name, id=f"{kind}-{name}")


def _refused_as(exc: Exception) -> str:
    return " ".join(getattr(exc, "messages", [str(exc)]))


@pytest.mark.parametrize(("kind", "bad"), list(_evidence_cases()))
def test_every_evidence_kind_refuses_bad_json_and_stores_nothing(world, kind, bad):
    content, says = BAD_DOCUMENTS[bad]
    staff = world.users["staff"]
    for label, document in (("plain", content), ("zip", zipped(content))):
        before = everything()
        with pytest.raises(Exception) as exc:  # noqa: PT011  (checked below)
            evidence_import(
                kind=kind,
                content=document,
                digest=_digest(kind, world),
                actor=staff,
                match=False,
            )
        assert type(exc.value).__name__ == "ValidationError", exc.value
        message = _refused_as(exc.value)
        assert message.strip(), label
        if label == "plain" or kind == EvidenceKind.OSV:
            # OSV reads zips: the member is named with the reason.
            assert says in message, (label, message)
        assert not changed(before), f"{label}: a refused document was stored"


@pytest.mark.parametrize(("kind", "bad"), list(_evidence_cases()))
def test_the_upload_page_and_the_api_refuse_bad_json(world, kind, bad):
    content, says = BAD_DOCUMENTS[bad]
    digest = _digest(kind, world)
    page = Client(raise_request_exception=False)
    page.force_login(world.users["staff"])
    # The first signed-in request records the session (allauth's
    # usersessions): that write is the sign-in's, not the upload's.
    assert page.get(reverse("staff_evidence")).status_code == 200
    api = Client(raise_request_exception=False)
    headers = _all_scopes_token(world)
    for door in ("page", "api"):
        before = everything()
        upload = SimpleUploadedFile("doc.json", content, "application/json")
        data = {"kind": kind, "digest": digest, "document": upload}
        if door == "page":
            response = page.post(reverse("staff_evidence"), data)
            text = response.content.decode()
        else:
            response = api.post(reverse("api:evidence-import"), data, **headers)
            text = json.dumps(response.json())
        assert response.status_code == 400, (door, response.status_code)
        assert says in text.replace("&#x27;", "'"), (door, text[:500])
        assert not changed(before), f"{door}: a refused document was stored"


# Commands that take a file but read no JSON: their own tests cover them.
NOT_JSON_COMMANDS = {"verify_report": "reads report files; tests/reports/"}


def _file_commands() -> list[tuple[str, list[str]]]:
    """Every project command with a ``file`` or ``path`` argument, and its
    positional arguments in order."""
    found = []
    for name, app in sorted(get_commands().items()):
        if not app.startswith("apps.") or name in NOT_JSON_COMMANDS:
            continue
        parser = load_command_class(app, name).create_parser("manage.py", name)
        positional = [a.dest for a in parser._actions if not a.option_strings]
        if {"file", "path"} & set(positional):
            found.append((name, positional))
    return found


FILE_COMMANDS = _file_commands()


def test_the_walk_finds_the_import_commands():
    names = {name for name, _ in FILE_COMMANDS}
    assert {"import_sbom", "import_osv", "import_kev", "import_vex"} <= names
    assert len(names) >= 7


@pytest.mark.parametrize(
    ("command", "positional"), FILE_COMMANDS, ids=[n for n, _ in FILE_COMMANDS]
)
@pytest.mark.parametrize("bad", BAD_DOCUMENTS)
def test_every_import_command_refuses_bad_json(
    world, tmp_path, command, positional, bad
):
    from django.core.management import call_command

    content, says = BAD_DOCUMENTS[bad]
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    values = {"digest": world.refs["stig_scan_digest"], "file": str(path)}
    values["path"] = str(path)
    # verify_evidence FILE SIGNATURE: the envelope is the JSON it reads.
    values["signature"] = str(path)
    before = everything()
    with pytest.raises(CommandError) as exc:
        call_command(command, *[values[p] for p in positional])
    assert says in str(exc.value), str(exc.value)
    assert not changed(before), "a refused file was stored"
