"""A consumer written for vLLM's KV-event schema, using only python3-zmq and
python3-msgpack, reads pagekv's publisher: three frames per message, an
8-byte big-endian sequence, and msgpack batches decoded field by field in
vLLM's order (vllm/distributed/kv_events.py), then the replay protocol.

Usage: kv_events_subscriber.py PATH/TO/kv_event_emitter
"""
import os
import subprocess
import sys
import tempfile

import msgpack
import zmq

STORED_FIELDS = ["block_hashes", "parent_block_hash", "token_ids",
                 "block_size", "lora_id", "medium", "lora_name", "extra_keys",
                 "group_idx", "kv_cache_spec_kind",
                 "kv_cache_spec_sliding_window"]
REMOVED_FIELDS = ["block_hashes", "medium", "group_idx"]
TIMEOUT_MS = 10000


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def decode_event(ev, layout):
    """Returns (tag, {field: value}) as vLLM's msgspec decoder would."""
    if layout == "array":
        if not isinstance(ev, list) or not ev:
            fail(f"event is not a tagged array: {ev!r}")
        tag, values = ev[0], ev[1:]
        names = {"BlockStored": STORED_FIELDS,
                 "BlockRemoved": REMOVED_FIELDS,
                 "AllBlocksCleared": []}.get(tag)
        if names is None:
            fail(f"unknown tag {tag!r}")
        if len(values) != len(names):
            fail(f"{tag} has {len(values)} fields, vLLM has {len(names)}")
        return tag, dict(zip(names, values))
    if not isinstance(ev, dict) or "type" not in ev:
        fail(f"event is not a tagged map: {ev!r}")
    fields = dict(ev)
    return fields.pop("type"), fields


def check_batch(payload, expected, layout):
    batch = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    if layout == "array":
        if not isinstance(batch, list) or len(batch) != 3:
            fail(f"batch is not [ts, events, dp_rank]: {batch!r}")
        ts, events, rank = batch
    else:
        ts, events, rank = batch["ts"], batch["events"], \
            batch["data_parallel_rank"]
    if not isinstance(ts, float) or ts <= 0:
        fail(f"ts {ts!r} is not a positive float")
    if rank != 0:
        fail(f"data_parallel_rank {rank!r}")
    if len(events) != len(expected):
        fail(f"{len(events)} events, expected {len(expected)}")
    for ev, want in zip(events, expected):
        tag, f = decode_event(ev, layout)
        if tag != want["type"]:
            fail(f"tag {tag} != {want['type']}")
        if tag == "BlockStored":
            n = len(want["block_hashes"])
            checks = {
                "block_hashes": want["block_hashes"],
                "parent_block_hash": want["parent_block_hash"],
                "token_ids": want["token_ids"],
                "block_size": want["block_size"],
                "lora_id": want["lora_id"],
                "medium": "GPU",
                "lora_name": None,
                "extra_keys": None if want["cache_salt"] == 0 else
                [[want["cache_salt"]]] + [None] * (n - 1),
                "group_idx": want["group_idx"],
                "kv_cache_spec_kind": "full_attention",
                "kv_cache_spec_sliding_window": None,
            }
            if len(f["token_ids"]) != n * f["block_size"]:
                fail("token_ids is not block_size per hash")
        elif tag == "BlockRemoved":
            checks = {"block_hashes": want["block_hashes"], "medium": "GPU",
                      "group_idx": want["group_idx"]}
        else:
            checks = {}
        for name, value in checks.items():
            if f.get(name) != value:
                fail(f"{tag}.{name} = {f.get(name)!r}, expected {value!r}")
    return [decode_event(ev, layout)[0] for ev in events]


def run(emitter, layout):
    ctx = zmq.Context()
    with tempfile.TemporaryDirectory() as tmp:
        expected_path = os.path.join(tmp, "expected.jsonl")
        proc = subprocess.Popen([emitter, layout, expected_path],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        try:
            words = proc.stdout.readline().split()
            if len(words) != 3 or words[0] != "ENDPOINTS":
                fail(f"emitter said {words!r}")
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(words[1])
            replay = ctx.socket(zmq.DEALER)
            replay.connect(words[2])
            proc.stdin.write("go\n")
            proc.stdin.flush()
            done = proc.stdout.readline().split()
            if len(done) != 2 or done[0] != "DONE":
                fail(f"emitter said {done!r}")
            num_batches = int(done[1])
            # Live: whatever arrived (a late SUB may miss the first ones).
            live = {}
            while sub.poll(200):
                frames = sub.recv_multipart()
                if len(frames) != 3:
                    fail(f"{len(frames)} frames, expected 3")
                topic, seq, payload = frames
                if topic != b"" or len(seq) != 8:
                    fail(f"topic {topic!r}, sequence frame {seq!r}")
                live[int.from_bytes(seq, "big")] = payload
            # Replay from 0, vLLM's protocol: [b"", start] -> [b"", seq,
            # payload]... then [b"", -1, b""].
            replay.send_multipart([b"", (0).to_bytes(8, "big")])
            replayed = []
            while True:
                if not replay.poll(TIMEOUT_MS):
                    fail("replay timed out")
                frames = replay.recv_multipart()
                if len(frames) != 3 or frames[0] != b"":
                    fail(f"replay frames {frames!r}")
                seq = int.from_bytes(frames[1], "big", signed=True)
                if seq == -1:
                    if frames[2] != b"":
                        fail("end marker with a payload")
                    break
                if seq < 0:
                    fail(f"unexpected replay answer {seq}")
                replayed.append((seq, frames[2]))
            if [s for s, _ in replayed] != list(range(num_batches)):
                fail(f"replayed {[s for s, _ in replayed]}")
            for seq, payload in live.items():
                if replayed[seq][1] != payload:
                    fail(f"live and replayed batch {seq} differ")
            with open(expected_path) as f:
                expected = [__import__("json").loads(l) for l in f]
            tags = []
            for (seq, payload), want in zip(replayed, expected):
                tags += check_batch(payload, want["events"], layout)
            for tag in ("BlockStored", "BlockRemoved", "AllBlocksCleared"):
                if tag not in tags:
                    fail(f"no {tag} event was published")
            print(f"ok: {layout} layout, {num_batches} batches, "
                  f"{len(live)} received live, {len(tags)} events")
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
    ctx.destroy(linger=0)


def main():
    for layout in ("array", "map"):
        run(sys.argv[1], layout)


if __name__ == "__main__":
    main()
