"""``go test -json``: the command line, and its output turned into a ``RunResult``.

The parser takes stdout line by line as it arrives (``GoTestParser.feed``) and keeps only what a
report needs: the status and duration of every test, and the output of tests that did not pass.
Lines that are not JSON events (a wrapper's noise, Go < 1.24's plain build errors) are kept
aside, so that they can explain a failed build.

How a run ends:

* a package whose build or setup failed (Go >= 1.24: ``build-output``/``build-fail`` events and
  ``FailedBuild``; older Go: ``[build failed]``/``[setup failed]`` and the compiler's text on
  stderr) makes the run a ``BUILD_ERROR`` whose message is the compiler's, not failing tests;
* a build that failed because modules could not be downloaded is an ``INFRA_ERROR``;
* a test that started but never ended (a panic, a timeout, a killed run) is an ``ERROR``;
* a package that failed without any failing test (a panic in ``init``, ``TestMain`` exiting) shows
  as an ``ERROR`` pseudo-test named ``<package> [package]``, so it cannot pass unnoticed.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
from collections.abc import Iterable, Sequence

from patcher.runners.testresults import RunResult, RunStatus, Status, TestResult

PACKAGE_TEST_SUFFIX = " [package]"
MAX_MESSAGE_LINES = 40
_HEAD_LINES, _TAIL_LINES = 200, 800
_FRAMING = re.compile(r"^=== (RUN|PAUSE|CONT|NAME)\s")
_BUILD_FAILED = re.compile(r"^FAIL\s+(\S+)\s+\[(build|setup) failed\]")
_TIMED_OUT = re.compile(r"^panic: test timed out after (\S+)")
_DOWNLOADING = re.compile(r"^go: (downloading|extracting|finding) ")

# Build or setup messages that mean "modules could not be fetched", not "the code is wrong".
_DOWNLOAD_FAILURE = re.compile(
    r"module lookup disabled by GOPROXY=off"
    r"|@v[^\s:]*: (Get|reading) \"?https?://"
    r"|dial tcp|no such host|connection refused|i/o timeout|TLS handshake timeout|proxyconnect"
    r"|x509: |unrecognized import path|exec: \"git\"|SECURITY ERROR|checksum mismatch"
)
_TOO_OLD = re.compile(r"requires go >= (\S+) \(running go (\S+)")


# Test binaries need no debug information (stack traces come from the pcln table): without DWARF
# a cold compile of a release's controller tests takes 5% less time and its cache 15% less disk
# (measured on v3.4.0: 200 s and 779 MB against 211 s and 922 MB). The code compiled is the same.
NO_DWARF_GCFLAGS = "all=-dwarf=false"
COMPILE_FLAGS = (f"-gcflags={NO_DWARF_GCFLAGS}", "-ldflags=-w")


def go_build_args(package: str, output: str, *, ldflags: str, gcflags: str = "") -> list[str]:
    """The ``go build`` command line (without the ``go`` itself) of one binary."""
    return ["build", "-ldflags", ldflags, *(["-gcflags", gcflags] if gcflags else []), "-o", output, package]


def go_test_args(
    packages: Sequence[str], run_regex: str | None = None, *, timeout_s: float | None = None, binaries_dir: str | None = None
) -> list[str]:
    """The ``go test`` command line (without the ``go`` itself): compile, link and run only.

    With ``binaries_dir`` the test binaries are written there (``-o``) and kept: when a later run
    builds the same binary (Go compares the build ID in the file with the one it would link),
    the link, most of a warm run, is skipped. Only when each package has a name of its own."""
    if not packages:
        raise ValueError("no packages to test")
    # go vet is no part of the proof (argo-patcher's own tests vet the patch on every shape it
    # knows); left on, it would add most of a second to every warm run.
    args = ["test", "-json", "-count=1", "-vet=off", *COMPILE_FLAGS]
    if timeout_s:
        # go test's own limit (10m by default) must not cut a run shorter than the one asked for.
        args.append(f"-timeout={max(1, int(timeout_s))}s")
    if run_regex:
        args.append(f"-run={run_regex}")
    if binaries_dir and binaries_can_be_kept(packages):
        args.append(f"-o={binaries_dir.rstrip('/')}/")
    return args + list(packages)


def binaries_can_be_kept(packages: Sequence[str]) -> bool:
    """``go test -o DIR/`` names each binary after its package: the packages must be listed one by
    one (no ``...`` pattern) with distinct last elements."""
    names = [package.rstrip("/").rsplit("/", 1)[-1] for package in packages]
    return all(name and name != "." and "..." not in package for name, package in zip(names, packages, strict=True)) and len(set(names)) == len(names)


class _Output:
    """A test's output lines; past a limit, only the first and last lines are kept."""

    __slots__ = ("head", "tail", "dropped")

    def __init__(self) -> None:
        self.head: list[str] = []
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.dropped = 0

    def add(self, text: str) -> None:
        if len(self.head) < _HEAD_LINES:
            self.head.append(text)
            return
        if len(self.tail) == self.tail.maxlen:
            self.dropped += 1
        self.tail.append(text)

    def text(self) -> str:
        middle = [f"... ({self.dropped} lines left out) ...\n"] if self.dropped else []
        return "".join(self.head + middle + list(self.tail))


@dataclasses.dataclass
class _Running:
    package: str
    name: str
    output: _Output = dataclasses.field(default_factory=_Output)


class GoTestParser:
    """Consumes ``go test -json`` stdout incrementally; ``result`` gives the ``RunResult``."""

    def __init__(self) -> None:
        self._partial = b""
        self._running: dict[tuple[str, str], _Running] = {}
        self._done: dict[tuple[str, str], TestResult] = {}
        self._package_output: dict[str, _Output] = collections.defaultdict(_Output)
        self._failed_packages: dict[str, str] = {}  # package -> FailedBuild import path or ""
        self._build_output: dict[str, list[str]] = collections.defaultdict(list)
        self._stray = _Output()
        self._timed_out: str | None = None
        self.events = 0

    # -- input ------------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """Bytes as they come; lines may be split across chunks."""
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            self.feed_line(line.decode("utf-8", "replace"))

    def feed_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.feed_line(line)

    def feed_line(self, line: str) -> None:
        line = line.rstrip("\r\n")
        event = _as_event(line)
        if event is None:
            if line.strip():
                self._stray.add(line + "\n")
            return
        self.events += 1
        self._handle(event)

    def close(self) -> None:
        if self._partial:
            rest, self._partial = self._partial, b""
            self.feed_line(rest.decode("utf-8", "replace"))

    # -- events -----------------------------------------------------------------------------

    def _handle(self, event: dict) -> None:
        action = event.get("Action")
        if action in ("build-output", "build-fail"):
            path = str(event.get("ImportPath", ""))
            if action == "build-output":
                self._build_output[path].append(str(event.get("Output", "")))
            else:
                self._build_output.setdefault(path, [])
            return
        package = str(event.get("Package", ""))
        test = event.get("Test")
        if test:
            self._handle_test(package, str(test), action, event)
            return
        if action == "output":
            text = str(event.get("Output", ""))
            self._package_output[package].add(text)
            match = _TIMED_OUT.match(text)
            if match:
                self._timed_out = match.group(1)
            if _BUILD_FAILED.match(text):
                self._failed_packages.setdefault(package, "")
        elif action in ("pass", "fail", "skip"):
            if event.get("FailedBuild"):
                self._failed_packages[package] = str(event["FailedBuild"])
            self._end_package(package, action)

    def _handle_test(self, package: str, name: str, action: str | None, event: dict) -> None:
        key = (package, name)
        if action == "run":
            self._running[key] = _Running(package, name)
        elif action == "output":
            text = str(event.get("Output", ""))
            running = self._running.get(key)
            if running is None:
                done = self._done.get(key)
                if done is None:  # output of a test we saw no start of: it runs now
                    running = self._running[key] = _Running(package, name)
                else:  # a late line of a finished test: it does not reopen it
                    if done.status is Status.FAIL and not _FRAMING.match(text):
                        done.output += text
                    return
            if not _FRAMING.match(text):
                running.output.add(text)
            match = _TIMED_OUT.match(text)
            if match:
                self._timed_out = match.group(1)
        elif action in ("pass", "fail", "skip"):
            running = self._running.pop(key, None)
            status = {"pass": Status.PASS, "fail": Status.FAIL, "skip": Status.SKIP}[action]
            output = running.output.text() if running and status is Status.FAIL else ""
            self._done[key] = TestResult(name, status, float(event.get("Elapsed") or 0.0), output, package)

    def _end_package(self, package: str, action: str) -> None:
        unfinished = [r for key, r in self._running.items() if key[0] == package]
        for running in unfinished:
            del self._running[(package, running.name)]
            self._done[(package, running.name)] = TestResult(
                running.name, Status.ERROR, 0.0, running.output.text() + self._package_output[package].text(), package
            )
        failed_tests = any(r.status in (Status.FAIL, Status.ERROR) for (p, _), r in self._done.items() if p == package)
        if action == "fail" and package not in self._failed_packages and not failed_tests:
            name = package + PACKAGE_TEST_SUFFIX
            self._done[(package, name)] = TestResult(name, Status.ERROR, 0.0, self._package_output[package].text(), package)

    # -- result -----------------------------------------------------------------------------

    def result(
        self,
        *,
        exit_code: int | None,
        stderr: str = "",
        duration_s: float = 0.0,
        stopped: str | None = None,
        stopped_status: RunStatus = RunStatus.INFRA_ERROR,
    ) -> RunResult:
        """The run's result. ``stopped`` says why the run was cut short (a timeout, a kill):
        tests still running then are errors, and the run gets ``stopped_status``."""
        self.close()
        for (package, name), running in list(self._running.items()):
            why = f"did not finish: {stopped}" if stopped else "did not finish"
            self._done[(package, name)] = TestResult(name, Status.ERROR, 0.0, running.output.text() + f"({why})\n", package)
        self._running.clear()
        tests = self._named_tests()
        stray = self._stray.text()
        if stopped:
            return RunResult(stopped_status, tests, duration_s, stopped)
        build_message = self._build_message(stderr, stray)
        if build_message is not None:
            return RunResult(_classify_build(build_message), tests, duration_s, build_message)
        if self._timed_out:
            return RunResult(RunStatus.TIMEOUT, tests, duration_s, f"a test binary ran longer than go test's -timeout ({self._timed_out})")
        if exit_code not in (0, None) and not self.events:
            message = message_lines(stderr + stray) or f"go test exited with code {exit_code} and no output"
            return RunResult(_classify_build(message), tests, duration_s, message)
        return RunResult(RunStatus.OK, tests, duration_s, "")

    def _build_message(self, stderr: str, stray: str) -> str | None:
        if not self._failed_packages:
            return None
        failed_builds = {path for path in self._failed_packages.values() if path}
        chosen = [path for path in self._build_output if path in failed_builds] or list(self._build_output)
        lines = [text for path in chosen for text in self._build_output[path]]
        text = message_lines("".join(lines) + stderr + stray)
        return text or f"the build of {', '.join(sorted(self._failed_packages))} failed (no compiler output)"

    def _named_tests(self) -> dict[str, TestResult]:
        packages_of: dict[str, set[str]] = collections.defaultdict(set)
        for package, name in self._done:
            packages_of[name].add(package)
        tests: dict[str, TestResult] = {}
        for (package, name), result in self._done.items():
            key = name if len(packages_of[name]) == 1 else f"{name} [{package}]"
            tests[key] = dataclasses.replace(result, name=key)
        return tests


def parse(lines: Iterable[str], *, exit_code: int | None = 0, stderr: str = "", duration_s: float = 0.0) -> RunResult:
    """Parse a complete ``go test -json`` output."""
    parser = GoTestParser()
    parser.feed_lines(lines)
    return parser.result(exit_code=exit_code, stderr=stderr, duration_s=duration_s)


def is_download_failure(message: str) -> bool:
    return bool(_DOWNLOAD_FAILURE.search(message))


def _classify_build(message: str) -> RunStatus:
    if is_download_failure(message) or _TOO_OLD.search(message):
        return RunStatus.INFRA_ERROR
    return RunStatus.BUILD_ERROR


def message_lines(text: str) -> str:
    """The useful lines of a build's output: no download chatter, no blank lines, capped."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip() and not _DOWNLOADING.match(line)]
    if len(lines) > MAX_MESSAGE_LINES:
        lines = lines[:MAX_MESSAGE_LINES] + [f"... ({len(lines) - MAX_MESSAGE_LINES} more lines)"]
    return "\n".join(lines)


def _as_event(line: str) -> dict | None:
    start = line.find("{")
    if start < 0 or not line.rstrip().endswith("}"):
        return None
    try:
        event = json.loads(line[start:])
    except ValueError:
        return None
    return event if isinstance(event, dict) and "Action" in event else None
