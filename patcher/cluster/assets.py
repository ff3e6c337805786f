"""The control plane's binaries: etcd and kube-apiserver, found or built once; and the node's
(``--cluster=node``): kube-controller-manager, kube-scheduler and kubelet, the same way.

They are looked up the way controller-runtime's envtest does, then in argo-patcher's cache:

1. ``KUBEBUILDER_ASSETS``: a directory holding the binaries (the envtest convention);
2. ``PATH``;
3. ``<cache root>/cluster/<name>-<version>/<name>``, made by ``build`` (``patcher cluster build``).

``build`` compiles the pinned versions from the Go module proxy with the local Go, or, where
this machine has none, with the runner's Go in a container of a Go image (Docker alone). Neither
project can be ``go install``ed (Kubernetes' go.mod replaces its staging modules with local
directories, which Go refuses outside the repository), so each is built from a throwaway
wrapper module that requires it and, for Kubernetes, replaces every staging module with its
published ``v0.X.Y`` release, as read from Kubernetes' own go.mod. The Go caches are the local
runner's (or the Docker runner's volumes), so ``patcher cache clean --go`` accounts for them. A build goes to a staging directory
renamed into place only when complete, under a file lock, so two runs never build at once and a
half-made build never counts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import filelock

from patcher import locks, settings, ui
from patcher.errors import InfraError
from patcher.patching import gomod
from patcher.patching.gomod import GoVersion
from patcher.runners import childprocs, engine, hostgo, images
from patcher.runners.container import GO_WORKDIR, DockerRunner
from patcher.runners.local import LocalRunner

KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.8"
ASSETS_ENV = "KUBEBUILDER_ASSETS"
BUILD_TIMEOUT_S = 45 * 60
LOCK_TIMEOUT_S = BUILD_TIMEOUT_S
KUBERNETES_GO = "1.26.0"  # the Go that Kubernetes' go.mod asks for: the image to build with in a container
_STAGING_REPLACE = re.compile(r"^\s*(?:replace\s+)?(k8s\.io/[\w./-]+)\s+=>\s+\./staging/", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to build one binary from the module proxy."""

    name: str
    module: str
    version: str
    package: str
    ldflags: str = ""
    replace_staging: bool = False  # Kubernetes: replace each staging module with its v0.X.Y release

    @property
    def cache_dir(self) -> Path:
        return cluster_cache_dir() / f"{self.name}-{self.version}"

    @property
    def cached_binary(self) -> Path:
        return self.cache_dir / self.name


def _kubernetes_ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    variables = {"gitVersion": KUBERNETES_VERSION, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    return " ".join(["-s", "-w", *(f"-X k8s.io/component-base/version.{k}={v}" for k, v in variables.items())])


ETCD = Recipe("etcd", "go.etcd.io/etcd/server/v3", ETCD_VERSION, "go.etcd.io/etcd/server/v3", ldflags="-s -w")
KUBE_APISERVER = Recipe(
    "kube-apiserver", "k8s.io/kubernetes", KUBERNETES_VERSION, "k8s.io/kubernetes/cmd/kube-apiserver",
    ldflags=_kubernetes_ldflags(), replace_staging=True,
)  # fmt: skip
RECIPES = (ETCD, KUBE_APISERVER)


def _kubernetes(name: str) -> Recipe:
    return Recipe(name, "k8s.io/kubernetes", KUBERNETES_VERSION, f"k8s.io/kubernetes/cmd/{name}", ldflags=_kubernetes_ldflags(), replace_staging=True)


# The node's (``--cluster=node``): the rest of a single-node cluster, on top of the control plane.
KUBE_CONTROLLER_MANAGER = _kubernetes("kube-controller-manager")
KUBE_SCHEDULER = _kubernetes("kube-scheduler")
KUBELET = _kubernetes("kubelet")
NODE_RECIPES = (KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBELET)
ALL_RECIPES = (*RECIPES, *NODE_RECIPES)
# Not the control plane's: for checking manifests against it (kustomize built in), built on request.
KUBECTL = Recipe(
    "kubectl", "k8s.io/kubernetes", KUBERNETES_VERSION, "k8s.io/kubernetes/cmd/kubectl", ldflags=_kubernetes_ldflags(), replace_staging=True
)


@dataclasses.dataclass(frozen=True)
class Assets:
    """Where the control plane's binaries are, and where each was found."""

    etcd: Path
    kube_apiserver: Path
    sources: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)  # name -> ASSETS_ENV, "PATH" or "cache"

    def describe(self) -> str:
        return ", ".join(f"{path} ({self.sources.get(path.name, '?')})" for path in (self.etcd, self.kube_apiserver))


def cluster_cache_dir() -> Path:
    return settings.cache_root() / "cluster"


def locate(name: str) -> tuple[Path, str] | None:
    """Where binary ``name`` is, and which of the three places that was; None when nowhere."""
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        candidate = Path(assets) / name
        if _executable(candidate):
            return candidate, ASSETS_ENV
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path), "PATH"
    recipe = next((r for r in ALL_RECIPES if r.name == name), None)
    if recipe is not None and _executable(recipe.cached_binary):
        return recipe.cached_binary, "cache"
    return None


def find() -> Assets | None:
    """Both binaries, or None when one of them is nowhere."""
    etcd, apiserver = locate(ETCD.name), locate(KUBE_APISERVER.name)
    if etcd is None or apiserver is None:
        return None
    return Assets(etcd[0], apiserver[0], {ETCD.name: etcd[1], KUBE_APISERVER.name: apiserver[1]})


def missing(recipes: tuple[Recipe, ...] = RECIPES) -> list[str]:
    return [recipe.name for recipe in recipes if locate(recipe.name) is None]


@dataclasses.dataclass(frozen=True)
class NodeAssets:
    """Where the node's binaries are (``--cluster=node``), and where each was found."""

    kube_controller_manager: Path
    kube_scheduler: Path
    kubelet: Path
    sources: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)


def find_node() -> NodeAssets | None:
    """The node's three binaries, or None when one of them is nowhere."""
    found = {recipe.name: locate(recipe.name) for recipe in NODE_RECIPES}
    if any(where is None for where in found.values()):
        return None
    paths = {name: where[0] for name, where in found.items() if where is not None}
    sources = {name: where[1] for name, where in found.items() if where is not None}
    return NodeAssets(paths[KUBE_CONTROLLER_MANAGER.name], paths[KUBE_SCHEDULER.name], paths[KUBELET.name], sources)


def ensure_node() -> NodeAssets:
    """The node's binaries, building those that are nowhere (once)."""
    found = find_node()
    if found is not None:
        return found
    build(only_missing=True, node=True)
    found = find_node()
    if found is None:
        raise InfraError(f"no {' or '.join(missing(NODE_RECIPES))} after building them; run `patcher cluster build --node --rebuild`")
    return found


def require() -> Assets:
    """Both binaries, or an ``InfraError`` that says how to get them."""
    found = find()
    if found is None:
        raise InfraError(
            f"no {' or '.join(missing())} found in ${ASSETS_ENV}, on PATH or in argo-patcher's cache; "
            f"run `patcher cluster build` (needs Go or Docker) or point {ASSETS_ENV} at a directory holding them"
        )
    return found


def ensure() -> Assets:
    """Both binaries, building those that are nowhere (once; later runs find them in the cache)."""
    return find() or build(only_missing=True)


def build(*, rebuild: bool = False, only_missing: bool = False, node: bool = False) -> Assets:
    """Build the pinned etcd and kube-apiserver into the cache (those not there yet, unless
    ``rebuild``; with ``only_missing``, only those not found anywhere), and with ``node`` the
    node's kube-controller-manager, kube-scheduler and kubelet too. Returns what ``find`` then
    finds, which may still prefer ``KUBEBUILDER_ASSETS`` or ``PATH``."""
    recipes = ALL_RECIPES if node else RECIPES
    wanted = [r for r in recipes if locate(r.name) is None] if only_missing else list(recipes)
    pending = [r for r in wanted if rebuild or not _executable(r.cached_binary)]
    go = builder("etcd and kube-apiserver") if pending else None
    with _build_lock():
        for recipe in wanted:
            if rebuild or not _executable(recipe.cached_binary):
                assert go is not None
                _build_one(recipe, go)
            else:
                ui.info(f"{recipe.name} {recipe.version} is already built ({recipe.cached_binary}); --rebuild builds it again")
    return require()


def build_recipe(recipe: Recipe) -> Path:
    """Build one recipe into the cache unless it is there already; its binary's path."""
    if _executable(recipe.cached_binary):
        return recipe.cached_binary
    go = builder(recipe.name)
    with _build_lock():
        if not _executable(recipe.cached_binary):
            _build_one(recipe, go)
    return recipe.cached_binary


class GoBuilder:
    """A Go to build with, run in a throwaway module's directory: the local Go (``HostBuilder``)
    or the runner's Go in a container (``ContainerBuilder``)."""

    version: GoVersion

    def describe(self) -> str:
        raise NotImplementedError

    def path(self, workdir: Path, relative: str) -> str:
        """``relative`` (in ``workdir``) as the Go that runs sees it."""
        raise NotImplementedError

    def go(self, args: list[str], workdir: Path, doing: str) -> str:
        """Run ``go args`` in ``workdir``; its stdout, or an ``InfraError`` saying what failed."""
        raise NotImplementedError


class HostBuilder(GoBuilder):
    def __init__(self, host: hostgo.HostGo) -> None:
        self.host, self.version = host, host.version
        self.env = LocalRunner(host).environment()

    def describe(self) -> str:
        return f"Go {self.version}"

    def path(self, workdir: Path, relative: str) -> str:
        return str(workdir / relative)

    def go(self, args: list[str], workdir: Path, doing: str) -> str:
        return _go(self.host, args, workdir, self.env, doing)


class ContainerBuilder(GoBuilder):
    def __init__(self, runner: DockerRunner) -> None:
        self.runner = runner
        self.version = runner.image.go or GoVersion.parse(KUBERNETES_GO)

    def describe(self) -> str:
        return f"Go {self.version} in a container of {self.runner.image.ref} (no Go on this machine)"

    def path(self, workdir: Path, relative: str) -> str:
        return f"{GO_WORKDIR}/{relative}"

    def go(self, args: list[str], workdir: Path, doing: str) -> str:
        ui.debug(f"go {' '.join(args)} in a container, {workdir} at {GO_WORKDIR}")
        ran = self.runner.run_go(workdir, args, timeout_s=BUILD_TIMEOUT_S, run_id=f"cluster-build-{os.getpid()}")
        if ran.timed_out:
            raise InfraError(f"{doing} took longer than {BUILD_TIMEOUT_S // 60} minutes; try again, or build on a larger machine")
        if ran.exit_code != 0:
            lines = [line for line in ran.stderr.splitlines() if line.strip()]
            last = lines[-1].strip() if lines else f"exit code {ran.exit_code}"
            raise InfraError(f"{doing} failed: {last}; check the network to the Go module proxy (GOPROXY), then `patcher cluster build`")
        return ran.stdout


def builder(what: str) -> GoBuilder:
    """The Go to build ``what`` with: the local Go, else the runner's Go in a container; one clear
    line when there is neither."""
    host = hostgo.find()
    if host is not None:
        return HostBuilder(host)
    ok, why = engine.available()
    if not ok:
        raise InfraError(
            f"no Go on PATH and {why.split(';')[0]}, so nothing can build {what}; install Go (go.dev/dl) or start Docker, "
            f"or point {ASSETS_ENV} at a directory holding them"
        )
    wanted = gomod.parse(f"module argo-patcher.invalid/cluster-build\n\ngo {KUBERNETES_GO}\n")
    return ContainerBuilder(DockerRunner(images.choose(wanted, context=f"building {what}")))


def _build_lock() -> filelock.FileLock:
    return locks.lock("cluster-build", timeout=LOCK_TIMEOUT_S)


def _build_one(recipe: Recipe, go: GoBuilder) -> None:
    ui.info(f"building {recipe.name} {recipe.version} with {go.describe()} (once; later runs reuse it)")
    started = time.monotonic()
    target = recipe.cache_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        with tempfile.TemporaryDirectory(prefix="argo-patcher-cluster-build-") as scratch:
            wrapper = Path(scratch)
            (wrapper / "go.mod").write_text(f"module argo-patcher.invalid/cluster-build\n\ngo {go.version.line}\n")
            (wrapper / "go.mod").chmod(0o666)
            (wrapper / "out").mkdir(mode=0o777)
            (wrapper / "out").chmod(0o777)
            edits = [f"-require={recipe.module}@{recipe.version}"]
            if recipe.replace_staging:
                edits += [f"-replace={m}={m}@{staging_version(recipe.version)}" for m in staging_modules(recipe, go, wrapper)]
            go.go(["mod", "edit", *edits], wrapper, f"writing the wrapper module of {recipe.name}")
            go.go(["get", f"{recipe.package}@{recipe.version}"], wrapper, f"resolving {recipe.name}'s modules")
            build_args = ["build", "-o", go.path(wrapper, f"out/{recipe.name}"), "-ldflags", recipe.ldflags, recipe.package]
            go.go(build_args, wrapper, f"building {recipe.name}")
            shutil.move(wrapper / "out" / recipe.name, staging / recipe.name)
        (staging / "built.json").write_text(
            json.dumps({"name": recipe.name, "module": recipe.module, "version": recipe.version, "go": str(go.version), "with": go.describe()}) + "\n"
        )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    ui.info(f"built {recipe.cached_binary} in {time.monotonic() - started:.0f}s")


def staging_version(kubernetes_version: str) -> str:
    """Kubernetes v1.X.Y publishes its staging modules (k8s.io/api, ...) as v0.X.Y."""
    return re.sub(r"^v1\.", "v0.", kubernetes_version)


def staging_modules(recipe: Recipe, go: GoBuilder, workdir: Path) -> list[str]:
    """The modules that ``recipe.module``'s go.mod replaces with its ./staging directories."""
    listing = go.go(["mod", "download", "-json", f"{recipe.module}@{recipe.version}"], workdir, f"downloading {recipe.module}")
    try:
        gomod_file = str(json.loads(listing)["GoMod"])
    except (ValueError, KeyError) as exc:
        raise InfraError(f"cannot read the go.mod of {recipe.module}@{recipe.version} ({exc}); try `patcher cluster build --rebuild`") from None
    # Printed by that Go, which reads it where it is (in a container's module cache too).
    text = go.go(["mod", "edit", "-print", gomod_file], workdir, f"reading the go.mod of {recipe.module}")
    return parse_staging_replaces(text)


def parse_staging_replaces(gomod_text: str) -> list[str]:
    return sorted(set(_STAGING_REPLACE.findall(gomod_text)))


def _go(host: hostgo.HostGo, args: list[str], cwd: Path, env: dict[str, str], doing: str) -> str:
    """Run ``go args`` in its own process group (killed on timeout or interruption); its stdout."""
    return childprocs.output([str(host.go), *args], cwd=cwd, env=env, doing=doing, kind="cluster", timeout_s=BUILD_TIMEOUT_S,
                             hint="check the network to the Go module proxy (GOPROXY), then `patcher cluster build`")  # fmt: skip


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


@dataclasses.dataclass(frozen=True)
class CachedBuild:
    path: Path
    size: int
    note: str


def cached_builds() -> list[CachedBuild]:
    """What ``build`` left in the cache, for ``patcher cache info``."""
    found = []
    for recipe in ALL_RECIPES:
        if _executable(recipe.cached_binary):
            size = sum(p.stat().st_size for p in recipe.cache_dir.iterdir() if p.is_file())
            found.append(CachedBuild(recipe.cache_dir, size, f"{recipe.name} {recipe.version}"))
    return found
