"""Labels from git: a public source URL, the commit with -dirty, the commit's time."""

import subprocess

import pytest

from warp.image.labels import GitFacts, git_facts, oci_labels, public_url, source_date_epoch


@pytest.mark.parametrize("remote, url", [
    ("https://user:t0ken@git.example.invalid/team/app.git", "https://git.example.invalid/team/app.git"),
    ("https://oauth2:glpat-xyz@git.example.invalid:8443/team/app", "https://git.example.invalid:8443/team/app"),
    ("https://git.example.invalid/team/app.git?private_token=abc#frag", "https://git.example.invalid/team/app.git"),
    ("ssh://git@git.example.invalid:2222/team/app.git", "ssh://git.example.invalid:2222/team/app.git"),
    ("git@git.example.invalid:team/app.git", "ssh://git.example.invalid/team/app.git"),
    ("git.example.invalid:team/app.git", "ssh://git.example.invalid/team/app.git"),
])
def test_remote_urls_lose_credentials(remote, url):
    assert public_url(remote) == url


@pytest.mark.parametrize("remote", ["/srv/git/app.git", "../app.git", "./app", "~/app.git", "file:///srv/git/app.git",
                                    "C:\\\\repos\\\\app"])
def test_local_remotes_give_no_source(remote):
    assert public_url(remote) is None


def git(path, *args):
    return subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "remote", "add", "origin", "https://user:t0ken@git.example.invalid/team/app.git")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "a.py").write_text("a = 1\n")
    (tmp_path / "elsewhere.txt").write_text("x\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "a", "--date", "@1700000000 +0000")
    return tmp_path


def test_git_facts_of_a_clean_tree(repo):
    facts = git_facts(repo / "app")
    assert facts.source == "https://git.example.invalid/team/app.git"
    assert facts.revision == git(repo, "rev-parse", "HEAD")
    assert facts.commit_time == int(git(repo, "log", "-1", "--format=%ct"))


def test_changed_or_new_files_in_the_app_make_it_dirty_and_elsewhere_do_not(repo):
    (repo / "elsewhere.txt").write_text("changed\n")
    assert not git_facts(repo / "app").dirty
    (repo / "app" / "new.py").write_text("")
    assert git_facts(repo / "app").revision.endswith("-dirty")
    (repo / "app" / "new.py").unlink()
    (repo / "app" / "a.py").write_text("a = 2\n")
    assert git_facts(repo / "app").dirty


def test_the_tracked_remote_wins_over_origin(repo):
    git(repo, "remote", "add", "upstream", "git@git.example.invalid:other/app.git")
    branch = git(repo, "symbolic-ref", "--short", "HEAD")
    git(repo, "config", f"branch.{branch}.remote", "upstream")
    assert git_facts(repo).source == "ssh://git.example.invalid/other/app.git"


def test_outside_git_there_is_nothing(tmp_path):
    facts = git_facts(tmp_path)
    assert facts == GitFacts()
    labels = oci_labels(facts, "team/app:1.0", 1700000000)
    assert "org.opencontainers.image.source" not in labels and "org.opencontainers.image.revision" not in labels
    assert labels["org.opencontainers.image.title"] == "app"
    assert labels["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"


def test_source_date_epoch_flag_then_commit_then_now():
    facts = GitFacts(commit="c", commit_time=1700000000)
    assert source_date_epoch(facts, 5) == 5
    assert source_date_epoch(facts) == 1700000000
    assert source_date_epoch(GitFacts(), now=42.7) == 42
