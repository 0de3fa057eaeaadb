"""benchmarks/serving_floor.py: the pieces' FLOPs and weight bytes against counts by hand, the floor's
formula, and a tiny run's record."""

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


# A machine of known balance: 10 GB/s of reads, 20 GFLOP/s in float32 and 40 in bfloat16 (2 and 4 FLOPs a
# byte). The convolutions reuse each weight (3.3 FLOPs a float32 byte, 6.7 a bfloat16 one; the transposed
# ones more) and land on the arithmetic side; the dense blocks do 2 FLOPs per weight (0.5 a float32 byte)
# and land on the memory side.
BANDWIDTH, PEAKS = 10e9, {"float32": 20e9, "bfloat16": 40e9}
BOUND_BY = ["arithmetic", "memory", "memory", "arithmetic"]


def test_a_tiny_run_prints_floors_that_follow_from_the_weights_and_the_machines_measurements(monkeypatch, capsys):
    """The run's measurements replaced by a machine of known bandwidth and peaks: each piece's floor is
    max(hand-counted bytes / 10 GB/s, hand-counted FLOPs / that precision's peak), the whole path's their
    sum, and each piece's time the difference of the timed prefixes that bound it."""
    peak_calls, timed = [], []
    monkeypatch.setattr(serving_floor, "read_bandwidth_bytes_per_s", lambda: BANDWIDTH)

    def peak(precision, n):
        peak_calls.append((precision, n))
        return PEAKS[precision]

    def time_pieces(model, config, real=serving_floor.time_pieces):
        timed.append(real(model, config))
        return timed[-1]

    monkeypatch.setattr(serving_floor, "peak_flops_per_s", peak)
    monkeypatch.setattr(serving_floor, "time_pieces", time_pieces)
    shape = serving.ServingBenchmarkConfig(image_size=IMAGE, channels=3, num_labels=K, dim_z=DIM_Z, batch_size=16)
    config = serving_floor.FloorConfig(model=shape, calls=3, warmup_calls=1, peak_size=128)
    record = serving_floor.run(config)
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith('{"benchmark": "serving_floor"')
    assert "Read bandwidth: 10.0 GB/s" in out
    assert record["read_bandwidth_gb_per_s"] == pytest.approx(10.0)
    assert peak_calls == [("float32", 128), ("bfloat16", 128)]
    for precision, seconds in zip(("float32", "bfloat16"), timed):
        result = record["precisions"][precision]
        assert result["peak_gflops"] == pytest.approx(PEAKS[precision] / 1e9)
        expected = _expected(4 if precision == "float32" else 2)
        floors_ms = [1e3 * max(weight_bytes / BANDWIDTH, flop_count / PEAKS[precision])
                     for flop_count, weight_bytes in expected]
        assert [row["floor_ms"] for row in result["pieces"]] == pytest.approx(floors_ms, rel=1e-12)
        assert [row["bound_by"] for row in result["pieces"]] == BOUND_BY
        assert result["floor_ms"] == pytest.approx(sum(floors_ms), rel=1e-12)
        # the pieces' times: each prefix's p50 less the previous prefix's of the same network
        ends = ["z_encoder:z_encoder_flatten", "z_encoder:None", "decoder:decoder_reshape", "decoder:None"]
        starts = [None, "z_encoder:z_encoder_flatten", None, "decoder:decoder_reshape"]
        for row, end, start in zip(result["pieces"], ends, starts):
            assert row["ms"] == pytest.approx(1e3 * (seconds[end] - (seconds[start] if start else 0.0)))
        assert result["switch_attribute_ms"] == pytest.approx(1e3 * seconds["switch_attribute"])
        assert all(np.isfinite(v) and v > 0 for v in seconds.values())
        assert f"{precision}: matmul peak {PEAKS[precision] / 1e9:.0f} GFLOP/s" in out
    # float32's floors, in full: conv 13.72 MFLOP / 20 GFLOP/s; dense 8.454 MB / 10 GB/s; latent dense
    # 0.049 MB / 10 GB/s; transposed convs 53.66 MFLOP / 20 GFLOP/s
    assert [row["floor_ms"] for row in record["precisions"]["float32"]["pieces"]] == pytest.approx(
        [0.68608, 0.8454144, 0.0049152, 2.68288], rel=1e-12)


def test_the_read_bandwidth_is_a_plausible_rate_of_a_real_read():
    # 16 MiB read by tf.reduce_sum: between 100 MB/s and 10 TB/s on any machine this runs on
    assert 1e8 < serving_floor.read_bandwidth_bytes_per_s(16 * 1024 * 1024, repeats=2) < 1e13
