"""Specs, the bandwidth model and plan() against `pagekv plan --json`."""

import json

import pytest

import pagekv


def test_presets_and_json(tmp_path):
    assert "llama-3-8b" in pagekv.ModelSpec.preset_names()
    m = pagekv.ModelSpec.preset("llama-3-8b")
    assert m.num_layers == 32 and m.kv_dtype == "bf16"
    assert m.kv_bytes_per_token() == 2 * 32 * 8 * 128 * 2
    assert m.with_kv_dtype("fp8").kv_bytes_per_token() == 2 * 32 * 8 * 128
    h = pagekv.HardwareSpec.preset("h100-sxm")
    assert h.hbm_bandwidth > 1e12 and h.ridge_point() > 100
    spec = {"base": "llama-3-8b", "name": "tiny", "num_layers": 2}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(spec))
    assert pagekv.ModelSpec.load(str(path)).num_layers == 2
    assert pagekv.ModelSpec.resolve(str(path)).name == "tiny"
    assert pagekv.ModelSpec.from_json(json.dumps(spec)).name == "tiny"
    hw = pagekv.HardwareSpec.from_json('{"base": "h100-sxm", "hbm_gb": 40}')
    assert hw.hbm_bytes == 40e9


def test_spec_errors_name_the_field():
    with pytest.raises(pagekv.NotFound, match="llama-9"):
        pagekv.ModelSpec.preset("llama-9")
    with pytest.raises(pagekv.InvalidArgument, match="num_layerz"):
        pagekv.ModelSpec.from_json('{"base": "llama-3-8b", "num_layerz": 1}')
    with pytest.raises(pagekv.InvalidArgument, match="line 1"):
        pagekv.HardwareSpec.from_json('{"hbm_gb": }')
    m = pagekv.ModelSpec.preset("llama-3-8b")
    m.num_kv_heads = 7
    with pytest.raises(pagekv.InvalidArgument, match="num_kv_heads"):
        m.validate()
    with pytest.raises(pagekv.InvalidArgument):
        m.kv_dtype = "fp9"


def test_bandwidth_model_estimate():
    bw = pagekv.BandwidthModel("llama-3-8b", "h100-sxm")
    small = bw.estimate(pagekv.uniform_decode_footprint("llama-3-8b", 1, 1000))
    big = bw.estimate(pagekv.uniform_decode_footprint("llama-3-8b", 64, 8000))
    assert 0 < small.seconds < big.seconds
    assert big.kv_read_bytes > small.kv_read_bytes
    assert small.bound == "memory"
    pre = bw.estimate(pagekv.prefill_footprint("llama-3-8b", 8192))
    assert pre.bound == "compute"
    tok = pagekv.BandwidthModel(pagekv.ModelSpec.preset("llama-3-8b"),
                                pagekv.HardwareSpec.preset("h100-sxm"),
                                granularity="token")
    fp = pagekv.uniform_decode_footprint("llama-3-8b", 8, 1000, 16)
    assert tok.estimate(fp).kv_read_bytes <= bw.estimate(fp).kv_read_bytes
    assert bw.estimate(pagekv.StepFootprint()).seconds == 0
    with pytest.raises(pagekv.InvalidArgument, match="granularity"):
        pagekv.BandwidthModel("llama-3-8b", "h100-sxm", granularity="x")
    with pytest.raises(pagekv.InvalidArgument):
        pagekv.BandwidthModel("llama-3-8b", "h100-sxm", tensor_parallel=99)


PLANS = [
    (dict(), []),
    (dict(tensor_parallel=2, kv_dtype="fp8", batch=64, context=8192),
     ["--tp", 2, "--kv-dtype", "fp8", "--batch", 64, "--context", 8192]),
    (dict(kv_memory_gib=0.001, batch=1000), ["--kv-memory-gib", 0.001,
                                             "--batch", 1000]),
    (dict(gpu_memory_utilization=0.8, block_size=32, weight_dtype="fp8"),
     ["--gpu-memory-utilization", 0.8, "--block-size", 32,
      "--weight-dtype", "fp8"]),
]


@pytest.mark.parametrize("kwargs, flags", PLANS)
def test_plan_equals_cli(cli, kwargs, flags):
    want = cli("plan", "--model", "llama-3-8b", "--hardware", "h100-sxm",
               *flags, "--json", "-")
    got = pagekv.plan("llama-3-8b", "h100-sxm", **kwargs)
    assert got.to_dict() == want
    assert list(got.to_dict()) == list(want)  # same keys in the same order
    assert got.max_kv_tokens == want["max_kv_tokens"]


def test_plan_errors():
    with pytest.raises(pagekv.FailedPrecondition):
        pagekv.plan("llama-3-70b", "h100-sxm")  # weights do not fit
    with pytest.raises(pagekv.InvalidArgument, match="tensor_parallel"):
        pagekv.plan("llama-3-8b", "h100-sxm", tensor_parallel=16)
    with pytest.raises(pagekv.InvalidArgument, match="mutually"):
        pagekv.plan("llama-3-8b", "h100-sxm", kv_memory_gib=1,
                    gpu_memory_utilization=0.5)
    with pytest.raises(pagekv.NotFound):
        pagekv.plan("llama-3-8b", "a10g")
    with pytest.raises(AttributeError):
        pagekv.plan("llama-3-8b", "h100-sxm").no_such_figure


def test_hardware_spec_exposes_the_compute_model_fields():
    hw = pagekv.HardwareSpec.preset("a100-80gb")
    assert 0 < hw.overlap_loss <= 1
    assert hw.interconnect_hop_latency_seconds > 0
    hw.prefill_overhead_seconds = 1e-3
    slow = pagekv.BandwidthModel("llama-2-7b", hw)
    fast = pagekv.BandwidthModel("llama-2-7b", "a100-80gb")
    f = pagekv.prefill_footprint("llama-2-7b", 128)
    assert abs(slow.estimate(f).seconds - fast.estimate(f).seconds - 1e-3) < 1e-9
