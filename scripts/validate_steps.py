"""docs/validation.md's step-time and batched-throughput sections.

`pagekv plan` at batch 1 against gpt-fast's and TensorRT-LLM's published
decode and TTFT tables, and `pagekv simulate` of static batches against
TensorRT-LLM's A100 peak-throughput table.
"""
import json
import math
import os
import subprocess

# Step times. Each row: (source key, what, model, hardware, tp, weight/KV
# dtype override, kind, tokens, published ms, fitted). kind "decode": one
# decode step at batch 1 with `tokens` of context; "ttft": the prefill of a
# `tokens`-token prompt. fitted = the row is one the hardware preset's
# defaults were fitted to (pagekv calibrate), so it checks the fit, not the
# model; the others are held out.
SOURCES = {
    "gpt-fast": "gpt-fast README, Benchmarks / Tensor Parallelism tables "
                "(8x A100-80GB SXM, power-limited to 330 W; batch 1, "
                "5-token prompt, 200 new tokens: context ~105)",
    "trtllm": "TensorRT-LLM docs/source/performance.md (v0.6.1 page, Low "
              "Latency tables measured with v0.5; batch 1, output 1: TTFT "
              "is the prefill)",
}
GPTFAST_CONTEXT = 105
STEP_ROWS = [
    ("gpt-fast", "Llama-2-7B decode", "llama-2-7b", "a100-80gb", 1, None,
     "decode", GPTFAST_CONTEXT, 1000 / 104.9, True),
    ("gpt-fast", "Llama-2-7B decode", "llama-2-7b", "a100-80gb", 2, None,
     "decode", GPTFAST_CONTEXT, 1000 / 168.84, True),
    ("gpt-fast", "Llama-2-7B decode", "llama-2-7b", "a100-80gb", 4, None,
     "decode", GPTFAST_CONTEXT, 1000 / 254.02, True),
    ("gpt-fast", "Llama-2-7B decode", "llama-2-7b", "a100-80gb", 8, None,
     "decode", GPTFAST_CONTEXT, 1000 / 328.43, True),
    ("gpt-fast", "Llama-2-7B decode, int8 weights", "llama-2-7b", "a100-80gb",
     1, ("int8", None), "decode", GPTFAST_CONTEXT, 1000 / 155.58, False),
    ("gpt-fast", "Llama-2-70B decode, int8 weights", "LLAMA2_70B",
     "a100-80gb", 1, ("int8", None), "decode", GPTFAST_CONTEXT,
     1000 / 19.13, False),
    ("gpt-fast", "Llama-2-70B decode", "LLAMA2_70B", "a100-80gb", 2, None,
     "decode", GPTFAST_CONTEXT, 1000 / 21.32, False),
    ("gpt-fast", "Llama-2-70B decode", "LLAMA2_70B", "a100-80gb", 4, None,
     "decode", GPTFAST_CONTEXT, 1000 / 38.01, False),
    ("gpt-fast", "Llama-2-70B decode", "LLAMA2_70B", "a100-80gb", 8, None,
     "decode", GPTFAST_CONTEXT, 1000 / 62.50, False),
    ("trtllm", "Llama-2-7B fp16 TTFT", "llama-2-7b", "a100-80gb", 1, None,
     "ttft", 128, 16, True),
    ("trtllm", "Llama-2-7B fp16 TTFT", "llama-2-7b", "a100-80gb", 1, None,
     "ttft", 2048, 133, True),
    ("trtllm", "Llama-2-70B fp16 TTFT", "LLAMA2_70B", "a100-80gb", 4, None,
     "ttft", 128, 47, False),
    ("trtllm", "Llama-2-70B fp16 TTFT", "LLAMA2_70B", "a100-80gb", 4, None,
     "ttft", 2048, 377, False),
    ("trtllm", "Llama-2-7B fp8 TTFT", "llama-2-7b", "h100-sxm", 1,
     ("fp8", "fp8"), "ttft", 128, 7, True),
    ("trtllm", "Llama-2-7B fp8 TTFT", "llama-2-7b", "h100-sxm", 1,
     ("fp8", "fp8"), "ttft", 2048, 36, True),
    ("trtllm", "Llama-2-70B fp8 TTFT", "LLAMA2_70B", "h100-sxm", 4,
     ("fp8", "fp8"), "ttft", 128, 26, False),
    ("trtllm", "Llama-2-70B fp8 TTFT", "LLAMA2_70B", "h100-sxm", 4,
     ("fp8", "fp8"), "ttft", 2048, 109, False),
    ("trtllm", "Llama-2-7B fp8 TTFT", "llama-2-7b", "l40s", 1,
     ("fp8", "fp8"), "ttft", 128, 14, True),
    ("trtllm", "Llama-2-7B fp8 TTFT", "llama-2-7b", "l40s", 1,
     ("fp8", "fp8"), "ttft", 2048, 73, True),
]
# Batched throughput: TensorRT-LLM's "Peak Throughput" table for A100
# (FP16, v0.6.1; the `trtllm` source): static batches of `batch` requests,
# `input` prompt and `output` new tokens each, output tokens per second.
# Only the tp 1 rows: the A100 table's header does not say whether its tp > 1
# rows are per GPU, as the H100 table's are.
THROUGHPUT_ROWS = [
    # (what, model, hardware, batch, input, output, published out tok/s)
    ("Llama-2-7B static batch", "llama-2-7b", "a100-80gb", 384, 128, 128,
     5586),
    ("Llama-2-7B static batch", "llama-2-7b", "a100-80gb", 60, 128, 2048,
     1928),
    ("Llama-2-7B static batch", "llama-2-7b", "a100-80gb", 52, 2048, 128,
     591),
]
# A100 memory efficiency tried against the throughput rows (the preset's is
# fitted to gpt-fast's batch-1 decode).
RAISED_EFFICIENCY = 0.84
# Llama-2-70B: Llama-3-70B's layers with Llama 2's 32k vocabulary (68.98B
# parameters, meta-llama/Llama-2-70b-hf config.json) and 4k context.
LLAMA2_70B = {"base": "llama-3-70b", "name": "llama-2-70b",
              "num_params": 68.98e9, "max_context": 4096}


def plan_ms(binary, row, model_file):
    _, _, model, hw, tp, dtypes, kind, tokens, _, _ = row
    model = model_file if model == "LLAMA2_70B" else model
    cmd = [binary, "plan", "--model", model, "--hardware", hw, "--tp",
           str(tp), "--batch", "1", "--context",
           str(tokens + 1 if kind == "decode" else tokens), "--json", "-"]
    if dtypes:
        cmd += ["--weight-dtype", dtypes[0]]
        if dtypes[1]:
            cmd += ["--kv-dtype", dtypes[1]]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                    text=True).stdout)
    return out["decode_step_ms" if kind == "decode" else "prefill_ms"]


def step_rows(binary, tmp):
    model_file = os.path.join(tmp, "llama-2-70b.json")
    with open(model_file, "w") as f:
        json.dump(LLAMA2_70B, f)
    rows, errors = [], []
    for row in STEP_ROWS:
        src, what, _, hw, tp, _, kind, tokens, pub, fitted = row
        got = plan_ms(binary, row, model_file)
        err = 100 * (got - pub) / pub
        errors.append((kind, fitted, err))
        where = f"{tokens}-token prompt" if kind == "ttft" else \
            f"context {tokens}"
        rows.append(f"| {what} | {hw} | {tp} | {where} | {pub:.2f} | "
                    f"{got:.2f} | {err:+.0f}% | {src} | "
                    f"{'fit' if fitted else 'held out'} |")
    return rows, errors


def static_batch_tokens_per_s(binary, tmp, row):
    """`pagekv simulate` of one static batch: every request at once, the
    prompts in one step, as much KV memory as the batch ever holds."""
    _, model, hw, batch, prompt, output, _ = row
    plan = json.loads(subprocess.run(
        [binary, "plan", "--model", model, "--hardware", hw, "--json", "-"],
        check=True, capture_output=True, text=True).stdout)
    kv_gib = math.ceil(batch * (prompt + output + 16) *
                       plan["kv_bytes_per_token_per_device"] / 2**30)
    workload = os.path.join(tmp, "static_batch.jsonl")
    with open(workload, "w") as f:
        for _ in range(batch):
            f.write(json.dumps({"arrival_s": 0, "prompt_length": prompt,
                                "output_length": output}) + "\n")
    cmd = [binary, "simulate", "--workload", workload, "--format", "jsonl",
           "--model", model, "--hardware", hw, "--kv-memory-gib", str(kv_gib),
           "--max-num-seqs", str(batch),
           "--max-batch-tokens", str(batch * prompt), "--allocator", "paged",
           "--max-model-len", str(prompt + output), "--prefix-caching", "off",
           "--json", "-"]
    report = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                       text=True).stdout)
    return report["results"][0]["output_throughput"]


def throughput_rows(binary, tmp):
    rows, errors = [], []
    for row in THROUGHPUT_ROWS:
        what, _, hw, batch, prompt, output, pub = row
        got = static_batch_tokens_per_s(binary, tmp, row)
        err = 100 * (got - pub) / pub
        errors.append(err)
        rows.append(f"| {what} | {hw} | {batch} | {prompt} -> {output} | "
                    f"{pub:,} | {got:,.0f} | {err:+.0f}% |")
    return rows, errors


def with_memory_efficiency(binary, tmp, efficiency):
    """The throughput rows' errors and gpt-fast's batch-1 Llama-2-7B decode
    error on an A100-80GB whose memory efficiency is `efficiency`."""
    hw = os.path.join(tmp, "a100-80gb-efficiency.json")
    with open(hw, "w") as f:
        json.dump({"base": "a100-80gb", "name": "a100-80gb-efficiency",
                   "memory_efficiency": efficiency}, f)
    errors = []
    for row in THROUGHPUT_ROWS:
        got = static_batch_tokens_per_s(binary, tmp, row[:2] + (hw,) + row[3:])
        errors.append(100 * (got / row[6] - 1))
    decode = STEP_ROWS[0]
    got = plan_ms(binary, decode[:3] + (hw,) + decode[4:], None)
    return errors, 100 * (got / decode[8] - 1)


def step_summary_of(step_errors):
    all_abs = sorted(abs(e) for _, _, e in step_errors)
    held = sorted(abs(e) for _, f, e in step_errors if not f)
    ttft = [abs(e) for k, _, e in step_errors if k == "ttft"]
    return (
        f"Median |error| {all_abs[len(all_abs) // 2]:.0f}% over all "
        f"{len(all_abs)} rows, {held[len(held) // 2]:.0f}% over the "
        f"{len(held)} held-out rows; TTFT rows worst "
        f"{max(ttft):.0f}% (target 15%), every row worst {all_abs[-1]:.0f}% "
        f"(target 35%).")


def batched_text(rows, errors, raised):
    raised_rows, raised_decode = raised
    lo, hi = min(raised_rows), max(raised_rows)
    return f"""## Batched throughput

The step-time rows above are all batch 1. TensorRT-LLM's A100 "Peak
Throughput" table (same page, FP16) gives static batches: `pagekv simulate`
runs each as one batch arriving at once, its prompts in one step, with all
the KV memory it needs. Output tokens per second; every row held out.

| case | hardware | batch | tokens in -> out | published tok/s | pagekv tok/s | error |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Errors from {min(errors):+.0f}% to {max(errors):+.0f}%. The A100 presets'
memory efficiency is fitted to gpt-fast's batch-1 decode, measured on
A100s power-limited to 330 W; TensorRT-LLM's ran at full power. One
efficiency cannot serve both: at {RAISED_EFFICIENCY} these rows come to
{lo:+.0f}% to {hi:+.0f}% and gpt-fast's Llama-2-7B decode to
{raised_decode:+.0f}%. So the batch-1 fit stays, and batched A100 runs
should be read as that much slower than a full-power TensorRT-LLM engine;
the launch-throughput row of section "vLLM's engine" shows a
similar gap to vLLM 0.1.

"""


def step_text(steps, step_summary):
    sources = "\n".join(f"- `{k}`: {v}." for k, v in SOURCES.items())
    return f"""## Step times: decode, TTFT and tensor-parallel scaling

`pagekv plan` (batch 1) against published single-request measurements.
"fit" rows are those the hardware presets' efficiency, overhead and
all-reduce defaults were fitted to with `pagekv calibrate`
(docs/cost-model.md, section 3), so they check the fit; "held out" rows
(another model size, tensor-parallel degree or dtype) test the model.
Llama-2-70B is a spec file: Llama-3-70B's layers with Llama 2's vocabulary
(68.98B parameters) and 4k context.

{sources}

| case | hardware | tp | tokens | published ms | pagekv ms | error | source | row |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(steps)}

{step_summary}

What the worst rows lack, and one model change they led to:

- Llama-2-7B with int8 weights: gpt-fast's int8 weight-only
  kernel streams its weights at 1069 GB/s against 1397 GB/s for fp16
  (its table): dequantizing in the matrix-vector kernel costs bandwidth
  efficiency, and pagekv has one memory efficiency per device, not per
  weight format. A per-format efficiency would not fix it: the same int8
  kernel streams Llama-2-70B's larger matrices at 1323 GB/s (the same
  table), so a factor taken from the 7B row (1069 / 1397 = 0.77) would
  move the 70B int8 row, now within 8%, to about +20%. The loss depends
  on the matrix shape as much as on the format, and two rows do not
  determine that dependence.
- Llama-2-70B fp8 TTFT on 4 H100s: the fixed 2 ms the Hopper preset
  fits to the 7B fp8 rows is now charged per layer (62.5 us x 32 layers,
  docs/cost-model.md: launches and the fp8 path's activation
  quantization run in every layer), which takes the 128-token row from
  -25% (2 ms per prefill) to the value above. The change was made after
  seeing that row, so the two 70B fp8 rows check the per-layer form less
  independently than the other held-out rows. Communication is not the
  missing time: pagekv charges this prefill's 160 all-reduces 4.8 ms in
  all (17.8 ms with free communication), and published H100 small-message
  all-reduces (about 6 us on two NVLink-SHARP H100s with CUDA graphs,
  NVIDIA/nccl issue 1259) are faster than the Ampere latency (18.4 us)
  the preset borrows, so measured H100 latencies would shorten it.

"""
