"""The programs that use an export (`clients/`): what they import, and their `export.*` aliases."""

import ast
import glob
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT_FILES = sorted(glob.glob(os.path.join(REPO, "clients", "*.py")))
# The library modules a client may use: the quiet console, path flags, a TensorFlow error's one line, and
# CelebA's own crop for aligned photos.
ALLOWED_LIBRARY = {"csvae_tf", "csvae_tf.console", "csvae_tf.paths", "csvae_tf.error_lines", "csvae_tf.data",
                   "csvae_tf.data.celeba"}
FORBIDDEN_PACKAGES = ("keras", "tensorflow_probability", "export", "trainers")


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}


def _imported_names(path):
    """Every module an import statement of `path` names, function-local ones included; `from a import b`
    gives `a.b` (b may be a module)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_client_sources_import_no_model_code_keras_or_the_writer():
    assert {os.path.basename(p) for p in CLIENT_FILES} >= {
        "__init__.py", "backends.py", "switcher.py", "pictures.py", "face_alignment.py", "w_plane.py",
        "explore.py", "apply.py"}
    wrong = []
    for path in CLIENT_FILES:
        for name in _imported_names(path):
            top = name.split(".")[0]
            library = top == "csvae_tf" and name not in ALLOWED_LIBRARY and not name.startswith("csvae_tf.console.")
            if top in FORBIDDEN_PACKAGES or library:
                wrong.append(f"{os.path.relpath(path, REPO)}: {name}")
    assert not wrong, "clients/ must read exports only:\n" + "\n".join(wrong)


def test_importing_every_client_module_loads_no_model_code_keras_or_tensorflow():
    program = ("import json, sys\n"
               "import clients, clients.backends, clients.switcher, clients.pictures, clients.face_alignment, "
               "clients.w_plane, clients.explore, clients.apply\n"
               "print(json.dumps(sorted(sys.modules)))\n")
    run = subprocess.run([sys.executable, "-c", program], cwd=REPO, env=_env(), capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    modules = json.loads(run.stdout.strip().splitlines()[-1])
    loaded = sorted(m for m in modules if m.split(".")[0] in (*FORBIDDEN_PACKAGES, "tensorflow")
                    or (m.split(".")[0] == "csvae_tf" and m not in ALLOWED_LIBRARY))
    assert not loaded, loaded
    assert "clients.apply" in modules and "csvae_tf.console" in modules


def _help(module):
    return subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("program, own_flags", [
    ("explore", ["--export_dir", "--serving_url", "--examples", "--num_reference", "--port"]),
    ("apply", ["--export_dir", "--image", "--attribute", "--point", "--strength", "--eyes"]),
])
def test_export_alias_is_the_client_program(program, own_flags):
    """`python -m export.<program>` answers --help exactly as `python -m clients.<program>` does: the same
    text (its docstring and flags, listed under clients/<program>.py), the same exit status, nothing more."""
    alias, real = _help(f"export.{program}"), _help(f"clients.{program}")
    assert real.returncode == 0, real.stderr[-2000:]  # --help is an answer, not a failure (absl's exits 1)
    assert alias.returncode == real.returncode, (alias.stderr[-2000:], real.stderr[-2000:])
    assert alias.stdout == real.stdout
    assert f"python -m clients.{program}" in alias.stdout
    assert os.path.join("clients", f"{program}.py") + ":" in alias.stdout
    listed = [line.strip().split(":")[0] for line in alias.stdout.splitlines() if line.startswith("  --")]
    missing = [flag for flag in own_flags if flag not in listed and flag.replace("--", "--[no]") not in listed]
    assert not missing, (missing, alias.stdout)
