#!/usr/bin/env python3
"""Regenerates block_hash_vectors.json with an implementation independent of ours (python-xxhash).

block_hash = xxh3_64(seed 1337, [salt bytes] + little-endian u32 token ids)
seq_hash[0] = block_hash[0]; seq_hash[i] = xxh3_64(seed 1337, LE u64 seq_hash[i-1] + LE u64 block_hash[i])
Hashes are written as decimal strings so that JSON readers without 64-bit integers keep them exact.
"""
import json
import re
import struct
import xxhash

SEED = 1337


def hashes(tokens, block_size, salt):
    prefix = salt.encode("utf-8") if salt else b""
    block_hashes, seq_hashes = [], []
    for b in range(len(tokens) // block_size):
        chunk = tokens[b * block_size:(b + 1) * block_size]
        bh = xxhash.xxh3_64_intdigest(prefix + struct.pack("<%dI" % len(chunk), *chunk), seed=SEED)
        sh = bh if b == 0 else xxhash.xxh3_64_intdigest(struct.pack("<QQ", seq_hashes[-1], bh), seed=SEED)
        block_hashes.append(bh)
        seq_hashes.append(sh)
    return block_hashes, seq_hashes


CASES = [
    ("tokens 0..63, block 16", list(range(64)), 16, None),
    ("tokens 0..69, block 16 (partial tail not hashed)", list(range(70)), 16, None),
    ("tokens 0..127, block 32", list(range(128)), 32, None),
    ("tokens 0..127, block 64", list(range(128)), 64, None),
    ("10 tokens, block 16 (no full block)", list(range(10)), 16, None),
    ("large ids, block 16", [(100000 + i * 7919) % 128256 for i in range(48)], 16, None),
    ("tokens 0..63, block 16, salt 'my-lora'", list(range(64)), 16, "my-lora"),
]

out = {"seed": SEED, "cases": []}
for name, tokens, block_size, salt in CASES:
    bh, sh = hashes(tokens, block_size, salt)
    out["cases"].append({
        "name": name,
        "block_size": block_size,
        "salt": salt,
        "tokens": tokens,
        "block_hashes": [str(x) for x in bh],
        "seq_hashes": [str(x) for x in sh],
    })

# One line per array keeps the file readable and diffs small.
text = json.dumps(out, indent=1)
text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
with open("block_hash_vectors.json", "w") as f:
    f.write(text + "\n")
