"""benchmarks/serving_floor.py: the pieces' FLOPs and weight bytes against counts by hand, the floor's
formula, and a tiny run's record."""

import math

import numpy as np
import pytest

from benchmarks import flops, serving, serving_floor
from csvae_tf import serving_precision

IMAGE, DIM_Z, K = 16, 8, 2


@pytest.fixture(scope="module")
def model():
    return serving.build_model(serving.ServingBenchmarkConfig(image_size=IMAGE, channels=3, num_labels=K, dim_z=DIM_Z))


def _expected(itemsize: int):
    """(FLOPs, weight bytes) per piece of a 16x16x3 CSVAE, by hand (5x5 kernels, Larsen's widths)."""
    conv_params = 25 * (3 * 64 + 64 * 128 + 128 * 256)
    conv_flops = 2 * 25 * (8 * 8 * 3 * 64 + 4 * 4 * 64 * 128 + 2 * 2 * 128 * 256)  # at the outputs' positions
    flat = 2 * 2 * 256
    latent = DIM_Z + K * 2
    deconv_params = 25 * (256 * 256 + 256 * 128 + 128 * 32)
    deconv_flops = 2 * 25 * (2 * 2 * 256 * 256 + 4 * 4 * 256 * 128 + 8 * 8 * 128 * 32)  # at the inputs' positions
    out_params = 25 * 32 * 3
    return [
        (conv_flops, conv_params * itemsize),
        # dense 1024 -> 2048 in the compute dtype; the mean head 2048 -> dim_z stays float32
        (2 * flat * 2048 + 2 * 2048 * DIM_Z, flat * 2048 * itemsize + 2048 * DIM_Z * 4),
        (2 * latent * flat, latent * flat * itemsize),
        (deconv_flops + 2 * 25 * 16 * 16 * 32 * 3, deconv_params * itemsize + out_params * 4),
    ]


@pytest.mark.parametrize("precision, itemsize", [("float32", 4), ("bfloat16", 2)])
def test_pieces_count_the_switch_paths_flops_and_weights_by_hand(model, precision, itemsize):
    copy, _ = serving_precision.serving_model(model, precision)
    rows = serving_floor.piece_table(copy)
    assert [row["piece"] for row in rows] == [piece for piece, _, _ in serving_floor.PIECES]
    assert [(row["flops"], row["weight_bytes"]) for row in rows] == _expected(itemsize)
    # together: the decoder's whole forward pass and the z-encoder's without its stddev head
    stddev_head = 2 * 2048 * DIM_Z
    assert sum(row["flops"] for row in rows) == (
        flops.network_flops(copy.z_encoder)["forward"] - stddev_head + flops.network_flops(copy.decoder)["forward"])


def test_floor_is_the_slower_of_reading_the_weights_and_doing_the_arithmetic():
    # 1 GB at 10 GB/s = 0.1 s against 1 GFLOP at 100 GFLOP/s = 0.01 s, and the other way round
    assert serving_floor.floor_seconds(1e9, 1e9, 10e9, 100e9) == pytest.approx(0.1)
    assert serving_floor.floor_seconds(1e6, 5e9, 10e9, 100e9) == pytest.approx(0.05)


def test_a_tiny_run_prints_a_record_whose_floors_follow_from_its_measurements(capsys):
    shape = serving.ServingBenchmarkConfig(image_size=IMAGE, channels=3, num_labels=K, dim_z=DIM_Z, batch_size=16)
    config = serving_floor.FloorConfig(model=shape, calls=3, warmup_calls=1, peak_size=128)
    record = serving_floor.run(config)
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith('{"benchmark": "serving_floor"')
    bandwidth = record["read_bandwidth_gb_per_s"] * 1e9
    assert bandwidth > 0
    for precision in ("float32", "bfloat16"):
        result = record["precisions"][precision]
        peak = result["peak_gflops"] * 1e9
        for row, (flop_count, weight_bytes) in zip(result["pieces"], _expected(4 if precision == "float32" else 2)):
            assert (row["flops"], row["weight_bytes"]) == (flop_count, weight_bytes)
            assert row["floor_ms"] == pytest.approx(1e3 * max(weight_bytes / bandwidth, flop_count / peak))
            assert row["bound_by"] == ("memory" if weight_bytes / bandwidth >= flop_count / peak else "arithmetic")
            assert math.isfinite(row["ms"])
        assert result["floor_ms"] == pytest.approx(sum(row["floor_ms"] for row in result["pieces"]))
        assert np.isfinite(result["switch_attribute_ms"]) and result["switch_attribute_ms"] > 0
        assert f"{precision}: matmul peak" in out
