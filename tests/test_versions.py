from __future__ import annotations

import pytest

from patcher.errors import InputError
from patcher.source.versions import RefKind, Refs, Release, UnknownVersionError, nearest, parse_tag, releases_from_tags, resolve

TAGS = [
    "v3.4.0", "v3.4.1", "v3.4.10", "v3.4.2", "v3.5.0-rc1", "v3.5.0-rc2", "v3.5.0", "v3.5.1", "v3.5.15",
    "v3.6.0-rc1", "v3.6.0", "v3.6.2", "v3.7.0-rc1", "v4.0.0", "v4.1.0-rc1",
    "v2.12.0", "stable", "helm-1.0", "v3.5.1-beta", "3.5.2",
]
RELEASES = releases_from_tags(TAGS)


def tags(spec: str, *, pre: bool = False) -> list[str]:
    return [r.name for r in resolve(spec, RELEASES, pre=pre)]


def test_only_release_shaped_tags_count_and_order_is_numeric():
    assert [r.name for r in RELEASES][:5] == ["v2.12.0", "v3.4.0", "v3.4.1", "v3.4.2", "v3.4.10"]
    assert parse_tag("stable") is None and parse_tag("3.5.2") is None and parse_tag("v3.5.1-beta") is None
    assert parse_tag("v3.5.0-rc1") < parse_tag("v3.5.0")


def test_exact_tag():
    assert tags("v3.4.2") == ["v3.4.2"]
    assert tags("3.4.2") == ["v3.4.2"]


def test_release_line_is_its_newest_final_patch():
    assert tags("v3.5") == ["v3.5.15"]
    assert tags("v3.4") == ["v3.4.10"]


def test_line_with_only_candidates_needs_pre():
    with pytest.raises(UnknownVersionError, match="no release in line v3.7"):
        tags("v3.7")
    assert tags("v3.7", pre=True) == ["v3.7.0-rc1"]


def test_latest_skips_candidates_unless_pre():
    assert tags("latest") == ["v4.0.0"]
    assert tags("latest", pre=True) == ["v4.1.0-rc1"]


def test_supported_is_newest_patch_of_each_line_from_v3_4():
    assert tags("supported") == ["v3.4.10", "v3.5.15", "v3.6.2", "v4.0.0"]


def test_range_intersects_its_clauses_and_excludes_candidates():
    assert tags(">=v3.5,<v3.7") == ["v3.5.0", "v3.5.1", "v3.5.15", "v3.6.0", "v3.6.2"]
    # PEP 440 order: v3.5.0-rc1 comes before v3.5 (= v3.5.0), so ">=v3.5" leaves it out.
    assert tags(">=v3.5,<v3.7", pre=True) == ["v3.5.0", "v3.5.1", "v3.5.15", "v3.6.0-rc1", "v3.6.0", "v3.6.2"]
    assert tags(">=v3.5.0-rc2,<v3.5.1", pre=True) == ["v3.5.0-rc2", "v3.5.0"]
    assert tags(">v3.6.0") == ["v3.6.2", "v4.0.0"]


def test_list_is_a_sorted_union_without_duplicates():
    assert tags("v4.0.0, v3.4 ,v3.4.10,>=v3.6,<v3.7") == ["v3.4.10", "v3.6.0", "v3.6.2", "v4.0.0"]


def test_exact_candidate_needs_pre():
    with pytest.raises(InputError, match="release candidate; add --pre"):
        tags("v3.6.0-rc1")
    assert tags("v3.6.0-rc1", pre=True) == ["v3.6.0-rc1"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("v9.9.9", "unknown release v9.9.9; nearest: v3.6.0, v3.6.2, v4.0.0"),
        ("v3.5.7", "unknown release v3.5.7; nearest: v3.5.0, v3.5.1, v3.5.15"),
        ("v3.9", "no release in line v3.9; nearest: v3.6.0, v3.6.2, v4.0.0"),
        (">=v5", "no release matches >=v5; the newest is v4.0.0"),
    ],
)
def test_unknown_versions_name_the_nearest(spec, message):
    with pytest.raises(UnknownVersionError) as info:
        tags(spec)
    assert str(info.value) == message


@pytest.mark.parametrize("spec", ["", "v3.5,,v3.6", ">=v3.5,<", "=>v3.5", "latest!", "bad name", "-rf", "a..b"])
def test_malformed_specs_are_input_errors(spec):
    with pytest.raises(InputError, match="malformed version spec"):
        tags(spec)


@pytest.mark.parametrize(("spec", "hint"), [("foo", "git ls-remote"), ("v3.5.5.5", "nearest: v3.5.15, v3.5.1, v3.5.0")])
def test_a_name_that_is_no_spec_and_no_ref_is_an_unknown_ref(spec, hint):
    with pytest.raises(UnknownVersionError, match=f"unknown ref {spec}") as caught:
        tags(spec)
    assert hint in str(caught.value)


BRANCHES = {"release-3.7": "a" * 40, "main": "b" * 40, "team/argo-3.5": "c" * 40, "stable": "d" * 40}
REFS = Refs(RELEASES, frozenset(TAGS), BRANCHES, lambda prefix: "e" * 40 if "e" * 40 == prefix.ljust(40, "e") else None)


def refs(spec: str) -> list[Release]:
    return resolve(spec, REFS)


def test_branches_and_commits_mix_with_tags_and_are_pinned():
    found = refs("main,release-3.7,v3.5,team/argo-3.5,eeeeeee")
    assert [(r.name, r.kind) for r in found] == [
        ("v3.5.15", RefKind.TAG), ("release-3.7", RefKind.BRANCH), ("eeeeeee", RefKind.COMMIT), ("main", RefKind.BRANCH), ("team/argo-3.5", RefKind.BRANCH),
    ]
    assert found[1].commit == "a" * 40 and found[1].line == (3, 7) and found[1].revision == "a" * 40
    assert found[2].commit == "e" * 40 and found[2].line is None
    assert found[0].revision == "refs/tags/v3.5.15" and found[0].line == (3, 5)


def test_a_name_that_is_a_tag_and_a_branch_is_the_tag():
    [stable] = refs("stable")
    assert stable.kind is RefKind.TAG and stable.version is None and stable.commit == ""


def test_lines_ranges_latest_and_supported_mean_tags_only():
    assert [r.name for r in refs("latest,>=v4.0")] == ["v4.0.0"]
    assert [r.name for r in refs("supported")] == ["v3.4.10", "v3.5.15", "v3.6.2", "v4.0.0"]
    with pytest.raises(UnknownVersionError, match="no release in line v3.7"):
        refs("v3.7")  # release-3.7 is a branch, not the line


def test_an_unknown_branch_names_the_nearest_tags_and_branches():
    with pytest.raises(UnknownVersionError, match=r"unknown ref release-3\.8: no tag or branch has that name; nearest: release-3\.7"):
        refs("release-3.8")
    with pytest.raises(UnknownVersionError, match="unknown ref fffffff: no tag, branch or commit"):
        refs("fffffff")


def test_nearest_at_the_edges():
    assert [r.name for r in nearest(parse_tag("v1.0.0").version, RELEASES)] == ["v2.12.0", "v3.4.0", "v3.4.1"]


def test_a_repository_without_release_tags():
    with pytest.raises(UnknownVersionError, match="no release tags"):
        resolve("latest", releases_from_tags(["stable", "foo"]))
