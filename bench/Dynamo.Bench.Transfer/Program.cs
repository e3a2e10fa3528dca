using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Dynamo.Bench.Transfer;
using Dynamo.Transfer;
using Dynamo.Transfer.Memory;

// P5: GB/s and latency of each transfer backend per block size and batch, READ and WRITE, against plain memcpy,
// ucx_perftest and iperf3 measured in the same run.
// dotnet run -c Release --project bench/Dynamo.Bench.Transfer -- [--backends inprocess,tcp,ucx,ucx-shm] [--ops read,write]
//   [--sizes 4K,16K,64K,256K,1M,4M,16M,64M] [--batches 1,8,64] [--seconds 0.3] [--max-transfer 256M]
//   [--baselines 1] [--ucx-tls TLS] [--out bench/results] [--granted 0|1] [--auth-key 0|1]
// --granted 1: the remote region requires grants and every READ is authorized as a KV read is (a grant issued for its
// ranges and a 32-byte binding, the read presenting the credential, the grant revoked after); reads only.
// --auth-key 1: both agents share an AuthenticationKey (TCP connections run the HMAC handshake; UCX keys are sealed).
var a = new BenchArgs(args);
var backends = a.String("backends", "inprocess,tcp,ucx,ucx-shm").Split(',', StringSplitOptions.RemoveEmptyEntries);
var ops = a.String("ops", "read,write").Split(',').Select(o => Enum.Parse<TransferOperation>(o, ignoreCase: true)).ToArray();
var sizes = a.Sizes("sizes", [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]);
var batches = a.Ints("batches", [1, 8, 64]);
var seconds = a.Double("seconds", 0.3);
var maxTransfer = a.Sizes("max-transfer", [256 << 20])[0];
var runBaselines = a.String("baselines", "1") == "1";
var tls = a.String("ucx-tls", "");
var outDir = a.String("out", "bench/results");
var granted = a.String("granted", "0") == "1";
var authKey = a.String("auth-key", "0") == "1" ? System.Security.Cryptography.RandomNumberGenerator.GetBytes(32) : null;
if (granted && ops.Any(o => o != TransferOperation.Read))
{
    throw new ArgumentException("--granted 1 measures reads only (grants allow reads): pass --ops read");
}

// Blocks sit two block-sizes apart on both sides, so no descriptors merge: a batch of 64 is 64 separate ranges.
var span = 2 * maxTransfer;
Console.WriteLine($"# Transfer benchmark (P5) — {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}; {seconds} s per point, blocks not adjacent{(granted ? ", granted reads" : "")}{(authKey is null ? "" : ", authenticated connections")}");
using var localBuffer = new Native(span);
using var remoteBuffer = new Native(span);
var points = new List<Dictionary<string, object>>();

// memcpy: the same blocks copied one after another on one thread, as the in-process backend does.
var memcpy = new Dictionary<(long, int), double>();
foreach (var size in sizes)
{
    foreach (var batch in batches.Where(b => b * size <= maxTransfer))
    {
        memcpy[(size, batch)] = Measure.Memcpy(localBuffer, remoteBuffer, size, batch, seconds);
    }
}

Console.WriteLine();
Console.WriteLine("| backend | op | block | batch | GB/s | p50 µs | p99 µs | memcpy GB/s | vs memcpy |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
foreach (var backend in backends)
{
    // ucx-shm: UCX without peer failure handling, so it may use shared memory (what ucx_perftest measures).
    var options = (string name) => new TransferAgentOptions
    {
        Name = name,
        Backends = backend == "ucx-shm" ? "ucx" : backend,
        UcxPeerFailureHandling = backend != "ucx-shm",
        RequireAllBackends = true,
        UcxTransports = tls.Length > 0 ? tls : null,
        DefaultTimeout = TimeSpan.FromMinutes(2),
        AuthenticationKey = authKey,
    };
    TransferAgent local, remote;
    try
    {
        local = TransferAgent.Create(options("bench-local"));
        remote = TransferAgent.Create(options("bench-remote"));
    }
    catch (InvalidOperationException e)
    {
        Console.WriteLine($"| {backend} | skipped: {e.Message} |");
        continue;
    }

    await using (local)
    await using (remote)
    {
        using var localRegion = local.RegisterMemory(localBuffer.Address, span);
        using var remoteRegion = remote.RegisterMemory(remoteBuffer.Address, span, RemoteAccess.ReadWrite, requireGrant: granted);
        local.LoadRemoteMetadata(remote.GetLocalMetadata().ToBytes());
        var remoteMeta = local.GetRemoteMetadata("bench-remote")!.FindRegion(remoteRegion.Id)!;
        foreach (var op in ops)
        {
            foreach (var size in sizes)
            {
                foreach (var batch in batches.Where(b => b * size <= maxTransfer))
                {
                    var localList = new DescriptorList(batch);
                    var remoteList = new DescriptorList(batch);
                    for (var i = 0; i < batch; i++)
                    {
                        localList.Add(localRegion.Describe(2L * i * size, size));
                        remoteList.Add(remoteMeta.Describe((ulong)(2L * i * size), (ulong)size));
                    }

                    var point = await Measure.TransfersAsync(local, op, localList, remoteList, "bench-remote", seconds, granted ? remote : null);
                    var copy = memcpy[(size, batch)];
                    Console.WriteLine($"| {backend} | {op} | {BenchArgs.FormatSize(size)} | {batch} | {point.GBs:F2} | {point.P50Us:F1} | {point.P99Us:F1} | {copy:F2} | {point.GBs / copy:P0} |");
                    points.Add(new()
                    {
                        ["backend"] = backend,
                        ["op"] = op.ToString(),
                        ["block_bytes"] = size,
                        ["batch"] = batch,
                        ["gb_s"] = point.GBs,
                        ["p50_us"] = point.P50Us,
                        ["p99_us"] = point.P99Us,
                        ["transfers"] = point.Count,
                        ["memcpy_gb_s"] = copy,
                        ["granted"] = granted,
                        ["authenticated"] = authKey is not null,
                    });
                }
            }
        }
    }
}

var baselines = new List<Dictionary<string, object>>();
if (runBaselines)
{
    Console.WriteLine();
    Console.WriteLine("| baseline | block | GB/s | p50 µs |");
    Console.WriteLine("| --- | --- | --- | --- |");
    var iperf = Baselines.Iperf3(3);
    Console.WriteLine($"| iperf3 loopback, 1 stream, 3 s | - | {(iperf is { } i ? i.ToString("F2") : "n/a")} | - |");
    if (iperf is { } iperfGBs)
    {
        baselines.Add(new() { ["tool"] = "iperf3", ["gb_s"] = iperfGBs });
    }

    foreach (var test in new[] { "ucp_get", "ucp_put_bw" })
    {
        foreach (var size in sizes)
        {
            var iterations = (int)Math.Clamp((1L << 30) / size, 50, 20000);
            var result = Baselines.UcxPerftest(test, size, iterations, tls.Length > 0 ? tls : null);
            Console.WriteLine($"| ucx_perftest {test} | {BenchArgs.FormatSize(size)} | {(result is { } r ? r.GBs.ToString("F2") : "n/a")} | {(result is { } r2 ? r2.P50Us.ToString("F1") : "-")} |");
            if (result is { } ok)
            {
                baselines.Add(new() { ["tool"] = "ucx_perftest", ["test"] = test, ["block_bytes"] = size, ["gb_s"] = ok.GBs, ["p50_us"] = ok.P50Us });
            }
        }
    }
}

Directory.CreateDirectory(outDir);
var file = Path.Combine(outDir, $"transfer-p5-{DateTime.UtcNow:yyyyMMdd-HHmmss}.json");
await File.WriteAllTextAsync(file, JsonSerializer.Serialize(new { points, baselines, seconds, cores = Environment.ProcessorCount }, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine();
Console.WriteLine($"Results: {file}");
