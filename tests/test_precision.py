"""--precision=auto (csvae_tf.training.precision): the rule, what a run records, and resuming under it."""

import json

import numpy as np
import pytest

from csvae_tf import distribute, training
from csvae_tf.data import pipeline
from csvae_tf.models.csvae import CSVAE
from csvae_tf.training import precision

IMAGES, VECTORS = [64, 64, 3], [3]
AVX512 = {"fpu", "avx512f", "avx512_bf16"}
PLAIN = {"fpu", "avx2", "avx512f"}


@pytest.mark.parametrize("requested", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_an_explicit_precision_is_used_as_given(requested):
    choice = precision.resolve_precision(requested, IMAGES, flags=PLAIN, gpus=())
    assert (choice.precision, choice.requested) == (requested, requested)


@pytest.mark.parametrize("flags, expected, says", [
    (AVX512, "mixed_bfloat16", "avx512_bf16"),
    ({"fpu", "amx_bf16", "amx_tile"}, "mixed_bfloat16", "amx_bf16"),
    ({*AVX512, "amx_bf16"}, "mixed_bfloat16", "amx_bf16, avx512_bf16"),
    (PLAIN, "float32", "neither amx_bf16 nor avx512_bf16"),
    (set(), "float32", "neither"),
])
def test_auto_on_a_cpu_follows_its_bfloat16_flags(flags, expected, says):
    choice = precision.resolve_precision("auto", IMAGES, flags=flags, gpus=())
    assert choice.precision == expected and says in choice.reason
    assert choice.requested == "auto" and choice.describe().startswith(f"precision {expected} (auto: ")


@pytest.mark.parametrize("gpus, expected, says", [
    ((("NVIDIA A100", (8, 0)),), "mixed_bfloat16", "NVIDIA A100 (8.0)"),
    ((("NVIDIA H200", (9, 0)), ("NVIDIA H200", (9, 0))), "mixed_bfloat16", ">= 8.0"),
    ((("Tesla V100", (7, 0)),), "float32", "mixed_float16"),
    ((("NVIDIA L4", (8, 9)), ("Tesla T4", (7, 5))), "float32", "Tesla T4 has compute capability 7.5"),
])
def test_auto_with_gpus_follows_their_compute_capability_whatever_the_cpu(gpus, expected, says):
    for flags in (AVX512, PLAIN):
        choice = precision.resolve_precision("auto", IMAGES, flags=flags, gpus=gpus)
        assert choice.precision == expected and says in choice.reason


def test_auto_keeps_float32_for_the_mlp_networks_even_where_bfloat16_is_native():
    for shape in (VECTORS, [64]):
        choice = precision.resolve_precision("auto", shape, flags=AVX512, gpus=(("NVIDIA A100", (8, 0)),))
        assert choice.precision == "float32" and "MLP" in choice.reason
    # Without a shape the network rule does not apply.
    assert precision.resolve_precision("auto", None, flags=AVX512, gpus=()).precision == "mixed_bfloat16"


def test_auto_reads_proc_cpuinfo_and_the_visible_gpus_by_default(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx512f avx512_bf16 avx2\n\n"
                       "processor\t: 1\nflags\t\t: fpu sse avx512f avx512_bf16 avx2\n")
    assert precision.cpu_flags(str(cpuinfo)) == frozenset({"fpu", "sse", "avx512f", "avx512_bf16", "avx2"})
    assert precision.cpu_flags(str(tmp_path / "absent")) is None
    monkeypatch.setattr(precision, "CPUINFO", str(cpuinfo))
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: ())
    assert precision.resolve_precision("auto", IMAGES).precision == "mixed_bfloat16"
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: (("Tesla T4", (7, 5)),))
    assert precision.resolve_precision("auto", IMAGES).precision == "float32"
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: ())
    monkeypatch.setattr(precision, "cpu_flags", lambda: None)
    choice = precision.resolve_precision("auto", IMAGES)
    assert choice.precision == "float32" and "unknown" in choice.reason


def test_unknown_precisions_are_refused():
    with pytest.raises(ValueError, match="must be one of"):
        precision.resolve_precision("bfloat16", IMAGES, flags=AVX512, gpus=())
    with pytest.raises(ValueError, match="resolve 'auto'"):
        training.TrainConfig(model_dir="/tmp/x", epochs=1, batch_size=4, precision="auto")


# ---------------------------------------------------------------------------- a run under auto
BATCH = 32


def _train(model_dir, epochs, choice):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    config = training.TrainConfig(
        model_dir=str(model_dir), epochs=epochs, batch_size=BATCH, tensorboard=False, log_every_seconds=1e9,
        precision=choice.precision, precision_requested=choice.requested, precision_reason=choice.reason,
    )
    return training.train(
        lambda: CSVAE(input_shape=(3,), num_labels=1, dim_z=2, hidden_units=(8,), adversary_units=(8,)),
        "csvae",
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, BATCH, 7, first_epoch, skip),
        pipeline.steps_per_epoch(len(x), BATCH), config, distribute.make_strategy(),
    )


def test_a_run_records_its_resolved_precision_and_resumes_only_as_it_resolved(tmp_path):
    here = precision.resolve_precision("auto", None, flags=AVX512, gpus=())  # mixed_bfloat16
    elsewhere = precision.resolve_precision("auto", None, flags=PLAIN, gpus=())  # float32
    first = _train(tmp_path, 1, here)
    assert first.model.dtype_policy.name == "mixed_bfloat16"
    with open(tmp_path / training.RUN_CONFIG_FILE) as f:
        recorded = json.load(f)["train"]
    assert recorded["precision"] == "mixed_bfloat16" and recorded["precision_requested"] == "auto"
    assert "avx512_bf16" in recorded["precision_reason"]

    # auto resolving to float32 on another machine: refused in one line that says what to pass.
    with pytest.raises(training.RunDirectoryMismatch) as refused:
        _train(tmp_path, 2, elsewhere)
    message = str(refused.value)
    assert "\n" not in message
    assert "--precision=auto resolves to float32 on this machine" in message
    assert "resume it with --precision=mixed_bfloat16" in message

    # auto resolving the same way (the same machine), or the precision given explicitly, resumes.
    resumed = _train(tmp_path, 2, here)
    assert resumed.resumed_from_step == first.final_step and resumed.final_step == 2 * first.final_step
    explicit = precision.resolve_precision("mixed_bfloat16")
    assert _train(tmp_path, 3, explicit).resumed_from_step == resumed.final_step
