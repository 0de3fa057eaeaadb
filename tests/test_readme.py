"""The README's commands as a user types them: the quick start, export, the serving check and the load;
the answers the docs show, the exports they read and the files they write."""

import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

import tf_serving_stub
import tiny_exports
from conftest import REPO_ROOT as REPO, documented_rest_json, json_structure, program_env, run_program

README = os.path.join(REPO, "README.md")


def fenced_commands(path: str = README) -> list:
    """Each command line of the Markdown's ```bash blocks, continuation lines joined, comments dropped."""
    with open(path) as f:
        text = f.read()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\s*\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split("  #")[0].split(" # ")[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def python_snippets(path: str = README) -> list:
    with open(path) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


DOCS = [README] + sorted(os.path.join(REPO, "docs", name) for name in os.listdir(os.path.join(REPO, "docs"))
                         if name.endswith(".md"))
COMMAND = re.compile(r"python -m ((?:trainers|export|clients|studies|benchmarks)\.[A-Za-z_]+)((?:[ \t]+--?[A-Za-z_]+(?:=(?:\"[^\"]*\"|[^\s`|]*))?)*)")


def documented_invocations() -> list:
    """(page, module, [flag names], [flagfiles]) of every `python -m <our program> --flags` in the README and docs."""
    found = []
    for path in DOCS:
        with open(path) as f:
            text = re.sub(r"\s*\\\n\s*", " ", f.read())
        for match in COMMAND.finditer(text):
            arguments = re.findall(r"--?([A-Za-z_]+)(?:=(\"[^\"]*\"|\S*))?", match.group(2))
            names = [name for name, _ in arguments]
            flagfiles = [value for name, value in arguments if name == "flagfile" and not value.startswith('"')]
            found.append((os.path.relpath(path, REPO), match.group(1), names, flagfiles))
    return found


ABSL_FLAGS = {"flagfile", "undefok", "help", "helpfull", "helpshort", "helpxml", "only_check_args", "pdb",
              "pdb_post_mortem", "run_with_pdb", "run_with_profiling", "profile_file", "use_cprofile_for_profiling",
              "logtostderr", "alsologtostderr", "log_dir", "v", "verbosity", "stderrthreshold", "showprefixforinfo"}
OUR_PACKAGES = ("trainers", "export", "clients", "studies", "benchmarks")


def _module_file(module: str) -> str:
    return os.path.join(REPO, *module.split(".")) + ".py"


def _statically_defined(module: str, seen=None) -> set:
    """Flag names a program defines with literal names (flags.DEFINE_*("name", ...)) in its own file, its
    package's __init__ and, transitively, the modules of our programs' packages it imports."""
    seen = set() if seen is None else seen
    if module in seen or not os.path.isfile(_module_file(module)):
        return set()
    seen.add(module)
    with open(_module_file(module)) as f:
        source = f.read()
    names = set(re.findall(r"DEFINE_[a-z_]+\(\s*[\"']([A-Za-z_0-9]+)[\"']", source))
    imported = re.findall(r"^\s*(?:from|import) ((?:%s)(?:\.[A-Za-z_]+)*)" % "|".join(OUR_PACKAGES), source, flags=re.M)
    imported += [f"{base}.{name.strip()}" for base, names_list in
                 re.findall(r"^\s*from ((?:%s)) import ([A-Za-z_, ]+)" % "|".join(OUR_PACKAGES), source, flags=re.M)
                 for name in names_list.split(",")]
    package = module.split(".")[0]
    for other in {*imported, f"{package}.__init__"}:
        names |= _statically_defined(other, seen)
    return names


def _defined_flags(module: str) -> set:
    """The flags a program accepts: a trainer's own --help (it lists every flag, before TensorFlow
    loads); the other programs' literal definitions; absl's own."""
    if module.startswith("trainers."):
        run = run_program("-m", module, "--help", timeout=120)
        assert run.returncode == 0, f"python -m {module} --help: {run.stderr[-1500:]}"
        return ABSL_FLAGS | set(re.findall(r"^\s+--(?:\[no\])?([A-Za-z_0-9]+)", run.stdout, flags=re.M))
    return ABSL_FLAGS | _statically_defined(module)


def test_every_documented_flag_and_flagfile_exists():
    """Each `python -m <program> --flag` of the README and docs names a flag that program defines,
    and each flagfile it reads exists and holds only flags of that program."""
    invocations = documented_invocations()
    assert {module for _, module, _, _ in invocations} >= {"trainers.celeba", "export.saved_model", "clients.apply"}
    modules = sorted({module for _, module, _, _ in invocations})
    defined = {module: _defined_flags(module) for module in modules}
    wrong = []
    for page, module, names, flagfiles in invocations:
        wrong += [f"{page}: python -m {module} --{name}" for name in names if name not in defined[module]]
        for flagfile in flagfiles:
            path = os.path.join(REPO, flagfile)
            if not os.path.isfile(path):
                wrong.append(f"{page}: python -m {module} --flagfile={flagfile} (no such file)")
                continue
            with open(path) as f:
                listed = re.findall(r"^--([A-Za-z_0-9]+)", f.read(), flags=re.M)
            wrong += [f"{flagfile} (read by python -m {module} in {page}): --{name}" for name in listed
                      if name not in defined[module] and not (name.startswith("no") and name[2:] in defined[module])]
    assert not wrong, "documented flags the program does not define:\n" + "\n".join(wrong)


def _readme_command(start: str) -> str:
    matches = [c for c in fenced_commands() if c.startswith(start)]
    assert matches, f"the README no longer has a command starting {start!r}"
    return matches[0]


def test_the_fenced_commands_are_found():
    commands = fenced_commands()
    assert "python -m pytest -q" in commands
    assert any(c.startswith("python -m trainers.celeba --flagfile=configs/celeba_glasses.flags --model=all "
                            "--manual_dir=~/celeba") for c in commands)  # a continued line comes back whole


def _readme_rest_example():
    """The README's REST request to the swiss roll and the answer it shows (its ```text block)."""
    with open(README) as f:
        text = f.read()
    block = re.search(r"```text\n(.*?)```", text[text.index("/v1/models/swiss_roll:predict"):], re.S).group(1)
    request, answer = (json.loads(part) for part in block.strip().split("\n\n"))
    return request, answer


def _shown_swiss_roll_answers() -> list:
    """(where, request, shown answer) of the README's REST example and docs/serving.md's "REST" section."""
    blocks = documented_rest_json()
    requests = [b for b in blocks if "instances" in b or "inputs" in b]
    answers = [b for b in blocks if "predictions" in b or "outputs" in b]
    assert len(requests) == len(answers) >= 5
    return [("README.md", *_readme_rest_example())] + [("docs/serving.md", request, answer)
                                                        for request, answer in zip(requests, answers)]


def _numbers(value) -> list:
    """A JSON value's numbers in a fixed order (objects by key)."""
    if isinstance(value, dict):
        return [n for key in sorted(value) for n in _numbers(value[key])]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return [value]


# The docs show two decimals of the quick-start export's answers; another CPU's float rounding over
# 60 epochs moved one by 0.02.
SHOWN_TOLERANCE = 0.05


def test_the_readme_rest_answer_has_the_form_a_swiss_roll_export_gives():
    """The README's request, served by a swiss-roll-shaped export, is answered in the shown answer's form
    (its values are the quick-start export's: checked under -m slow)."""
    import tensorflow as tf  # noqa: PLC0415

    request, shown = _readme_rest_example()
    loaded = tf.saved_model.load(tiny_exports.export_path("csvae_roll"))
    answer = json.loads(json.dumps(tf_serving_stub.predict(loaded, request)))
    assert json_structure(answer) == json_structure(shown) == {"predictions": [[None, None, None]]}


@pytest.mark.slow  # ~2 min: the swiss roll's 60 epochs, its export, TF Serving's loading path and tf.saved_model.load
def test_quick_start_export_check_load_and_shown_answers_as_written(tmp_path):
    """In a fresh folder with the checkout's configs: each README command exactly as written; the REST
    answers the README and docs/serving.md show are this export's."""
    import tensorflow as tf  # noqa: PLC0415

    os.symlink(os.path.join(REPO, "configs"), tmp_path / "configs")
    env = program_env(PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # saved_model_cli, as activated
    for start in ("python -m trainers.swiss_roll --flagfile=configs/swiss_roll.flags",
                  "python -m export.saved_model --model_dir=runs/swiss_roll",
                  "python -m export.serving_check --export_dir=exports/swiss_roll/1"):
        command = shlex.split(_readme_command(start))
        run = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=900)
        assert run.returncode == 0, f"{start}: {run.stdout[-2000:]}{run.stderr[-2000:]}"
    assert (tmp_path / "runs" / "swiss_roll" / "swiss_roll.png").is_file()
    assert "error" not in run.stdout.lower() and "ok" in run.stdout

    snippet = next(s for s in python_snippets() if "tf.saved_model.load" in s)
    prelude = ("import numpy as np\npoints = np.array([[-7.1, 12.0, 3.9]], np.float32)\n"
               "w = np.array([[[3.0, 3.0]]], np.float32)\n")
    check = "\nassert switched.shape == (1, 3) and np.isfinite(switched.numpy()).all()\nprint('loaded ok')\n"
    run = subprocess.run([sys.executable, "-c", prelude + snippet + check], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "loaded ok" in run.stdout, run.stderr[-2000:]

    loaded = tf.saved_model.load(str(tmp_path / "exports" / "swiss_roll" / "1"))
    for page, request, shown in _shown_swiss_roll_answers():
        answer = json.loads(json.dumps(tf_serving_stub.predict(loaded, request)))
        assert json_structure(answer) == json_structure(shown), (page, request)
        np.testing.assert_allclose(_numbers(answer), _numbers(shown), rtol=0, atol=SHOWN_TOLERANCE,
                                   err_msg=f"{page}: the answer shown to {json.dumps(request)} is not the "
                                           f"quick-start export's {json.dumps(answer)}")



# What a documented command writes: a run, an export, an output file, an array saved for a request.
WRITTEN_PATH = re.compile(r"--(?:model_dir|export_dir|out|outdir)=([\w./$~-]+)|np\.savez?\(\s*['\"]([^'\"]+)['\"]")
PLACEHOLDER = re.compile(r"[A-Z][A-Z_]*(/|$)")  # RUN/csvae, MODEL_DIR: the reader's own folder


def test_the_documented_commands_leave_nothing_untracked():
    """Every path the README's and docs/' commands write inside the checkout is ignored by git."""
    if not os.path.isdir(os.path.join(REPO, ".git")):
        pytest.skip("not a git checkout")
    written = set()
    for page in DOCS:
        with open(page) as f:
            written |= {"".join(match).rstrip(".,;") for match in WRITTEN_PATH.findall(f.read())}
    assert {"runs/swiss_roll", "exports/swiss_roll", "exports/digits", "digits_test.npz", "out.png"} <= written, written
    inside = sorted(path for path in written if not path.startswith(("~", "/", "$")) and not PLACEHOLDER.match(path))
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *inside], cwd=REPO, capture_output=True,
                             text=True).stdout.split()
    assert sorted(set(inside) - set(ignored)) == [], "documented commands write these into the checkout, unignored"


def _documented_commands(prefix: str) -> list:
    """(page, module, {flag: value}) of every `python -m <module> --flags` in the README and docs whose module
    is `prefix` or in it (export.saved_model; trainers)."""
    found = []
    for path in DOCS:
        with open(path) as f:
            text = re.sub(r"\s*\\\n\s*", " ", f.read())
        for match in COMMAND.finditer(text):
            if match.group(1) == prefix or match.group(1).startswith(prefix + "."):
                arguments = dict(re.findall(r"--?([A-Za-z_]+)(?:=(\"[^\"]*\"|\S*))?", match.group(2)))
                found.append((os.path.relpath(path, REPO), match.group(1), arguments))
    return found


def _default_model(trainer: str) -> str:
    """A trainer's --model default, as its file (or the shared flag definitions) declares it."""
    for path in (_module_file(trainer), _module_file("trainers.flag_definitions")):
        with open(path) as f:
            default = re.search(r"DEFINE_enum\(\s*\"model\",\s*\"(\w+)\"", f.read())
        if default:
            return default.group(1)
    raise AssertionError(f"no --model flag found for {trainer}")


EXPORT_NAMED = re.compile(r"(?<![\w.-])exports/(\w+)(?:/(\d+))?(?![\w.])")  # not exports/models.config


def test_every_export_the_docs_use_is_written_by_a_documented_command():
    """Each exports/NAME[/VERSION] the README and docs name, and each model of export/models.config.example
    (served from exports/ mounted at /models), is written by a documented `python -m export.saved_model`
    (version 1 the first, or its --version); each run such an export reads is written by a documented trainer."""
    from csvae_tf.models import registry  # noqa: PLC0415

    exports = _documented_commands("export.saved_model")
    written = {}
    for page, _, arguments in exports:
        name = re.fullmatch(r"exports/(\w+)", arguments.get("export_dir", ""))
        if name:
            written.setdefault(name.group(1), set()).add(int(arguments.get("version", 1)))
    named = set()
    for page in DOCS:
        with open(page) as f:
            named |= {(os.path.relpath(page, REPO), name, version) for name, version in EXPORT_NAMED.findall(f.read())}
    config = os.path.join("export", "models.config.example")
    with open(os.path.join(REPO, config)) as f:
        named |= {(config, name, "") for name in re.findall(r"base_path:\s*\"/models/(\w+)\"", f.read())}
    assert {"swiss_roll", "digits", "celeba"} <= {name for _, name, _ in named}, named
    unwritten = sorted(f"{page}: exports/{name}" + (f"/{version}" if version else "") for page, name, version in named
                       if name not in written or (version and int(version) not in written[name]))
    assert not unwritten, "read by the docs, written by no documented export command:\n" + "\n".join(unwritten)

    runs = set()
    for _, trainer, arguments in _documented_commands("trainers"):
        model_dir = arguments.get("model_dir", "")
        if arguments.get("model", _default_model(trainer)) == "all":
            runs |= {f"{model_dir}/{model}" for model in registry.PAPER_MODELS}
        else:
            runs.add(model_dir)
    untrained = sorted(f"{page}: --model_dir={arguments['model_dir']}" for page, _, arguments in exports
                       if "model_dir" in arguments and arguments["model_dir"] not in runs)  # not a flag named in prose
    assert not untrained, "exported by the docs, trained by no documented command:\n" + "\n".join(untrained)
