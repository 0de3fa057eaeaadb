"""The README's commands as a user types them: the quick start, export, the serving check and the load."""

import os
import re
import shlex
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def _readme_command(start: str) -> str:
    matches = [c for c in fenced_commands() if c.startswith(start)]
    assert matches, f"the README no longer has a command starting {start!r}"
    return matches[0]


def test_the_fenced_commands_are_found():
    commands = fenced_commands()
    assert "python -m pytest -q" in commands
    assert any(c.startswith("python -m trainers.celeba --flagfile=configs/celeba_glasses.flags --model=all "
                            "--manual_dir=~/celeba") for c in commands)  # a continued line comes back whole


@pytest.mark.slow  # ~2 min: the swiss roll's 60 epochs, its export, TF Serving's loading path and tf.saved_model.load
def test_quick_start_export_check_and_load_run_as_written(tmp_path):
    """In a fresh folder with the checkout's configs: each README command exactly as written."""
    os.symlink(os.path.join(REPO, "configs"), tmp_path / "configs")
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
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
