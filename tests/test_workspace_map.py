"""WORKSPACE.md's map is true: every path it names exists, and every module of the code packages is on it.

The map is the first fenced block under "## The map": one entry a line, `name   what it is`, indented
two spaces per folder level, folders ending in `/`.
"""

import os
import re

import pytest

from conftest import REPO_ROOT

WORKSPACE = os.path.join(REPO_ROOT, "WORKSPACE.md")
CODE_PACKAGES = ("csvae_tf", "trainers", "export", "clients", "studies", "benchmarks")
LONGEST_DESCRIPTION = 80  # a few words, not a paragraph


def map_entries(text: str) -> list:
    """(path relative to the repository, description) for each line of the map's block, in order."""
    section = text[text.index("\n## The map\n"):]
    block = re.search(r"```\n(.*?)```", section, flags=re.S).group(1)
    entries, folders = [], []
    for number, line in enumerate(block.splitlines(), 1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0 and indent // 2 <= len(folders), f"map line {number} is indented oddly: {line!r}"
        depth = indent // 2
        del folders[depth:]
        name, _, description = line.strip().partition("  ")
        entries.append(("".join(folders) + name, description.strip()))
        if name.endswith("/"):
            folders.append(name)
    return entries


@pytest.fixture(scope="module")
def entries():
    with open(WORKSPACE) as f:
        return map_entries(f.read())


def test_the_parser_reads_nesting_and_descriptions():
    text = ("# Map\n\n## The map\n\n```\n"
            "a/             the a\n  b/           the b\n    c.py       the c\n  d.py         the d\ne.py  the e\n```\n")
    assert map_entries(text) == [("a/", "the a"), ("a/b/", "the b"), ("a/b/c.py", "the c"), ("a/d.py", "the d"),
                                 ("e.py", "the e")]


def test_every_path_on_the_map_exists(entries):
    missing = [path for path, _ in entries
               if not (os.path.isdir if path.endswith("/") else os.path.isfile)(os.path.join(REPO_ROOT, path))]
    assert not missing, "WORKSPACE.md's map names paths that do not exist: " + ", ".join(missing)


def test_every_module_of_the_code_packages_is_on_the_map(entries):
    """A package's `__init__.py` is its folder's line; every other .py file has a line of its own."""
    named = {path for path, _ in entries}
    modules = []
    for package in CODE_PACKAGES:
        for folder, subfolders, files in os.walk(os.path.join(REPO_ROOT, package)):
            subfolders[:] = [d for d in subfolders if d != "__pycache__"]
            relative = os.path.relpath(folder, REPO_ROOT).replace(os.sep, "/") + "/"
            if any(name.endswith(".py") for name in files):
                modules.append(relative)
            modules += [relative + name for name in files if name.endswith(".py") and name != "__init__.py"]
    assert len(modules) > 50  # the walk found the code
    absent = sorted(set(modules) - named)
    assert not absent, "not on WORKSPACE.md's map (add a line: name and a few words): " + ", ".join(absent)


def test_each_entry_says_what_it_is_in_a_few_words(entries):
    wordy = [path for path, description in entries if not 0 < len(description) <= LONGEST_DESCRIPTION]
    assert not wordy, f"map entries without a description or longer than {LONGEST_DESCRIPTION} characters: {wordy}"
