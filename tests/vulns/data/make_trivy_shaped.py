"""Write the Trivy-shaped CycloneDX SBOMs in this directory.

    python tests/vulns/data/make_trivy_shaped.py

Trivy (0.58, ``trivy image --format cyclonedx``) writes a Debian or Ubuntu
binary's source package only as component properties
(``aquasecurity:trivy:SrcName``, ``SrcVersion``, ``SrcRelease``,
``SrcEpoch``), never in the purl; the purl carries ``distro=<family>-<release>``
and the binary's epoch as an ``epoch`` qualifier. These files have that shape:

- ``trivy-shaped__mongo-ubuntu-20.04.cdx.json``: the 153 Ubuntu 20.04 packages
  of the real Syft SBOM of docker.io/library/mongo in
  ``apps/catalog/testdata/guac__big-mongo-cyclonedx.json`` (guacsec/guac,
  Apache-2.0), rewritten as Trivy writes them: names, versions, licences and
  source packages (Syft's ``upstream`` qualifier) carried over, nothing else.
- ``trivy-shaped__ubuntu-22.04.cdx.json``: a small Ubuntu 22.04 image whose
  package list is written here (libssl3 among binaries of other names), at
  the versions ``ubuntu:22.04`` shipped in 2024 (libssl3 3.0.2-0ubuntu1.12).
  With ``--libssl3 VERSION`` the same image at another openssl version.

The output is deterministic (fixed serial numbers and times) so the files are
committed and the script only rewrites them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import uuid
from pathlib import Path

from packageurl import PackageURL

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
MONGO = ROOT / "apps/catalog/testdata/guac__big-mongo-cyclonedx.json"
TRIVY = {"type": "application", "group": "aquasecurity", "name": "trivy"}
TRIVY_VERSION = "0.58.0"
LAYER = "sha256:" + "1" * 64


def deb_version(text: str) -> tuple[str, str, str]:
    """(epoch, upstream version, revision) of a Debian version string."""
    epoch, _, rest = text.rpartition(":") if ":" in text else ("", "", text)
    version, _, release = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return epoch, version, release


def component(
    family: str, release: str, name: str, version: str, source: str, source_version: str
) -> dict:
    epoch, upstream, revision = deb_version(version)
    qualifiers = {"arch": "amd64", "distro": f"{family}-{release}"}
    if epoch:
        qualifiers["epoch"] = epoch
    purl = PackageURL(
        type="deb",
        namespace=family,
        name=name,
        version=f"{upstream}-{revision}" if revision else upstream,
        qualifiers=qualifiers,
    ).to_string()
    src_epoch, src_version, src_release = deb_version(source_version)
    properties = [
        ("aquasecurity:trivy:LayerDiffID", LAYER),
        ("aquasecurity:trivy:LayerDigest", LAYER),
        ("aquasecurity:trivy:PkgID", f"{name}@{version}"),
        ("aquasecurity:trivy:PkgType", family),
        ("aquasecurity:trivy:SrcName", source),
        ("aquasecurity:trivy:SrcRelease", src_release),
        ("aquasecurity:trivy:SrcVersion", src_version),
    ]
    if src_epoch:
        properties.append(("aquasecurity:trivy:SrcEpoch", src_epoch))
    return {
        "bom-ref": purl,
        "type": "library",
        "supplier": {"name": f"{family.title()} Developers"},
        "name": name,
        "version": version,
        "purl": purl,
        "properties": [{"name": k, "value": v} for k, v in sorted(properties)],
    }


def document(
    image: str, digest: str, family: str, release: str, packages: list[tuple]
) -> dict:
    components = [component(family, release, *p) for p in packages]
    os_ref = hashlib.sha256(f"{image}/os".encode()).hexdigest()[:32]
    image_purl = f"pkg:oci/{image.rsplit('/', 1)[-1]}@{digest.replace(':', '%3A')}"
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "urn:uuid:"
        + str(uuid.UUID(hashlib.sha256(digest.encode()).hexdigest()[:32])),
        "version": 1,
        "metadata": {
            "timestamp": "2024-11-04T09:00:00+00:00",
            "tools": {"components": [{**TRIVY, "version": TRIVY_VERSION}]},
            "component": {
                "bom-ref": image_purl,
                "type": "container",
                "name": image,
                "purl": image_purl,
                "properties": [
                    {"name": "aquasecurity:trivy:SchemaVersion", "value": "2"},
                    {
                        "name": "aquasecurity:trivy:RepoDigest",
                        "value": f"{image}@{digest}",
                    },
                ],
            },
        },
        "components": [
            {
                "bom-ref": os_ref,
                "type": "operating-system",
                "name": family,
                "version": release,
                "properties": [
                    {"name": "aquasecurity:trivy:Class", "value": "os-pkgs"},
                    {"name": "aquasecurity:trivy:Type", "value": family},
                ],
            },
            *components,
        ],
        "dependencies": [
            {"ref": image_purl, "dependsOn": [os_ref]},
            {"ref": os_ref, "dependsOn": [c["bom-ref"] for c in components]},
        ],
    }


def mongo() -> dict:
    syft = json.loads(MONGO.read_text())
    packages = []
    for item in syft["components"]:
        purl = PackageURL.from_string(item.get("purl") or "pkg:generic/x")
        if purl.type != "deb":
            continue
        qualifiers = purl.qualifiers or {}
        upstream = qualifiers.get("upstream", "")
        source, _, source_version = upstream.partition("@")
        packages.append(
            (
                item["name"],
                item["version"],
                source or item["name"],
                source_version or item["version"],
            )
        )
    subject = syft["metadata"]["component"]
    return document(subject["name"], subject["version"], "ubuntu", "20.04", packages)


# Binaries of ubuntu:22.04 (2024) whose source package has another name, and
# some that are their own source. (binary, version, source, source version)
JAMMY = [
    ("libc6", "2.35-0ubuntu3.8", "glibc", "2.35-0ubuntu3.8"),
    ("libc-bin", "2.35-0ubuntu3.8", "glibc", "2.35-0ubuntu3.8"),
    ("libzstd1", "1.4.8+dfsg-3build1", "libzstd", "1.4.8+dfsg-3build1"),
    ("libgnutls30", "3.7.3-4ubuntu1.5", "gnutls28", "3.7.3-4ubuntu1.5"),
    ("libsystemd0", "249.11-0ubuntu3.12", "systemd", "249.11-0ubuntu3.12"),
    ("bsdutils", "1:2.37.2-4ubuntu3.4", "util-linux", "2.37.2-4ubuntu3.4"),
    ("login", "1:4.8.1-2ubuntu2.2", "shadow", "1:4.8.1-2ubuntu2.2"),
    ("passwd", "1:4.8.1-2ubuntu2.2", "shadow", "1:4.8.1-2ubuntu2.2"),
    ("zlib1g", "1:1.2.11.dfsg-2ubuntu9.2", "zlib", "1:1.2.11.dfsg-2ubuntu9.2"),
    ("tar", "1.34+dfsg-1ubuntu0.1.22.04.2", "tar", "1.34+dfsg-1ubuntu0.1.22.04.2"),
    ("bash", "5.1-6ubuntu1.1", "bash", "5.1-6ubuntu1.1"),
    ("coreutils", "8.32-4.1ubuntu1.2", "coreutils", "8.32-4.1ubuntu1.2"),
]


def jammy(libssl3: str) -> dict:
    packages = [*JAMMY, ("libssl3", libssl3, "openssl", libssl3)]
    return document(
        "docker.io/library/ubuntu",
        "sha256:" + hashlib.sha256(f"ubuntu:22.04 {libssl3}".encode()).hexdigest(),
        "ubuntu",
        "22.04",
        sorted(packages),
    )


def write(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libssl3", help="write only the 22.04 image at this version")
    args = parser.parse_args()
    if args.libssl3:
        print(json.dumps(jammy(args.libssl3), indent=2))
    else:
        write(HERE / "trivy-shaped__mongo-ubuntu-20.04.cdx.json", mongo())
        write(HERE / "trivy-shaped__ubuntu-22.04.cdx.json", jammy("3.0.2-0ubuntu1.12"))
