"""`pip install .` (pyproject.toml) and the quiet console (csvae_tf/console.py)."""

import os
import re
import shutil
import site as python_site
import subprocess
import sys

import pytest

from csvae_tf import console

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ABSL_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
ONEDNN = ("I0000 00:00:1796191389.599077   10250 port.cc:153] oneDNN custom operations are on. "
          "You may see slightly different numerical results.\n")
CUINIT = ("E0000 00:00:1796191606.245612   13330 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
          "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
OOM = "E0000 00:00:1796191606.245612   13330 bfc_allocator.cc:485] Allocator ran out of memory\n"
WARN = "W0000 00:00:1796191606.245612   13330 gpu_device.cc:2344] Cannot dlopen some GPU libraries.\n"


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH")}
    env.update(extra)
    return env


def test_filter_drops_absl_lines_below_the_level_and_keeps_the_rest():
    lines = [console._BANNER + "\n", ONEDNN, WARN, OOM, CUINIT, "UserWarning: a Python warning\n",
             "I like numbers 0000\n"]
    # Level 2 (the default): INFO, WARNING and the banner go; ERROR lines and non-absl lines stay.
    assert console.filter_lines(lines, 2, gpu_present=True) == [OOM, CUINIT, lines[5], lines[6]]
    # Without an NVIDIA device the cuInit ERROR is expected noise; a real ERROR is still kept.
    assert console.filter_lines(lines, 2, gpu_present=False) == [OOM, lines[5], lines[6]]
    assert console.filter_lines(lines, 1, gpu_present=True) == [WARN, OOM, CUINIT, lines[5], lines[6]]
    assert console.filter_lines(lines, 3, gpu_present=True) == [lines[5], lines[6]]
    assert console.filter_lines(lines, 0, gpu_present=False) == lines  # TF_CPP_MIN_LOG_LEVEL=0: all


@pytest.mark.parametrize("argv, wanted", [
    (["prog"], False),
    (["prog", "--tensorflow_logs"], True),
    (["prog", "-tensorflow_logs"], True),
    (["prog", "--tensorflow_logs=false"], False),
    (["prog", "--tensorflow_logs", "--notensorflow_logs"], False),
    (["prog", "--notensorflow_logs", "--tensorflow_logs=true"], True),
    (["prog", "--", "--tensorflow_logs"], False),
    (["prog", "--model_dir=--tensorflow_logs"], False),
])
def test_flag_is_read_from_argv(argv, wanted):
    assert console.wants_tensorflow_logs(argv) is wanted


# Imports TensorFlow through a program package and lists the devices (where cuInit runs).
_PROGRAM = "import trainers, tensorflow as tf; tf.config.list_physical_devices(); print('done')"


def _stderr_of(*args, **env):
    result = subprocess.run([sys.executable, "-c", _PROGRAM, *args], cwd=REPO, env=_env(**env),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    return result.stderr.splitlines()


def test_tensorflow_start_up_lines_hidden_by_default_and_shown_with_the_flag():
    quiet = _stderr_of()
    noisy = [line for line in quiet if ABSL_LINE.match(line) and not line.startswith(("E", "F"))]
    assert not noisy, quiet
    assert not any("oneDNN" in line or "InitializeLog" in line for line in quiet), quiet
    if not console.gpu_device_present():
        assert not any("cuInit" in line for line in quiet), quiet
    shown = _stderr_of("--tensorflow_logs")
    assert any(console._BANNER in line for line in shown), shown
    assert any(ABSL_LINE.match(line) for line in shown), shown
    if not console.gpu_device_present():  # the CUDA platform's start on a CPU machine
        assert any("failed call to cuInit" in line for line in shown), shown


def _copy_sources(dest):
    """What `pip install .` reads, copied so the checkout gets no build/ or egg-info."""
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(os.path.join(REPO, name), dest)
    for name in ("csvae_tf", "trainers", "export", "clients", "configs"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(dest, name),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _environment_seeing_this_one(venv) -> str:
    """A fresh venv whose interpreter also sees this interpreter's packages; returns its python.

    `venv --system-site-packages` would see the *base* interpreter's packages, which in a venv or a
    conda env lack what is installed there (TensorFlow, setuptools' wheel support). Instead the new
    venv gets no packages of its own (--without-pip) and a .pth file adding this interpreter's
    site-packages after its own: pip, setuptools and the pinned dependencies come from here, and
    what `pip install` puts in the new venv comes first.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, timeout=60, env=_env()).stdout.strip()
    user = [python_site.getusersitepackages()] if python_site.ENABLE_USER_SITE else []
    ours = [path for path in (*python_site.getsitepackages(), *user) if os.path.isdir(path)]
    os.makedirs(purelib, exist_ok=True)
    with open(os.path.join(purelib, "outer_environment.pth"), "w") as f:  # addsitedir: their .pth files apply too
        f.write("import site; " + "; ".join(f"site.addsitedir({path!r})" for path in ours) + "\n")
    return python


def test_pip_install_puts_the_programs_and_flagfiles_in_site_packages(tmp_path):
    source, venv, elsewhere = tmp_path / "source", tmp_path / "venv", tmp_path / "elsewhere"
    source.mkdir()
    elsewhere.mkdir()
    _copy_sources(source)
    python = _environment_seeing_this_one(venv)
    # No download: the build backend and the dependencies are the ones this interpreter has.
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--no-index", str(source)], check=True, timeout=300, env=_env())

    def run(*args, returncode=0):
        result = subprocess.run([python, *args], cwd=elsewhere, env=_env(), capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == returncode, result.stderr
        return result

    site = run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    files = run("-c", "import csvae_tf, trainers, export, clients.apply, csvae_tf.training, csvae_tf.kernels, "
                "csvae_tf.models.csvae; print(csvae_tf.__file__); print(trainers.__file__); "
                "print(export.__file__); print(clients.apply.__file__)").stdout.split()
    assert len(files) == 4 and all(f.startswith(site) for f in files), (site, files)
    configs = run("-m", "trainers").stdout.strip()
    assert configs == os.path.join(site, "trainers", "configs")
    with open(os.path.join(configs, "swiss_roll.flags")) as installed, \
            open(os.path.join(REPO, "configs", "swiss_roll.flags")) as checkout:
        assert installed.read() == checkout.read()
    assert os.path.isfile(os.path.join(site, "export", "models.config.example"))
    assert not os.path.exists(os.path.join(site, "benchmarks"))
    helped = run("-m", "trainers.swiss_roll", "--helpshort")
    # The help names the file it read the flags from: the installed copy, not the checkout.
    assert os.path.join(site, "trainers", "swiss_roll.py") in helped.stdout
    assert "--label_axis" in helped.stdout and "--model_dir" in helped.stdout
    assert "oneDNN" not in helped.stderr and "InitializeLog" not in helped.stderr, helped.stderr
    # The metadata carries the pins of requirements.txt.
    requires = run("-c", "import importlib.metadata as m; print('\\n'.join(m.requires('csvae-tf')))").stdout
    assert "tensorflow==2.21.0" in requires.split() and "keras==3.15.1" in requires.split()
