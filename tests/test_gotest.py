"""Parsing `go test -json` output: recorded-style event streams written for these tests."""

from __future__ import annotations

import json

import pytest

from patcher.runners import gotest
from patcher.runners.testresults import RunStatus, Status

PKG = "example.com/m/p"


def ev(action: str, test: str | None = None, output: str | None = None, elapsed: float | None = None, pkg: str = PKG, **extra: object) -> str:
    event: dict[str, object] = {"Time": "2024-03-01T10:00:00.000000Z", "Action": action, "Package": pkg}
    if test is not None:
        event["Test"] = test
    if output is not None:
        event["Output"] = output
    if elapsed is not None:
        event["Elapsed"] = elapsed
    event.update(extra)
    return json.dumps(event)


def build_ev(action: str, import_path: str, output: str | None = None) -> str:
    event = {"ImportPath": import_path, "Action": action}
    if output is not None:
        event["Output"] = output
    return json.dumps(event)


def passing(name: str, elapsed: float = 0.01, pkg: str = PKG) -> list[str]:
    return [
        ev("run", name, pkg=pkg),
        ev("output", name, f"=== RUN   {name}\n", pkg=pkg),
        ev("output", name, f"--- PASS: {name} ({elapsed:.2f}s)\n", pkg=pkg),
        ev("pass", name, elapsed=elapsed, pkg=pkg),
    ]


MIXED_RUN = [
    ev("start"),
    *passing("TestPass", 0.25),
    ev("run", "TestFail"),
    ev("output", "TestFail", "=== RUN   TestFail\n"),
    ev("output", "TestFail", "    p_test.go:12: got 4, want 5\n"),
    ev("output", "TestFail", "--- FAIL: TestFail (0.50s)\n"),
    ev("fail", "TestFail", elapsed=0.5),
    ev("run", "TestSkip"),
    ev("output", "TestSkip", "    p_test.go:15: not today\n"),
    ev("skip", "TestSkip", elapsed=0),
    ev("run", "TestCases"),
    ev("run", "TestCases/holder-cluster"),
    ev("output", "TestCases/holder-cluster", "    p_test.go:30: label missing\n"),
    ev("fail", "TestCases/holder-cluster", elapsed=0.01),
    *passing("TestCases/union"),
    ev("output", "TestCases", "--- FAIL: TestCases (0.02s)\n"),
    ev("fail", "TestCases", elapsed=0.02),
    ev("output", None, "FAIL\n"),
    ev("output", None, f"FAIL\t{PKG}\t0.800s\n"),
    ev("fail", None, elapsed=0.8),
]


def test_statuses_durations_and_failed_output() -> None:
    result = gotest.parse(MIXED_RUN, exit_code=1)
    assert result.status is RunStatus.OK
    assert {n: r.status for n, r in result.tests.items()} == {
        "TestPass": Status.PASS,
        "TestFail": Status.FAIL,
        "TestSkip": Status.SKIP,
        "TestCases/holder-cluster": Status.FAIL,
        "TestCases/union": Status.PASS,
        "TestCases": Status.FAIL,
    }
    assert result.tests["TestPass"].duration_s == 0.25
    assert result.tests["TestFail"].duration_s == 0.5
    assert "got 4, want 5" in result.tests["TestFail"].output
    assert "=== RUN" not in result.tests["TestFail"].output
    assert result.tests["TestPass"].output == ""  # only failures keep their output
    assert "label missing" in result.tests["TestCases/holder-cluster"].output


def test_subtests_keep_their_full_names_for_the_contract() -> None:
    lines = [*passing("TestPodMetadataPrecedence/holder-cluster"), *passing("TestPodMetadataPrecedence"), ev("pass", None, elapsed=1)]
    result = gotest.parse(lines)
    assert result.cases["holder-cluster"] is Status.PASS
    assert result.cases["union"] is Status.ERROR  # did not run


def test_non_json_lines_interleaved_are_ignored() -> None:
    noisy = []
    for index, line in enumerate(MIXED_RUN):
        noisy.append(line)
        if index % 3 == 0:
            noisy.append("time=\"2024\" level=info msg=\"controller started\" {not json}")
            noisy.append("")
    noisy.insert(5, "go: downloading github.com/x/y v1.0.0")
    noisy.append('{"half": "an object without Action"}')
    assert gotest.parse(noisy, exit_code=1).tests == gotest.parse(MIXED_RUN, exit_code=1).tests


def test_a_prefix_before_an_event_does_not_hide_it() -> None:
    lines = ["noise" + passing("TestA")[0], *passing("TestA")[1:], ev("pass", None)]
    assert gotest.parse(lines).tests["TestA"].status is Status.PASS


def test_chunks_split_anywhere() -> None:
    data = ("\n".join(MIXED_RUN) + "\n").encode()
    parser = gotest.GoTestParser()
    for start in range(0, len(data), 7):
        parser.feed(data[start : start + 7])
    assert parser.result(exit_code=1).tests == gotest.parse(MIXED_RUN, exit_code=1).tests


def test_compile_error_go124_is_a_build_error_with_the_compilers_message() -> None:
    import_path = f"{PKG} [{PKG}.test]"
    lines = [
        build_ev("build-output", import_path, f"# {import_path}\n"),
        build_ev("build-output", import_path, "p/p.go:3:28: cannot use \"x\" (untyped string constant) as int value in return statement\n"),
        build_ev("build-fail", import_path),
        ev("start"),
        ev("output", None, f"FAIL\t{PKG} [build failed]\n"),
        ev("fail", None, elapsed=0, FailedBuild=import_path),
    ]
    result = gotest.parse(lines, exit_code=1)
    assert result.status is RunStatus.BUILD_ERROR
    assert "p/p.go:3:28: cannot use" in result.message
    assert result.tests == {}


def test_compile_error_before_go124_comes_on_stderr() -> None:
    stderr = f"# {PKG} [{PKG}.test]\np/p.go:3:28: undefined: Foo\n"
    lines = [ev("start"), ev("output", None, f"FAIL\t{PKG} [build failed]\n"), ev("fail", None, elapsed=0)]
    result = gotest.parse(lines, exit_code=1, stderr=stderr)
    assert result.status is RunStatus.BUILD_ERROR
    assert "undefined: Foo" in result.message
    assert not result.failures


def test_one_package_broken_others_ran() -> None:
    other = "example.com/m/q"
    lines = [
        *passing("TestQ", pkg=other),
        ev("pass", None, pkg=other),
        build_ev("build-output", PKG, f"# {PKG}\np/p.go:1:1: expected 'package', found 'EOF'\n"),
        build_ev("build-fail", PKG),
        ev("output", None, f"FAIL\t{PKG} [setup failed]\n"),
        ev("fail", None, FailedBuild=PKG),
    ]
    result = gotest.parse(lines, exit_code=1)
    assert result.status is RunStatus.BUILD_ERROR
    assert "expected 'package'" in result.message
    assert result.tests["TestQ"].status is Status.PASS


def test_missing_module_in_go_mod_is_a_build_error() -> None:
    lines = [
        build_ev("build-output", "github.com/none/x", f"# {PKG}\n"),
        build_ev("build-output", "github.com/none/x", "p/p_test.go:3:20: no required module provides package github.com/none/x; to add it:\n"),
        build_ev("build-fail", "github.com/none/x"),
        ev("output", None, f"FAIL\t{PKG} [setup failed]\n"),
        ev("fail", None, FailedBuild="github.com/none/x"),
    ]
    assert gotest.parse(lines, exit_code=1).status is RunStatus.BUILD_ERROR


@pytest.mark.parametrize(
    "message",
    [
        'p_test.go:3:20: golang.org/x/text@v0.14.0: Get "https://proxy.golang.org/golang.org/x/text/@v/v0.14.0.zip": dial tcp: lookup proxy.golang.org: no such host',
        "p_test.go:3:20: module lookup disabled by GOPROXY=off",
        "go: github.com/a/b@v1.2.3: reading https://proxy.golang.org/github.com/a/b/@v/v1.2.3.mod: 502 Bad Gateway",
    ],
)
def test_module_download_failure_is_an_infra_error(message: str) -> None:
    lines = [
        build_ev("build-output", "golang.org/x/text/language", f"# {PKG}\n"),
        build_ev("build-output", "golang.org/x/text/language", message + "\n"),
        build_ev("build-fail", "golang.org/x/text/language"),
        ev("output", None, f"FAIL\t{PKG} [setup failed]\n"),
        ev("fail", None, FailedBuild="golang.org/x/text/language"),
    ]
    result = gotest.parse(lines, exit_code=1)
    assert result.status is RunStatus.INFRA_ERROR
    assert message.split(": ", 1)[1][:30] in result.message


def test_go_fails_before_any_event() -> None:
    result = gotest.parse([], exit_code=1, stderr="go: go.mod requires go >= 1.99 (running go 1.26.8; GOTOOLCHAIN=local)\n")
    assert result.status is RunStatus.INFRA_ERROR
    assert "requires go >= 1.99" in result.message
    result = gotest.parse([], exit_code=1, stderr="pattern ./nothing/: directory prefix nothing does not contain main module\n")
    assert result.status is RunStatus.BUILD_ERROR
    assert "does not contain main module" in result.message


def test_panicking_test_without_end_event_is_an_error() -> None:
    # Before Go 1.20-ish, a panicking test got no "fail" event of its own: only its package did.
    lines = [
        *passing("TestBefore"),
        ev("run", "TestPanic"),
        ev("output", "TestPanic", "=== RUN   TestPanic\n"),
        ev("output", "TestPanic", "panic: assignment to entry in nil map\n"),
        ev("output", None, "goroutine 7 [running]:\n"),
        ev("output", None, f"FAIL\t{PKG}\t0.010s\n"),
        ev("fail", None, elapsed=0.01),
    ]
    result = gotest.parse(lines, exit_code=1)
    assert result.status is RunStatus.OK
    assert result.tests["TestBefore"].status is Status.PASS
    assert result.tests["TestPanic"].status is Status.ERROR
    assert "nil map" in result.tests["TestPanic"].output


def test_go_test_timeout_panic() -> None:
    lines = [
        *passing("TestQuick"),
        ev("run", "TestHang"),
        ev("output", "TestHang", "panic: test timed out after 2s\n"),
        ev("output", "TestHang", "\trunning tests:\n\t\tTestHang (2s)\n"),
        ev("output", None, f"FAIL\t{PKG}\t2.005s\n"),
        ev("fail", None, elapsed=2.0),
    ]
    result = gotest.parse(lines, exit_code=1)
    assert result.status is RunStatus.TIMEOUT
    assert "2s" in result.message
    assert result.tests["TestHang"].status is Status.ERROR
    assert result.tests["TestQuick"].status is Status.PASS


def test_a_stopped_run_keeps_what_finished() -> None:
    parser = gotest.GoTestParser()
    parser.feed_lines([*passing("TestQuick"), ev("run", "TestHang"), ev("output", "TestHang", "working\n")])
    result = parser.result(exit_code=None, stopped="timed out after 5s", stopped_status=RunStatus.TIMEOUT, duration_s=5.1)
    assert result.status is RunStatus.TIMEOUT
    assert result.message == "timed out after 5s"
    assert result.duration_s == 5.1
    assert result.tests["TestQuick"].status is Status.PASS
    assert result.tests["TestHang"].status is Status.ERROR
    assert "working" in result.tests["TestHang"].output and "timed out after 5s" in result.tests["TestHang"].output


def test_a_package_failing_without_failing_tests_cannot_pass_unnoticed() -> None:
    lines = [
        ev("start"),
        ev("output", None, "panic: init failed\n"),
        ev("output", None, f"FAIL\t{PKG}\t0.003s\n"),
        ev("fail", None, elapsed=0.003),
    ]
    result = gotest.parse(lines, exit_code=1)
    name = PKG + gotest.PACKAGE_TEST_SUFFIX
    assert result.tests[name].status is Status.ERROR
    assert "init failed" in result.tests[name].output
    assert not result.all_pass


def test_same_test_name_in_two_packages() -> None:
    other = "example.com/m/q"
    lines = [*passing("TestX"), ev("pass", None), *passing("TestX", pkg=other), ev("pass", None, pkg=other)]
    assert set(gotest.parse(lines).tests) == {f"TestX [{PKG}]", f"TestX [{other}]"}


def test_a_late_line_does_not_reopen_a_finished_test() -> None:
    lines = [*passing("TestA"), ev("output", "TestA", "=== NAME  TestA\n"), ev("output", "TestA", "late log line\n"), ev("pass", None)]
    result = gotest.parse(lines)
    assert result.tests["TestA"].status is Status.PASS and result.status is RunStatus.OK


def test_no_tests_to_run_is_ok_and_empty() -> None:
    lines = [ev("start"), ev("output", None, "testing: warning: no tests to run\n"), ev("output", None, f"ok  \t{PKG}\t0.01s [no tests to run]\n"), ev("pass", None)]
    result = gotest.parse(lines)
    assert result.status is RunStatus.OK and result.tests == {}


def test_long_output_keeps_head_and_tail() -> None:
    lines = [ev("run", "TestLoud")] + [ev("output", "TestLoud", f"line {i}\n") for i in range(5000)] + [ev("fail", "TestLoud")]
    output = gotest.parse(lines).tests["TestLoud"].output
    assert "line 0\n" in output and "line 4999\n" in output
    assert "lines left out" in output
    assert output.count("\n") < 1100


def test_message_is_capped() -> None:
    stderr = "".join(f"p.go:{i}:1: undefined: X{i}\n" for i in range(200))
    result = gotest.parse([ev("output", None, f"FAIL\t{PKG} [build failed]\n"), ev("fail", None)], exit_code=1, stderr=stderr)
    assert result.message.count("\n") <= gotest.MAX_MESSAGE_LINES
    assert "more lines" in result.message


def test_go_test_args() -> None:
    base = ["test", "-json", "-count=1", "-vet=off", "-gcflags=all=-dwarf=false", "-ldflags=-w"]
    assert gotest.go_test_args(["./a/"], "TestX|TestY", timeout_s=90) == [*base, "-timeout=90s", "-run=TestX|TestY", "./a/"]
    assert gotest.go_test_args(["./a/", "./b/"]) == [*base, "./a/", "./b/"]
    with pytest.raises(ValueError):
        gotest.go_test_args([])
