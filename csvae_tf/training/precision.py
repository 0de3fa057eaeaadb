"""`--precision=auto`: bfloat16 mixed precision where the hardware computes bfloat16 natively.

    choice = resolve_precision("auto", input_shape=[64, 64, 3])
    choice.precision   # "mixed_bfloat16" or "float32" (a Keras dtype policy, TrainConfig.precision)
    choice.reason      # one line: why, printed at start and written to run_config.json

The rule, in order:

  1. an explicit precision ("float32", "mixed_bfloat16", "mixed_float16") is used as given;
  2. networks for which bfloat16 does not pay (AUTO_FLOAT32_NETWORKS: the MLPs of vector data,
     see its comment and studies/results/precision_parity.md) keep float32;
  3. with GPUs: mixed_bfloat16 when every GPU has compute capability >= 8.0 (Ampere and later
     compute bfloat16 natively), otherwise float32 (mixed_float16 with loss scaling is the
     alternative there, never picked automatically);
  4. on CPUs: mixed_bfloat16 when /proc/cpuinfo lists `amx_bf16` or `avx512_bf16` (oneDNN then
     runs bfloat16 convolutions and products natively: ~1.5x float32's step on the CelebA
     networks), otherwise float32 (bfloat16 would be emulated, slower than float32).

Weights stay float32 under mixed precision, so checkpoints restore and export the same; the
resolved precision is part of a run (run_directory.STEP_DEFINING_SETTINGS), so a run started with
auto resumes with auto on the same machine, and `resume_mismatch_hint` says what to pass when auto
resolves differently elsewhere.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Sequence, Tuple

from csvae_tf.training.config import PRECISIONS

AUTO = "auto"
CHOICES = (AUTO, *PRECISIONS)
NATIVE_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
MIN_GPU_CAPABILITY = (8, 0)
CPUINFO = "/proc/cpuinfo"

# network family (csvae_tf.networks.infer_network) -> why auto keeps float32 for it. The parity
# study (studies/results/precision_parity.md: swiss roll and digits, 3 seeds) found no quality
# difference under mixed_bfloat16, but these networks are too small for it to pay: their steps are
# bound by per-op overhead, and the casts make the swiss roll's step ~0.75x as fast.
AUTO_FLOAT32_NETWORKS = {
    "mlp": "the MLP networks of vector data train as well in bfloat16 but no faster (its casts cost more than "
           "its products save; studies/results/precision_parity.md)",
}


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """requested: the flag's value; precision: the Keras dtype policy; reason: why, in one line."""

    requested: str
    precision: str
    reason: str

    def describe(self) -> str:
        if self.requested == AUTO:
            return f"precision {self.precision} (auto: {self.reason})"
        return f"precision {self.precision} (as requested)"


def cpu_flags(path: Optional[str] = None) -> Optional[frozenset]:
    """The CPU's feature flags (the `flags` line of `path`, default CPUINFO); None where the file is not there."""
    try:
        with open(path or CPUINFO) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        return None
    return frozenset()


def gpu_capabilities() -> Tuple[Tuple[str, Tuple[int, int]], ...]:
    """((device name, compute capability), ...) of the visible GPUs; () on machines without one."""
    import tensorflow as tf  # noqa: PLC0415

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append((details.get("device_name", gpu.name), tuple(details.get("compute_capability", (0, 0)))))
    return tuple(found)


def resolve_precision(
    requested: str,
    input_shape: Optional[Sequence[int]] = None,
    *,
    flags: Optional[Iterable[str]] = None,
    gpus: Optional[Sequence[Tuple[str, Tuple[int, int]]]] = None,
) -> PrecisionChoice:
    """The precision a run trains in (see the module docstring for the rule).

    Args:
      requested: "auto" or one of PRECISIONS.
      input_shape: the model's data shape ([n] vectors, [H, W, C] images); None skips rule 2.
      flags: the CPU's flags (default: read /proc/cpuinfo); for tests.
      gpus: ((name, (major, minor)), ...) (default: the visible GPUs); for tests.

    Raises:
      ValueError: `requested` is not one of CHOICES.
    """
    if requested not in CHOICES:
        raise ValueError(f"precision must be one of {CHOICES}, got {requested!r}.")
    if requested != AUTO:
        return PrecisionChoice(requested, requested, "requested")
    if input_shape is not None:
        from csvae_tf import networks  # noqa: PLC0415

        network = networks.infer_network(input_shape)
        if network in AUTO_FLOAT32_NETWORKS:
            return PrecisionChoice(AUTO, "float32", AUTO_FLOAT32_NETWORKS[network])
    gpus = gpu_capabilities() if gpus is None else tuple(gpus)
    if gpus:
        slow = [(name, capability) for name, capability in gpus if tuple(capability) < MIN_GPU_CAPABILITY]
        if slow:
            name, capability = slow[0]
            return PrecisionChoice(AUTO, "float32", (
                f"GPU {name} has compute capability {capability[0]}.{capability[1]} < 8.0, no native bfloat16 "
                f"(--precision=mixed_float16, with loss scaling, is the faster choice there)"))
        names = ", ".join(sorted({f"{name} ({c[0]}.{c[1]})" for name, c in gpus}))
        return PrecisionChoice(AUTO, "mixed_bfloat16", f"GPU compute capability >= 8.0 computes bfloat16 natively: {names}")
    flags = cpu_flags() if flags is None else frozenset(flags)
    if flags is None:
        return PrecisionChoice(AUTO, "float32", f"no GPU, and the CPU's features are unknown (no {CPUINFO})")
    native = [flag for flag in NATIVE_CPU_FLAGS if flag in flags]
    if native:
        return PrecisionChoice(AUTO, "mixed_bfloat16", f"no GPU; the CPU computes bfloat16 natively ({', '.join(native)})")
    return PrecisionChoice(AUTO, "float32",
                           "no GPU, and the CPU has neither amx_bf16 nor avx512_bf16 (bfloat16 would be emulated, "
                           "slower than float32)")


def resume_mismatch_hint(recorded: str, choice: PrecisionChoice) -> str:
    """What to tell a user resuming a run trained in `recorded` when this start resolved to `choice`."""
    if choice.requested == AUTO:
        return (f"--precision=auto resolves to {choice.precision} here ({choice.reason}); resume it with "
                f"--precision={recorded}")
    return f"resume it with --precision={recorded} (or --precision=auto on the machine that started it)"
