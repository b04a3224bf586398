"""`mlopsctl push` and `build --push`: send an image tar to an OCI registry over the
distribution API (HEAD each blob first: what the registry has is not sent again), then
record the pushed reference in the image's lock.

Written on the standard library's http.client rather than shelling out to skopeo: the
blobs stream straight out of the tar (skopeo unpacks an oci-archive to a temporary folder
first), the manifest goes up byte for byte (so the registry's digest is the lock's), and
the registry's own error message reaches the user."""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import tarfile
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPResponse, HTTPSConnection
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urljoin, urlsplit

from mlopsctl.core import proc
from mlopsctl.core.files import write_atomic
from mlopsctl.errors import BadInput, EnvironmentProblem

DOCKER_HUB = "registry-1.docker.io"
_HUB_KEYS = ("https://index.docker.io/v1/", "docker.io", "index.docker.io", DOCKER_HUB)
_MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
_BLOCK = 1 << 20
_PARALLEL = 4  # blob uploads at once
_TLS_HINT = "for a registry on loopback without TLS pass --tls-verify=false"


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port]
    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


def parse_image_ref(ref: str, default_tag: str | None = None) -> ImageRef:
    """REGISTRY/REPO[:TAG] as docker reads it: a first part with a dot, a colon or
    `localhost` is the registry, else Docker Hub (`library/` for one-part names)."""
    text = ref.removeprefix("docker://")
    if "@" in text:
        raise BadInput(f"{ref}: push to a tag, not a digest", "name REGISTRY/REPO[:TAG]")
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, text if "/" in text else f"library/{text}"
    repository, _, tag = path.rpartition(":") if ":" in path else (path, "", "")
    tag = tag or default_tag or "latest"
    if not re.fullmatch(r"[a-z0-9]+([._/-]+[a-z0-9]+)*", repository) or not re.fullmatch(
        r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag
    ):
        raise BadInput(
            f"{ref} is not an image reference",
            "name REGISTRY/REPO[:TAG], e.g. quay.io/team/churn:v1.2.0",
        )
    return ImageRef(registry, repository, tag)


def auth_files() -> list[Path]:
    """Where podman, skopeo and docker keep registry credentials, first match wins."""
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    files.append(config / "containers" / "auth.json")
    docker = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    files.append(docker / "config.json")
    return files


def credentials(registry: str) -> tuple[str, str] | None:
    """(user, password) for `registry` from the first auth file that has it: an `auths`
    entry, or (docker's config.json) the credential helper `credHelpers` names for it or
    the `credsStore` of every registry, run as docker runs it."""
    keys = _HUB_KEYS if registry == DOCKER_HUB else (registry,)
    for path in auth_files():
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
            auths = config.get("auths") or {}
        except (OSError, ValueError, AttributeError):
            continue
        for key, entry in auths.items():
            host = re.sub(r"^https?://", "", key).split("/")[0]
            if (key in keys or host in keys) and isinstance(entry, dict) and entry.get("auth"):
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                return user, password
        helpers = config.get("credHelpers") or {}
        helper = next((helpers[k] for k in keys if k in helpers), None) or config.get("credsStore")
        if isinstance(helper, str) and helper:
            found = _from_helper(helper, keys[0])
            if found is not None:
                return found
    return None


def _from_helper(helper: str, server: str) -> tuple[str, str] | None:
    """`docker-credential-HELPER get` with the server on stdin (the docker-credential-helpers
    protocol): its Username and Secret, None when it has none or is not installed."""
    program = proc.which(f"docker-credential-{helper}")
    if program is None:
        return None
    done = proc.run([program, "get"], input=server, timeout=60)
    if not done.ok:
        return None  # "credentials not found in native keychain": anonymous
    try:
        answer = json.loads(done.stdout)
        return str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class PushResult:
    ref: str
    digest: str
    sent: list[str] = field(default_factory=list)  # blob digests uploaded
    skipped: list[str] = field(default_factory=list)  # blobs the registry had
    bytes_sent: int = 0
    lock: Path | None = None


class _Slice:
    """A file-like view of one tar member's bytes (streamed, never read whole)."""

    def __init__(self, fh: IO[bytes], offset: int, size: int) -> None:
        self.fh, self.left = fh, size
        fh.seek(offset)

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.fh.read(n)
        self.left -= len(data)
        return data


class _ImageTar:
    """The manifest and blobs of the one image in an OCI-layout tar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with tarfile.open(path) as tar:
                self.members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
                index = json.loads(self.read("index.json"))
        except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
            raise BadInput(
                f"{path} is not an image tar with an OCI layout ({exc})",
                "build one with `mlopsctl build`, or push a docker-archive with skopeo copy",
            ) from None
        manifests = index.get("manifests") or []
        if len(manifests) != 1:
            raise BadInput(f"{path} holds {len(manifests)} images, not one", "push one image")
        self.digest = str(manifests[0]["digest"])
        self.manifest = self.read(_blob(self.digest))
        self.media_type = str(
            json.loads(self.manifest).get("mediaType") or manifests[0].get("mediaType")
        )
        parsed = json.loads(self.manifest)
        self.blobs = [parsed["config"], *parsed.get("layers", [])]

    def _member(self, name: str) -> tarfile.TarInfo:
        member = self.members[name]
        while member.islnk() or member.issym():
            target = member.linkname.removeprefix("./")
            if member.issym():
                target = os.path.normpath(os.path.join(os.path.dirname(name), target))
            member = self.members[target]
        return member

    def read(self, name: str) -> bytes:
        member = self._member(name)
        with open(self.path, "rb") as fh:
            return _Slice(fh, member.offset_data, member.size).read()

    def open(self, digest: str, fh: IO[bytes]) -> tuple[_Slice, int]:
        member = self._member(_blob(digest))
        return _Slice(fh, member.offset_data, member.size), member.size


def _blob(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


class _Registry:
    """One registry's distribution API: a kept-alive connection, auth on demand (Basic, or
    a Bearer token from the realm the registry names), errors as the registry words them."""

    def __init__(self, ref: ImageRef, tls_verify: bool) -> None:
        self.ref, self.tls_verify = ref, tls_verify
        self.scheme = "https"
        self.creds = credentials(ref.registry)
        self.authorization: str | None = None
        self.connections: dict[tuple[str, str], HTTPConnection] = {}
        self.base = f"https://{ref.registry}"

    def fork(self) -> _Registry:
        """Another connection to the same registry, with the same scheme and credentials
        (for uploading blobs side by side)."""
        other = _Registry(self.ref, self.tls_verify)
        other.scheme, other.base = self.scheme, self.base
        other.creds, other.authorization = self.creds, self.authorization
        return other

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()

    def _connection(self, scheme: str, netloc: str) -> HTTPConnection:
        key = (scheme, netloc)
        if key not in self.connections:
            if scheme == "https":
                context = ssl.create_default_context()
                if not self.tls_verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self.connections[key] = HTTPSConnection(
                    netloc, timeout=60, context=context, blocksize=_BLOCK
                )
            else:
                self.connections[key] = HTTPConnection(netloc, timeout=60, blocksize=_BLOCK)
        return self.connections[key]

    def connect(self) -> None:
        """`GET /v2/`: TLS first; plain HTTP only when TLS is not verified (as skopeo's
        --tls-verify=false allows)."""
        try:
            self.request("GET", "/v2/", expect=(200, 401))
        except ssl.SSLError:
            if self.tls_verify:
                raise
            self.scheme, self.base = "http", f"http://{self.ref.registry}"
            for conn in self.connections.values():
                conn.close()
            self.connections.clear()
            self.request("GET", "/v2/", expect=(200, 401))

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | _Slice | None = None,
        length: int | None = None,
        expect: tuple[int, ...] = (200,),
        retry: bool = True,
    ) -> tuple[HTTPResponse, bytes]:
        full = urljoin(self.base + "/", url)
        parts = urlsplit(full)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        send = dict(headers or {})
        if self.authorization:
            send["Authorization"] = self.authorization
        if body is not None:
            size = length if length is not None else len(body) if isinstance(body, bytes) else 0
            send["Content-Length"] = str(size)
        elif method in ("PUT", "POST"):
            send["Content-Length"] = "0"
        conn = self._connection(parts.scheme, parts.netloc)
        for attempt in (1, 2):
            try:
                conn.request(method, path, body=body, headers=send)
                response = conn.getresponse()
                data = response.read()
                break
            except ssl.SSLError:
                raise
            except (ConnectionResetError, BrokenPipeError) as exc:
                # a kept-alive connection the server closed: one fresh try when nothing streamed
                conn.close()
                if attempt == 2 or isinstance(body, _Slice):
                    raise _unreachable(self.ref, exc) from None
            except OSError as exc:
                raise _unreachable(self.ref, exc) from None
        if response.status == 401 and retry and self._authenticate(response):
            if isinstance(body, _Slice):
                raise _Retry
            return self.request(
                method, url, headers=headers, body=body, length=length, expect=expect, retry=False
            )
        if response.status not in expect:
            raise _refused(self.ref, method, response, data)
        return response, data

    def _authenticate(self, response: HTTPResponse) -> bool:
        challenge = response.getheader("WWW-Authenticate") or ""
        scheme, _, params = challenge.partition(" ")
        basic = (
            "Basic " + base64.b64encode(f"{self.creds[0]}:{self.creds[1]}".encode()).decode()
            if self.creds
            else None
        )
        if scheme.lower() == "basic":
            if basic is None or self.authorization == basic:
                return False
            self.authorization = basic
            return True
        if scheme.lower() != "bearer":
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", "")
        if not realm:
            return False
        fields.setdefault("scope", f"repository:{self.ref.repository}:pull,push")
        token_url = realm + ("&" if "?" in realm else "?") + urlencode(fields)
        parts = urlsplit(token_url)
        conn = self._connection(parts.scheme, parts.netloc)
        headers = {"Authorization": basic} if basic else {}
        try:
            conn.request("GET", f"{parts.path}?{parts.query}", headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        except OSError as exc:
            raise _unreachable(self.ref, exc) from None
        if answer.status != 200:
            raise _refused(self.ref, "token", answer, data)
        token = json.loads(data).get("token") or json.loads(data).get("access_token")
        if not token or self.authorization == f"Bearer {token}":
            return False
        self.authorization = f"Bearer {token}"
        return True


class _Retry(Exception):
    """A streamed upload met an auth challenge: authenticated now, start the upload again."""


def _unreachable(ref: ImageRef, exc: BaseException) -> EnvironmentProblem:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return EnvironmentProblem(
        f"registry {ref.registry} is unreachable: {reason}",
        "check the registry's address and that it is running",
    )


def _refused(ref: ImageRef, what: str, response: HTTPResponse, data: bytes) -> EnvironmentProblem:
    reason = data.decode("utf-8", "replace").strip()[:300]
    try:
        errors = json.loads(data).get("errors") or []
        reason = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or reason
    except (ValueError, AttributeError):
        pass
    status = f"{response.status} {response.reason}"
    if response.status in (401, 403):
        hint = (
            f"log in first: podman login {ref.registry} (or docker login; "
            "credentials are read from $REGISTRY_AUTH_FILE, containers' auth.json, "
            "~/.docker/config.json)"
        )
    else:
        hint = "see the registry's answer above"
    return EnvironmentProblem(
        f"registry {ref.registry} refused {what} of {ref.repository}: {status}"
        + (f" ({reason})" if reason else ""),
        hint,
    )


def pushed_repository(lock: dict[str, Any]) -> str | None:
    """REGISTRY/REPO an image lock's image was last pushed to (what `push_image` records), or
    None when it never was."""
    digest = (lock.get("image") or {}).get("digest")
    pushes = [p for p in lock.get("pushed") or [] if p.get("digest") == digest]
    return str(pushes[-1]["repository"]) if pushes else None


def push_image(
    tar: Path, ref: str, *, tls_verify: bool = True, lock: Path | None = None
) -> PushResult:
    """Push the image in `tar` to `ref`; on success record it in the lock beside the tar
    (`NAME.lock.json`), which a refused push leaves as it was."""
    if not tar.is_file():
        raise BadInput(f"no image tar at {tar}", "build one first: mlopsctl build")
    lock = lock or tar.with_name(f"{tar.name.removesuffix('.tar')}.lock.json")
    recorded = json.loads(lock.read_text(encoding="utf-8")) if lock.is_file() else None
    default_tag = None
    if recorded:
        default_tag = str((recorded.get("image") or {}).get("tag") or "").rpartition(":")[2]
    target = parse_image_ref(ref, default_tag or None)
    image = _ImageTar(tar)
    if recorded and recorded.get("image", {}).get("digest") not in (None, image.digest):
        raise BadInput(
            f"{lock} names digest {recorded['image']['digest']}, {tar} holds {image.digest}",
            "rebuild the image, or pass the lock that belongs to this tar",
        )
    registry = _Registry(target, tls_verify)
    try:
        result = _push(registry, target, image)
    except ssl.SSLError as exc:
        raise EnvironmentProblem(
            f"TLS with registry {target.registry} failed: {exc.reason or exc}", _TLS_HINT
        ) from None
    finally:
        registry.close()
    if recorded is not None:
        pushes = [p for p in recorded.get("pushed") or [] if p.get("ref") != str(target)]
        pushes.append({"ref": str(target), "repository": target.name, "digest": result.digest})
        recorded["pushed"] = pushes
        write_atomic(lock, json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        result.lock = lock
    return result


def _push(registry: _Registry, target: ImageRef, image: _ImageTar) -> PushResult:
    from concurrent.futures import ThreadPoolExecutor

    registry.connect()
    repo = target.repository
    result = PushResult(ref=str(target), digest=image.digest)
    missing = []
    for descriptor in image.blobs:
        digest = str(descriptor["digest"])
        head, _ = registry.request("HEAD", f"/v2/{repo}/blobs/{digest}", expect=(200, 404))
        if head.status == 200:
            result.skipped.append(digest)
        else:
            missing.append(descriptor)

    def send(descriptor: dict[str, object]) -> None:
        worker = registry.fork()
        try:
            with open(image.path, "rb") as fh:
                for _attempt in (1, 2):
                    try:
                        _upload(worker, repo, image, str(descriptor["digest"]), fh)
                        return
                    except _Retry:
                        continue
        finally:
            worker.close()

    # the blobs side by side, as skopeo and docker do: a registry spends its time storing
    with ThreadPoolExecutor(max_workers=max(1, min(_PARALLEL, len(missing)))) as pool:
        list(pool.map(send, missing))
    for descriptor in missing:
        result.sent.append(str(descriptor["digest"]))
        result.bytes_sent += int(str(descriptor.get("size") or 0))
    response, _ = registry.request(
        "PUT",
        f"/v2/{repo}/manifests/{target.tag}",
        headers={"Content-Type": image.media_type},
        body=image.manifest,
        expect=(200, 201),
    )
    answered = response.getheader("Docker-Content-Digest")
    if answered and answered != image.digest:
        raise EnvironmentProblem(
            f"registry {target.registry} stored the manifest as {answered}, not {image.digest}",
            "the registry rewrote the manifest: push to an OCI distribution registry",
        )
    return result


def _upload(registry: _Registry, repo: str, image: _ImageTar, digest: str, fh: IO[bytes]) -> None:
    started, _ = registry.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
    location = started.getheader("Location")
    if not location:
        raise EnvironmentProblem(
            f"registry {registry.ref.registry} gave no upload location",
            "push to an OCI distribution registry",
        )
    body, size = image.open(digest, fh)
    url = location + ("&" if "?" in location else "?") + urlencode({"digest": digest})
    registry.request(
        "PUT",
        url,
        headers={"Content-Type": "application/octet-stream"},
        body=body,
        length=size,
        expect=(201,),
    )
