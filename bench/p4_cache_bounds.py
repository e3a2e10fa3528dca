#!/usr/bin/env python3
"""Upper bounds on a Mooncake trace's prefix-cache hit rate when every worker's KV cache is finite (bench/README.md, P4).

The trace may be any Mooncake JSONL, e.g. a generated workload saved by
`dynamo replay --workload conversation --export-trace FILE` (bench/README.md, issue 19).

Hash blocks of 512 tokens; a request hits its leading blocks that are cached where it runs; after it, its whole
prompt is cached there, least recently used blocks evicted beyond the capacity. No load limits, no timing: what
placement alone allows.
  oracle   one infinite cache (replay's --router oracle)
  global   one LRU cache holding the whole cluster's capacity (replay's cluster_lru_hit_rate)
  sticky   per-worker LRU caches; each request goes to the worker with the longest cached prefix among the workers
           under the load bound (at most (1 + LOAD_BOUND) x the mean requests per worker, counting this one), ties
           (no cached prefix anywhere included) to the one with the fewest requests. Without the bound a block every
           request shares (a system prompt's first block) pins all traffic on the first worker that cached it: it
           always holds the longest prefix, however the ties are broken.
usage: python3 bench/p4_cache_bounds.py TRACE [--workers 16] [--kv-blocks 25700] [--block-size 16] [--load-bound 0.1]
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
    parser.add_argument("--load-bound", type=float, default=0.1,
                        help="sticky: a worker takes a request only while its requests stay within (1 + this) x the mean "
                             "(consistent hashing with bounded loads); inf: no bound")
    args = parser.parse_args()
    if not args.load_bound >= 0:
        parser.error(f"--load-bound must be >= 0 (got {args.load_bound})")
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
        bound = (1 + args.load_bound) * (sum(counts) + 1) / args.workers
        open_ = [w for w in range(args.workers) if counts[w] + 1 <= bound] or range(args.workers)
        held = {w: leading(hashes, caches[w]) for w in open_}
        best = max(held.values())
        worker = min((w for w in open_ if held[w] == best), key=lambda w: (counts[w], w))
        counts[worker] += 1
        touch(caches[worker], hashes, per_worker)
        return best

    print(f"sticky: {rate(sticky):.4f} ({args.workers} workers × {per_worker} hash blocks, load bound {args.load_bound}: "
          f"requests per worker {min(counts)}-{max(counts)})")


if __name__ == "__main__":
    main()
