"""Every generated section of the docs is what its command writes from what the repository stores.

A section is the lines between `<!-- generated: COMMAND -->` and `<!-- end generated -->` in README.md
or docs/*.md; the check renders it again with the study's own report function from
studies/results/ (no training) and compares. docs/serving.md's signature tables are checked by
tests/test_serving_docs.py.
"""

import glob
import os
import re

import pytest

from conftest import REPO_ROOT, run_program
from studies import images, independence, precision_parity

PAGES = sorted(glob.glob(os.path.join(REPO_ROOT, "docs", "*.md"))) + [os.path.join(REPO_ROOT, "README.md")]
SECTION = re.compile(r"<!-- generated: (.+?) -->\n(.*?)\n?<!-- end generated -->", re.S)
CHECKED_ELSEWHERE = re.compile(r"python -m export\.signature_table --model=\w+ --rest$")  # test_serving_docs.py


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _sections():
    """(page, command, body) of every generated section."""
    found = []
    for page in PAGES:
        text = _read(page)
        sections = SECTION.findall(text)
        assert len(sections) == text.count("<!-- generated: "), f"{page}: a generated section lacks its end marker"
        found += [(page, command, body) for command, body in sections]
    return found


def _semi_supervised_table() -> str:
    """studies.semi_supervised's table, in a process of its own: it defines absl flags of the same names
    as studies.independence (--stage, --seeds, --out), so the two cannot be imported together. Its table
    needs nothing of the scoring module, which would load TensorFlow there."""
    script = ("import sys, types\n"
              "sys.modules['studies.digits_scores'] = types.ModuleType('studies.digits_scores')\n"
              "from studies import semi_supervised as study\n"
              "print(study.markdown(study.load_records(study.FLAGS['out'].default)), end='')\n")
    run = run_program("-c", script, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def _morpho_table() -> str:
    """studies.morpho's table, in a process of its own: its flags (--train, --settings, --seeds) share
    names with studies.images' and studies.independence's."""
    run = run_program("-c", "from studies import morpho as study\n"
                      "print(study.markdown(study.load_records()), end='')\n", timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def _precision_parity_inputs():
    """The study's records, its digits-conv runs as stored, and those not stored (pending)."""
    flag = precision_parity.FLAGS
    records = independence.load_records(flag["out"].default)
    conv, pending = precision_parity.conv_records(None, flag["precisions"].default,
                                                  [int(s) for s in flag["seeds"].default])
    return records, conv, pending


def _precision_parity_doc(page: str) -> str:
    records, conv, _ = _precision_parity_inputs()
    return precision_parity.doc_tables(records, conv)[page]


def _precision_parity_results() -> str:
    records, conv, pending = _precision_parity_inputs()
    return precision_parity.markdown(records, pending, conv)


# command -> (page -> the body its report writes there)
DOC_SECTIONS = {
    "python -m studies.images": lambda page: images.markdown(images.load_records()),
    "python -m studies.independence --stage=report":
        lambda page: independence.markdown(independence.load_records(independence.RESULTS)),
    "python -m studies.semi_supervised --stage=report": lambda page: _semi_supervised_table(),
    "python -m studies.precision_parity --report_only": _precision_parity_doc,
    "python -m studies.morpho": lambda page: _morpho_table(),
}

# studies/results/<study>.md -> (command, () -> what its report writes there)
RESULTS_TABLES = {
    "independence": ("python -m studies.independence --stage=report",
                     lambda: independence.markdown(independence.load_records(independence.RESULTS))),
    "semi_supervised": ("python -m studies.semi_supervised --stage=report", _semi_supervised_table),
    "precision_parity": ("python -m studies.precision_parity --report_only", _precision_parity_results),
}


def test_every_generated_section_has_a_check():
    sections = _sections()
    commands = {command for _, command, _ in sections}
    assert set(DOC_SECTIONS) <= commands, f"no page has a section of {set(DOC_SECTIONS) - commands}"
    unchecked = [(os.path.relpath(page, REPO_ROOT), command) for page, command, _ in sections
                 if command not in DOC_SECTIONS and not CHECKED_ELSEWHERE.match(command)]
    assert not unchecked, f"generated sections nothing checks: {unchecked}"


@pytest.mark.parametrize("page, command", [(os.path.relpath(page, REPO_ROOT), command)
                                           for page, command, _ in _sections() if command in DOC_SECTIONS])
def test_the_generated_section_is_what_its_report_writes_now(page, command):
    [body] = [body for p, c, body in _sections() if os.path.relpath(p, REPO_ROOT) == page and c == command]
    expected = DOC_SECTIONS[command](os.path.join(REPO_ROOT, page)).rstrip("\n")
    assert body == expected, f"{page}'s section of `{command}` is stale: run `{command}` to regenerate it"


@pytest.mark.parametrize("study", sorted(RESULTS_TABLES))
def test_the_results_table_beside_the_records_is_current(study):
    """studies/results/<study>.md, written by the same report as the pages' sections."""
    path = os.path.join("studies", "results", f"{study}.md")
    command, render = RESULTS_TABLES[study]
    assert _read(os.path.join(REPO_ROOT, path)) == render(), f"{path} is stale: run `{command}` to regenerate it"
