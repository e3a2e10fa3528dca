#!/usr/bin/env python3
"""Time to first token of the 1st..5th and the 100th request after `dynamo serve` says it is serving.

Each run starts a fresh `dynamo serve` (the default embedded cluster: tiny model, 1 prefill + 1 decode worker on the
.NET engine), waits for its "Dynamo is serving model" line, then sends 100 streamed chat requests one after another
(tiny prompt, max_tokens 4) and records the time from sending each to its first content chunk. Target `gateway` sends
them to the OpenAI endpoint; target `worker` sends them straight to the decode worker (its address read from the log,
the cluster credential computed from a secret written for the run), which is the path the issue's finding measured.
Prints per-run figures and the medians over the runs, as one JSON line at the end.

  python3 bench/warmup/first_request.py --dynamo src/Dynamo.Cli/bin/Release/net10.0/dynamo --runs 3 \
      --target gateway --target worker [-- extra serve arguments, e.g. --config FILE]
"""
import argparse, base64, hashlib, hmac, http.client, json, os, re, secrets, socket, statistics, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--dynamo", required=True)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--requests", type=int, default=100)
ap.add_argument("--target", action="append", choices=["gateway", "worker"])
ap.add_argument("--label", default="")
ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the serve process")
ap.add_argument("serve_args", nargs="*")
args = ap.parse_args()
targets = args.target or ["gateway"]
PICK = [1, 2, 3, 4, 5, args.requests]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def credential(secret, method, path):
    key = hmac.new(secret.encode(), b"dynamo/http/v1", hashlib.sha256).digest()
    now = int(time.time())
    mac = hmac.new(key, f"{now}\n{method}\n{path}".encode(), hashlib.sha256).digest()
    return f"v1.{now}." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def ttft(host, port, path, body, headers):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    start = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"{path}: HTTP {resp.status} {resp.read()[:300]!r}")
    first = None
    for line in resp:
        if first is None and line.startswith(b"data: {"):
            chunk = json.loads(line[6:])
            choice = (chunk.get("choices") or [{}])[0]
            if (choice.get("delta") or {}).get("content") or choice.get("text"):
                first = time.perf_counter() - start
        if line.startswith(b"data: [DONE]"):
            break
    conn.close()
    return first


def one_run(target):
    port = free_port()
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    with tempfile.NamedTemporaryFile("w", suffix=".secret", delete=False) as f:
        f.write(secret)
    env = dict(os.environ)
    for kv in args.env:
        k, v = kv.split("=", 1)
        env[k] = v
    started = time.perf_counter()
    proc = subprocess.Popen([args.dynamo, "serve", "--port", str(port), "--cluster-secret-file", f.name, *args.serve_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    decode = None
    ready = None
    warm_log = None
    for line in proc.stdout:
        m = re.search(r"Worker decode-0 \(Decode\) serving '[^']*' on (http://[0-9.]+:(\d+)/)", line)
        if m:
            decode = int(m.group(2))
        if "arm-up" in line and "took" in line:
            warm_log = line.strip()
        if "Dynamo is serving model" in line:
            ready = time.perf_counter() - started
            break
    else:
        raise RuntimeError("serve exited before it was serving")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    times = []
    try:
        for i in range(args.requests):
            if target == "gateway":
                body = {"model": "tiny", "messages": [{"role": "user", "content": f"Hello {i}!"}], "max_tokens": 4, "stream": True}
                times.append(ttft("127.0.0.1", port, "/v1/chat/completions", body, {}))
            else:
                path = "/v1/chat/completions"
                body = {"model": "tiny", "messages": [{"role": "user", "content": f"Hello {i}!"}], "max_tokens": 4, "stream": True}
                times.append(ttft("127.0.0.1", decode, path, body, {"X-Dynamo-Cluster-Auth": credential(secret, "POST", path)}))
    finally:
        proc.terminate()
        proc.wait(30)
        os.unlink(f.name)
    return {"ready_s": round(ready, 2), "warm_log": warm_log, "ttft_ms": {n: round(times[n - 1] * 1000, 1) for n in PICK}}


summary = {"label": args.label}
for target in targets:
    runs = [one_run(target) for _ in range(args.runs)]
    for r in runs:
        print(target, json.dumps(r), flush=True)
    med = {n: round(statistics.median(r["ttft_ms"][n] for r in runs), 1) for n in PICK}
    summary[target] = {"ready_s": statistics.median(r["ready_s"] for r in runs), "median_ttft_ms": med,
                       "first_over_last": round(med[1] / med[args.requests], 1)}
print(json.dumps(summary))
