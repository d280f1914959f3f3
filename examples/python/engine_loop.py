#!/usr/bin/env python3
"""Embedding pagekv in a Python serving engine's scheduling loop.

The Python twin of examples/engine_loop.cc: a toy engine serves three
requests that share a system prompt. It admits them with chunked prefill
(checking each step's chunks with a dry run), decodes the whole batch in one
call, exports the block tables into preallocated NumPy arrays the kernels
would read, samples two continuations of one request (fork with
copy-on-write), rolls back rejected draft tokens (speculative decoding) and
finishes. Each step it drains the block copies to perform and the KV events
a cluster router would consume, and asks the bandwidth model how long the
step would take on an H100. The "model" samples deterministic tokens.

Run: PYTHONPATH=build/<preset>/python /usr/bin/python3 examples/python/engine_loop.py
"""

import numpy as np

import pagekv

CHUNK = 256  # prefill tokens per sequence per step
MAX_BATCH = 8
MAX_PAGES = 64  # width of the exported block table


def main():
    kv = pagekv.KVCacheManager(num_blocks=1 + 512, block_size=16,
                               enable_kv_events=True)  # 8192 token slots
    cost = pagekv.BandwidthModel("llama-3-8b", "h100-sxm")

    # Three prompts: a 600-token system prompt plus a question of their own.
    system = np.arange(1000, 1600, dtype=np.int32)
    live = []  # [name, seq, tokens left to generate]
    for i, name in enumerate(["alice", "bob", "carol"]):
        question = 50000 + 100 * i + np.arange(40 + 30 * i, dtype=np.int32)
        live.append([name, kv.add_sequence(np.concatenate([system,
                                                           question])), 40])

    # Buffers the attention kernels read, allocated once and written in
    # place every step.
    block_table = np.zeros((MAX_BATCH, MAX_PAGES), np.int32)
    indptr = np.zeros(MAX_BATCH + 1, np.int32)
    indices = np.zeros(MAX_BATCH * MAX_PAGES, np.int32)
    last_page_len = np.zeros(MAX_BATCH, np.int32)

    clock_ms = 0.0
    step = 0
    while live:
        footprint = pagekv.StepFootprint()
        # A dry run first: do this step's prefill chunks fit together?
        chunks = []
        for _, seq, _ in live:
            computed = kv.num_computed_tokens(seq)
            left = kv.num_known_tokens(seq) - computed
            if computed > 0 and left > 0:
                chunks.append((seq, min(CHUNK, left)))
        if not kv.can_reserve(chunks):
            print(f"step {step:2d}  prefill chunks do not fit; stopping")
            return 1

        # Prefill: admit (first chunk, with the prefix hit) or continue.
        decoding, sampled = [], []
        for name, seq, _ in live:
            known = kv.num_known_tokens(seq)
            computed = kv.num_computed_tokens(seq)
            if computed == known:
                decoding.append(seq)
                sampled.append(7 * step + known % 97)
                continue
            if computed == 0:
                a = kv.admit(seq, CHUNK)
                print(f"step {step:2d}  {name:<5} admitted: "
                      f"{a.hit.num_tokens} prompt tokens cached, "
                      f"{a.num_new_tokens} computed now")
                chunk = a.num_new_tokens
            else:
                chunk = min(CHUNK, known - computed)
                kv.reserve(seq, chunk)
            kv.add_to_footprint(seq, chunk, footprint)

        # Decode: one call appends every sampled token and reserves its slot.
        batch = np.array(decoding, np.uint64)
        if len(batch):
            kv.append_decode_tokens(batch, np.array(sampled, np.int32))
            for seq in decoding:
                kv.add_to_footprint(seq, 1, footprint)

        # Before the kernels: copy-on-write copies, then the block tables.
        for copy in kv.drain_copies():
            print(f"step {step:2d}  copy block {copy.src} -> {copy.dst} "
                  f"before the kernels")
        scheduled = np.array([s.seq for s in footprint.sequences], np.uint64)
        kv.export_block_table(scheduled, 0, block_table)
        n = kv.export_csr(scheduled, 0, indptr, indices, last_page_len)
        assert n == indptr[len(scheduled)]
        stored = removed = 0
        for event in kv.drain_events():
            if isinstance(event, pagekv.BlockStored):
                stored += len(event.block_keys)
            elif isinstance(event, pagekv.BlockRemoved):
                removed += len(event.block_keys)
        c = cost.estimate(footprint)
        clock_ms += c.seconds * 1e3
        if stored + removed > 0 or step % 8 == 0:
            print(f"step {step:2d}  {len(footprint)} seqs, "
                  f"{footprint.total_new_tokens} new tokens, "
                  f"{c.seconds * 1e3:.2f} ms ({c.bound}-bound), {n} pages; "
                  f"events: {stored} blocks stored, {removed} removed")

        # Bob samples two continuations from step 10 on: fork shares blocks.
        if step == 10:
            twin = kv.fork(live[1][1])
            live.append(["bob#2", twin, 10])
            print(f"step {step:2d}  bob forked: both share "
                  f"{len(kv.block_table(twin))} blocks")
        # Carol speculates 4 draft tokens at step 20 and 3 are rejected.
        if step == 20:
            carol = live[2][1]
            n_known = kv.num_known_tokens(carol)
            kv.append_tokens(carol, [11, 12, 13, 14])
            kv.reserve(carol, 4)
            kv.truncate(carol, n_known + 1)
            print(f"step {step:2d}  carol: 4 draft tokens, 1 accepted, "
                  f"rolled back to {n_known + 1} tokens")
        # Finish requests that generated their tokens.
        for entry in list(live):
            name, seq, _ = entry
            if seq in decoding:
                entry[2] -= 1
                if entry[2] == 0:
                    print(f"step {step:2d}  {name:<5} finished with "
                          f"{kv.num_known_tokens(seq)} tokens")
                    kv.release(seq)
                    live.remove(entry)
        kv.verify()
        step += 1

    st = kv.stats()
    print(f"\ndone in {clock_ms:.1f} simulated ms: {st.blocks_allocated} "
          f"blocks allocated, {st.cow_copies} copy-on-write copies, prefix "
          f"hits {st.prefix.hit_tokens} of {st.prefix.query_tokens} prompt "
          f"tokens ({100 * st.prefix.token_hit_rate:.0f}%), "
          f"{st.cached_blocks} blocks left cached for reuse")
    return 0 if st.in_use_blocks == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
