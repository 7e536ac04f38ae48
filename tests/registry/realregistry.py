"""A real image registry and a real client for end-to-end tests and the benchmark.

Debian's ``docker-registry`` (distribution 2.8) is started on a free loopback
port with its own storage directory, configured from the deployed file
(deploy/registry/config.yml) with this machine's addresses: token
authentication against the live portal (its realm, service and issuer, the
portal's token certificate as ``rootcertbundle``) and notifications to the
portal's receiver with the shared secret, or no authentication at all (the
benchmark's baseline). Images are OCI layouts built in Python (a gzip tar
layer of a few bytes, a config, a manifest), no daemon; Debian's ``skopeo``
pushes and pulls them.

Every process started here is stopped when its ``with`` block ends, however it
ends, and is killed by the kernel if the process that started it dies first.
"""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
SKOPEO_BINARY = Path("/usr/bin/skopeo")
STARTUP_SECONDS = 20
STOP_SECONDS = 10
SKOPEO_SECONDS = 90
# The portal's receiver of the registry's notifications (registry:notifications).
NOTIFICATIONS_PATH = "/registry/notifications"

OCI_LAYOUT = {"imageLayoutVersion": "1.0.0"}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


def missing_tools() -> list[str]:
    """The tools this module drives that the machine lacks."""
    return [
        f"{path} (apt-get install {package})"
        for path, package in (
            (REGISTRY_BINARY, "docker-registry"),
            (SKOPEO_BINARY, "skopeo"),
        )
        if not os.access(path, os.X_OK)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # Linux: SIGTERM to the child when the thread that started it exits.
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


# -- configuration -------------------------------------------------------------

DEPLOY_CONFIG = (
    Path(__file__).resolve().parents[2] / "deploy" / "registry" / "config.yml"
)
# What the deployed registry's command replaces with the shared secret.
SECRET_PLACEHOLDER = "@REGISTRY_NOTIFICATIONS_SECRET@"


def token_auth(*, realm: str, service: str, issuer: str, rootcertbundle: str) -> dict:
    """distribution's ``auth.token`` settings that differ per installation."""
    return {
        "realm": realm,
        "service": service,
        "issuer": issuer,
        "rootcertbundle": rootcertbundle,
    }


def registry_config(
    *,
    port: int,
    storage: Path,
    token: dict | None = None,
    notify_url: str | None = None,
    notify_secret: str = "",
) -> dict:
    """deploy/registry/config.yml with this machine's addresses: the port and
    storage given, token auth with ``token``'s settings (none without it),
    notifications to ``notify_url`` with the secret where the deployed
    command writes it (none without a URL), retried within seconds."""
    config = yaml.safe_load(DEPLOY_CONFIG.read_text())
    config["log"] = {"level": "info", "formatter": "text"}
    config["storage"]["filesystem"]["rootdirectory"] = str(storage)
    config["http"]["addr"] = f"127.0.0.1:{port}"
    config["http"]["secret"] = secrets.token_hex(16)
    if token is None:
        del config["auth"]
    else:
        config["auth"]["token"].update(token)
    if notify_url is None:
        del config["notifications"]
    else:
        (endpoint,) = config["notifications"]["endpoints"]
        (header,) = endpoint["headers"]["Authorization"]
        assert SECRET_PLACEHOLDER in header, DEPLOY_CONFIG
        endpoint["headers"]["Authorization"] = [
            header.replace(SECRET_PLACEHOLDER, notify_secret)
        ]
        endpoint.update(url=notify_url, timeout="2s", threshold=3, backoff="1s")
    return config


# -- the registry process ------------------------------------------------------


class RegistryFailed(RuntimeError):
    pass


class RealRegistry:
    """One ``docker-registry serve`` process on 127.0.0.1, with its own storage.

    Use as a context manager; ``log()`` is what it wrote (for a failure's
    message)."""

    def __init__(
        self,
        workdir: Path,
        *,
        token: dict | None = None,
        notify_url: str | None = None,
        notify_secret: str = "",
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.storage = self.workdir / "storage"
        self.config_path = self.workdir / "config.yml"
        self.log_path = self.workdir / "registry.log"
        self.config = registry_config(
            port=self.port,
            storage=self.storage,
            token=token,
            notify_url=notify_url,
            notify_secret=notify_secret,
        )
        self.process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> RealRegistry:
        self.storage.mkdir(exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(REGISTRY_BINARY), "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RegistryFailed(
                    f"docker-registry exited with {self.process.returncode}:\n"
                    f"{self.log()}"
                )
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2):
                    return
            except urllib.error.HTTPError as answer:
                if answer.code == 401:  # token auth on: it answers
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RegistryFailed(
            f"docker-registry did not answer within {STARTUP_SECONDS} s:\n{self.log()}"
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_SECONDS)
        except ProcessLookupError:
            process.wait(timeout=STOP_SECONDS)

    def __enter__(self) -> RealRegistry:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def certificate_write(path: Path) -> Path:
    """The portal's token certificate, PEM, where the registry reads it
    (``auth.token.rootcertbundle``)."""
    from cryptography.hazmat.primitives import serialization

    from apps.registry.keys import token_key

    pem = token_key().certificate.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(pem)
    return path


def portal_registry(
    workdir: Path, *, portal_url: str, notifications_secret: str | None
) -> RealRegistry:
    """A registry that asks the portal at ``portal_url`` for tokens, as the
    portal's settings describe it, and tells it of pushes and pulls when a
    notifications secret is given."""
    from django.conf import settings
    from django.urls import reverse

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    portal_url = portal_url.rstrip("/")
    token = token_auth(
        realm=portal_url + reverse("registry:token"),
        service=settings.REGISTRY_SERVICE,
        issuer=settings.REGISTRY_TOKEN_ISSUER,
        rootcertbundle=str(certificate_write(workdir / "token-cert.pem")),
    )
    if notifications_secret is None:
        return RealRegistry(workdir, token=token)
    return RealRegistry(
        workdir,
        token=token,
        notify_url=portal_url + NOTIFICATIONS_PATH,
        notify_secret=notifications_secret,
    )


# -- images ---------------------------------------------------------------------


@dataclass(frozen=True)
class OciImage:
    """An OCI image layout on disk holding one tagged image."""

    layout: Path
    tag: str
    digest: str  # of the manifest: what a pull by digest names
    size: int


def _blob(blobs: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(gzip tar, plain tar) of ``files``, byte for byte the same every time."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = plain.getvalue()
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


def oci_image_build(
    directory: Path, *, payload: bytes, tag: str = "latest", arch: str = "amd64"
) -> OciImage:
    """An OCI layout in ``directory``: one layer holding ``payload`` as a
    file, its config and manifest, ``index.json`` naming the tag."""
    directory = Path(directory)
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    layer_gz, layer_tar = _layer({"etc/e2e-payload": payload})
    layer = {"mediaType": OCI_LAYER, **_blob(blobs, layer_gz)}
    config_doc = {
        "architecture": arch,
        "os": "linux",
        "config": {"Labels": {"org.opencontainers.image.title": tag}},
        "rootfs": {
            "type": "layers",
            "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"],
        },
    }
    config = {
        "mediaType": OCI_CONFIG,
        **_blob(blobs, json.dumps(config_doc, sort_keys=True).encode()),
    }
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": [layer],
    }
    manifest = {
        "mediaType": OCI_MANIFEST,
        **_blob(blobs, json.dumps(manifest_doc, sort_keys=True).encode()),
    }
    index = {
        "schemaVersion": 2,
        "manifests": [{**manifest, "annotations": {REF_NAME: tag}}],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text(json.dumps(OCI_LAYOUT))
    return OciImage(
        layout=directory, tag=tag, digest=manifest["digest"], size=manifest["size"]
    )


def oci_layout_digest(directory: Path, tag: str) -> str | None:
    """The manifest digest ``index.json`` of a layout gives ``tag``."""
    try:
        index = json.loads((Path(directory) / "index.json").read_text())
    except FileNotFoundError:
        return None
    for entry in index.get("manifests", []):
        if entry.get("annotations", {}).get(REF_NAME) == tag:
            return entry["digest"]
    return None


# -- the client --------------------------------------------------------------------


@dataclass(frozen=True)
class SkopeoResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def __str__(self) -> str:
        return (
            f"skopeo exited {self.returncode}: {' '.join(self.argv[1:4])} ...\n"
            f"{self.stderr.strip()}"
        )


Credentials = tuple[str, str] | None


class Skopeo:
    """Debian's skopeo with a home of its own: no login or configuration of
    the machine's user leaks in, and every call names its credentials."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.policy = self.home / "policy.json"
        self.policy.write_text(
            json.dumps({"default": [{"type": "insecureAcceptAnything"}]})
        )

    def run(self, *args: str) -> SkopeoResult:
        argv = [str(SKOPEO_BINARY), "--policy", str(self.policy), *args]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "TMPDIR": str(self.home),
        }
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                timeout=SKOPEO_SECONDS,
                check=False,
                preexec_fn=_die_with_parent,
            )
        except subprocess.TimeoutExpired as exc:
            return SkopeoResult(argv, -1, "", f"timed out: {exc}")
        return SkopeoResult(argv, done.returncode, done.stdout, done.stderr)

    @staticmethod
    def _creds(prefix: str, creds: Credentials) -> list[str]:
        if creds is None:
            return [f"--{prefix}no-creds"]
        return [f"--{prefix}creds", f"{creds[0]}:{creds[1]}"]

    def push(
        self, image: OciImage, host: str, path: str, *, creds: Credentials
    ) -> SkopeoResult:
        return self.run(
            "copy",
            "--retry-times",
            "0",
            "--dest-tls-verify=false",
            *self._creds("dest-", creds),
            f"oci:{image.layout}:{image.tag}",
            f"docker://{host}/{path}:{image.tag}",
        )

    def pull(
        self, host: str, path: str, tag: str, dest: Path, *, creds: Credentials
    ) -> tuple[SkopeoResult, str | None]:
        """Copy the image into an OCI layout at ``dest``; the result and the
        manifest digest that arrived (None when nothing did)."""
        shutil.rmtree(dest, ignore_errors=True)
        result = self.run(
            "copy",
            "--retry-times",
            "0",
            "--src-tls-verify=false",
            *self._creds("src-", creds),
            f"docker://{host}/{path}:{tag}",
            f"oci:{dest}:{tag}",
        )
        return result, (oci_layout_digest(dest, tag) if result.ok else None)

    def inspect_raw(
        self, host: str, path: str, tag: str, *, creds: Credentials
    ) -> SkopeoResult:
        return self.run(
            "inspect",
            "--retry-times",
            "0",
            "--raw",
            "--tls-verify=false",
            *self._creds("", creds),
            f"docker://{host}/{path}:{tag}",
        )
