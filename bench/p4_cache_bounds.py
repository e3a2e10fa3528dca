#!/usr/bin/env python3
"""Upper bounds on a Mooncake trace's prefix-cache hit rate when every worker's KV cache is finite (bench/README.md, P4).

Hash blocks of 512 tokens; a request hits its leading blocks that are cached where it runs; after it, its whole
prompt is cached there, least recently used blocks evicted beyond the capacity. No load limits, no timing: what
placement alone allows.
  oracle   one infinite cache (replay's --router oracle)
  global   one LRU cache holding the whole cluster's capacity
  sticky   per-worker LRU caches; each request goes to the worker with the longest cached prefix (new prefixes to
           the worker with the fewest requests)
usage: python3 bench/p4_cache_bounds.py TRACE [--workers 16] [--kv-blocks 25700] [--block-size 16]
"""
import argparse
import json
from collections import OrderedDict


def leading(hashes, cache):
    n = 0
    for h in hashes:
        if h not in cache:
            break
        n += 1
    return n


def touch(cache, hashes, capacity):
    for h in hashes:
        cache[h] = True
        cache.move_to_end(h)
    while len(cache) > capacity:
        cache.popitem(last=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trace")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--kv-blocks", type=int, default=25700, help="KV blocks per worker (h100-8b: 25,700)")
    parser.add_argument("--block-size", type=int, default=16)
    args = parser.parse_args()
    requests = [json.loads(line) for line in open(args.trace)]
    per_worker = args.kv_blocks * args.block_size // 512

    def rate(route):
        hit = total = 0
        for r in requests:
            hashes, length = r["hash_ids"], r["input_length"]
            total += length
            hit += min(route(hashes) * 512, length)
        return hit / total

    oracle = OrderedDict()
    print(f"oracle: {rate(lambda h: (leading(h, oracle), touch(oracle, h, 1 << 62))[0]):.4f}")
    cluster = OrderedDict()
    print(f"global: {rate(lambda h: (leading(h, cluster), touch(cluster, h, per_worker * args.workers))[0]):.4f}")
    caches = [OrderedDict() for _ in range(args.workers)]
    counts = [0] * args.workers

    def sticky(hashes):
        held = [leading(hashes, c) for c in caches]
        best = max(held)
        worker = held.index(best) if best > 0 else counts.index(min(counts))
        counts[worker] += 1
        touch(caches[worker], hashes, per_worker)
        return best

    print(f"sticky: {rate(sticky):.4f} ({args.workers} workers × {per_worker} hash blocks)")


if __name__ == "__main__":
    main()
