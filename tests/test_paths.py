"""csvae_tf/paths.py: `~` and `$VARS` in what a user types, expanded in one place for every program."""

import ast
import glob
import json
import os
import re
import subprocess
import sys

import pytest
from absl import flags

from conftest import REPO_ROOT
from csvae_tf import paths

PROGRAM_PACKAGES = ("trainers", "export", "clients", "benchmarks", "studies")
# A flag holding a path, by its name or its help; each is a DEFINE_path.
PATH_NAME = re.compile(r"(^|_)(dir|dirs|path|paths|file|files|runs|out|image|images|metadata|examples|doc|figure|"
                       r"flagfile)(_|$)")
PATH_HELP = re.compile(r"\b(folder|directory|file|path)s?\b|\.(npz|json|png|mat|csv|flags)\b|EXPORT/", re.I)
NOT_PATHS = {"serving_name"}  # "... default the export folder's name": a name, not a path
NOT_STRINGS = ("DEFINE_bool", "DEFINE_boolean", "DEFINE_integer", "DEFINE_float", "DEFINE_enum", "DEFINE_enum_class",
               "DEFINE_multi_integer", "DEFINE_multi_float", "DEFINE_multi_enum", "DEFINE_multi_enum_class")


def test_home_and_variables_are_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CELEBA_ROOT", "/data/faces")
    assert paths.expand("~/celeba") == f"{tmp_path}/celeba"
    assert paths.expand("~") == str(tmp_path)
    assert paths.expand("$HOME/TFD/TFD_48x48.mat") == f"{tmp_path}/TFD/TFD_48x48.mat"
    assert paths.expand("${CELEBA_ROOT}/celeba") == "/data/faces/celeba"
    assert paths.expand("$CELEBA_ROOT") == "/data/faces"
    assert paths.expand("runs/a~b") == "runs/a~b"  # only a leading ~ is the home folder, as in a shell
    assert paths.expand("/abs/path") == "/abs/path" and paths.expand("") == "" and paths.expand(None) is None


def test_an_unset_variable_is_refused_by_name(monkeypatch):
    monkeypatch.delenv("CSVAE_NOT_SET", raising=False)
    with pytest.raises(ValueError, match=r"\$CSVAE_NOT_SET, which is not set"):
        paths.expand("${CSVAE_NOT_SET}/celeba")


def test_a_path_flag_holds_the_expanded_value_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RUNS", "/scratch/runs")
    values = flags.FlagValues()
    paths.DEFINE_path("manual_dir", "~/celeba", "Official files.", flag_values=values)
    paths.DEFINE_path("model_dir", None, "Run directory.", flag_values=values)
    values(["program"])
    assert values.manual_dir == f"{tmp_path}/celeba" and values.model_dir is None
    values(["program", "--manual_dir=~/other", "--model_dir=$RUNS/celeba_glasses"])
    assert values.manual_dir == f"{tmp_path}/other" and values.model_dir == "/scratch/runs/celeba_glasses"
    monkeypatch.delenv("RUNS")
    with pytest.raises(flags.IllegalFlagValueError, match=r"--model_dir=\$RUNS/x: .*\$RUNS, which is not set"):
        values(["program", "--model_dir=$RUNS/x"])


def string_flags(source: str):
    """(DEFINE function, flag name, help text) of each flag a program's source defines by a literal name,
    except those whose values are not strings (bool, int, float, enum)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if not function.startswith("DEFINE") or function in NOT_STRINGS or not isinstance(node.args[0].value, str):
            continue
        help_node = node.args[2] if len(node.args) > 2 else next(
            (keyword.value for keyword in node.keywords if keyword.arg == "help"), None)
        if help_node is None:
            help_node = ast.Constant("")
        help_text = help_node.value if isinstance(help_node, ast.Constant) else ast.unparse(help_node)
        found.append((function, node.args[0].value, str(help_text)))
    return found


def path_flags_defined_otherwise(source: str):
    """The path flags of `source` (by name or help) that are not DEFINE_path flags."""
    return [f"{function}({name!r})" for function, name, help_text in string_flags(source)
            if function != "DEFINE_path" and name not in NOT_PATHS
            and (PATH_NAME.search(name) or PATH_HELP.search(help_text))]


def _program_sources():
    for package in PROGRAM_PACKAGES:
        for path in sorted(glob.glob(os.path.join(REPO_ROOT, package, "**", "*.py"), recursive=True)):
            with open(path) as f:
                yield os.path.relpath(path, REPO_ROOT), f.read()


def test_the_check_catches_a_path_flag_defined_as_a_string():
    source = ('from absl import flags\nflags.DEFINE_string("cache_dir", None, "Where the cache goes.")\n'
              'flags.DEFINE_string("results", "r.json", "Where the " "results file goes.")\n'
              'flags.DEFINE_multi_string("inputs", [], "Input .npz files.")\n'
              'flags.DEFINE_string("subset", "glasses", "A CelebA attribute.")\n'
              'paths.DEFINE_path("model_dir", None, "Run directory.")\n')
    assert path_flags_defined_otherwise(source) == [
        "DEFINE_string('cache_dir')", "DEFINE_string('results')", "DEFINE_multi_string('inputs')"]


def test_every_path_flag_of_every_program_expands():
    """Each flag of trainers/, export/, clients/, benchmarks/ and studies/ that holds a path (by its
    name or its help) is a DEFINE_path flag, so `~` and `$VARS` are expanded for all of them."""
    wrong, defined = [], set()
    for relative, source in _program_sources():
        wrong += [f"{relative}: {flag}" for flag in path_flags_defined_otherwise(source)]
        defined |= {f"{relative}:{name}" for function, name, _ in string_flags(source) if function == "DEFINE_path"}
    assert not wrong, "path flags that do not expand ~ and $VARS (use csvae_tf.paths.DEFINE_path):\n" + "\n".join(wrong)
    assert defined >= {  # the scan reads the programs: the flags the issue names are among those found
        "trainers/flag_definitions.py:model_dir", "trainers/celeba.py:manual_dir", "trainers/celeba.py:data_dir",
        "trainers/tfd.py:tfd_path", "export/saved_model.py:model_dir", "export/saved_model.py:export_dir",
        "export/serving_check.py:export_dir", "clients/apply.py:image", "clients/apply.py:out",
        "clients/apply.py:export_dir", "clients/apply.py:metadata", "clients/explore.py:examples",
        "clients/explore.py:export_dir", "benchmarks/celeba_budget.py:manual_dir", "studies/images.py:image_runs"}


@pytest.mark.parametrize("program, define", [
    ("trainers.celeba", ""),
    ("trainers.tfd", ""),
    ("clients.apply", "clients.apply.define_flags()"),
    ("clients.explore", "clients.explore.define_flags()"),
])
def test_programs_parse_their_path_flags_expanded(tmp_path, program, define):
    """Each program as it parses a command line (or a flagfile): every path flag it holds comes out expanded."""
    in_flagfile = {"model_dir": "${CSVAE_RUNS}/from_flagfile", "export_dir": "~/exports/1"}
    typed = {name: f"~/{name}" for name in ("manual_dir", "data_dir", "image", "out", "metadata", "examples")}
    typed["tfd_path"] = "$HOME/TFD/TFD_48x48.mat"
    script = (f"import json, sys\nfrom absl import flags\nimport {program}\n{define}\nFLAGS = flags.FLAGS\n"
              f"in_flagfile, typed = {in_flagfile!r}, {typed!r}\n"
              f"with open({str(tmp_path / 'paths.flags')!r}, 'w') as f:\n"
              "    f.write(''.join(f'--{n}={v}\\n' for n, v in in_flagfile.items() if n in FLAGS))\n"
              f"argv = ['{program}', '--flagfile={tmp_path / 'paths.flags'}']\n"
              "argv += [f'--{n}={v}' for n, v in typed.items() if n in FLAGS]\n"
              "FLAGS(argv)\n"
              "print(json.dumps({n: FLAGS[n].value for n in [*in_flagfile, *typed] if n in FLAGS}))\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HOME": str(tmp_path), "CSVAE_RUNS": "/scratch/runs",
                              "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert run.returncode == 0, run.stderr[-2000:]
    parsed = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(parsed) >= 2 and not any("~" in value or "$" in value for value in parsed.values()), parsed
    for name, value in parsed.items():
        want = {"model_dir": "/scratch/runs/from_flagfile", "export_dir": f"{tmp_path}/exports/1",
                "tfd_path": f"{tmp_path}/TFD/TFD_48x48.mat"}.get(name, f"{tmp_path}/{name}")
        assert value == want, (name, value)
