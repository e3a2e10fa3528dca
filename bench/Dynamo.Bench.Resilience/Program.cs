using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dynamo.Bench.Resilience;
using Dynamo.Contracts.KvEvents;
using Dynamo.Engine.Model;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

// Resilience figures on real processes: a nats-server, a `dynamo frontend` and `dynamo worker`s under steady greedy
// streaming load. (1) kill -9 of the busiest worker, --kills times, a replacement started after each: migrations,
// the added latency of a migrated stream against the unmigrated ones of the same run, kill -9 to removal from the
// frontend's discovery. (2) nats-server killed for --outage-s and restarted on the same port: time until the
// frontend reconnects and resynchronizes discovery, the workers' registrations return and KV events flow again.
var workerCount = Arg("--workers", 3);
var clients = Arg("--clients", 9);
var kills = Arg("--kills", 5);
var maxTokens = Arg("--max-tokens", 96);
var outageSeconds = Arg("--outage-s", 3);
var engine = ArgString("--engine", "dotnet");
var router = ArgString("--router", "round-robin");
var lease = ArgString("--lease-s", "");
var heartbeat = ArgString("--heartbeat-s", "");
var outDir = ArgString("--out", Path.Combine("bench", "results"));

var loadAverageAtStart = LoadAverage();
var work = Directory.CreateTempSubdirectory("dynamo-bench-resilience-").FullName;
var natsPort = FreePort();
var natsUrl = $"nats://127.0.0.1:{natsPort}";
var natsArgs = new[] { "-a", "127.0.0.1", "-p", natsPort.ToString(CultureInfo.InvariantCulture), "-js", "-sd", Path.Combine(work, "js") };
var nats = ChildProcess.Start("nats-server", NatsServerPath(), natsArgs);
await nats.WaitForLineAsync("Server is ready", TimeSpan.FromSeconds(15));

// The deployment's shared secret: the workers answer only requests made with it, and NATS records are signed with it.
var secretFile = Path.Combine(work, "cluster.secret");
await File.WriteAllTextAsync(secretFile, Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
var clusterSecret = ClusterSecret.FromText(await File.ReadAllTextAsync(secretFile), secretFile);

var model = Path.Combine(work, "tiny");
await ModelWriter.WriteAsync(model, ModelPreset.Tiny, seed: 0);
var environment = new Dictionary<string, string>
{
    ["DYNAMO__NATS__NAMESPACE"] = "resilience",
    ["DYNAMO__ENGINE__THREADS"] = "1",
    ["DYNAMO__ENGINE__NUMKVBLOCKS"] = "4096",
    ["DYNAMO__MOCKER__ZERODELAY"] = "false",
};
if (lease.Length > 0)
{
    environment["DYNAMO__NATS__LEASETTL"] = TimeSpan.FromSeconds(double.Parse(lease, CultureInfo.InvariantCulture)).ToString("c", CultureInfo.InvariantCulture);
}

if (heartbeat.Length > 0)
{
    environment["DYNAMO__NATS__HEARTBEATINTERVAL"] = TimeSpan.FromSeconds(double.Parse(heartbeat, CultureInfo.InvariantCulture)).ToString("c", CultureInfo.InvariantCulture);
}

var dynamo = Path.Combine(AppContext.BaseDirectory, "dynamo.dll");

// Workers' /load needs the cluster credential, as every worker call but /live, /health and /metrics does.
using var workerHttp = new HttpClient(new ClusterCredentialHandler(clusterSecret, new SocketsHttpHandler()));
var workers = new Dictionary<string, (ChildProcess Process, Uri Address)>(StringComparer.Ordinal);
var nextWorker = 1;
ChildProcess StartWorker(out string id)
{
    id = $"w{nextWorker++}";
    return ChildProcess.Start(id, "dotnet", [dynamo, "worker", "--role", "agg", "--nats", natsUrl, "--model", model, "--served-model-name", "tiny", "--engine", engine, "--instance-id", id, "--cluster-secret-file", secretFile], environment);
}

async Task<string> AddWorkerAsync()
{
    var process = StartWorker(out var id);
    var address = (await process.WaitForLineAsync(@"is serving model 'tiny' at (\S+) ", TimeSpan.FromSeconds(120))).Match.Groups[1].Value;
    workers[id] = (process, new Uri(address));
    return id;
}

var frontend = ChildProcess.Start("frontend", "dotnet", [dynamo, "frontend", "--nats", natsUrl, "--port", "0", "--model", model, "--served-model-name", "tiny", "--router", router, "--cluster-secret-file", secretFile], environment);
var exitCode = 0;
try
{
    var address = (await frontend.WaitForLineAsync(@"serving model 'tiny' at (\S+)v1", TimeSpan.FromSeconds(120))).Match.Groups[1].Value;
    await Task.WhenAll(Enumerable.Range(0, workerCount).Select(_ => AddWorkerAsync()));
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(2) };
    await UntilAsync(async () => (await http.GetStringAsync("health")).Contains($"\"instances\":{workerCount}", StringComparison.Ordinal), "all workers in the frontend's discovery", TimeSpan.FromSeconds(60));

    // KV events as a router sees them, on a connection of this program's own.
    await using var observer = await NatsRuntime.ConnectAsync(new NatsOptions { Url = natsUrl, Namespace = "resilience" }, clusterSecret, NullLoggerFactory.Instance);
    var kvEventArrivals = new List<long>();
    using var stopEvents = new CancellationTokenSource();
    var kvEvents = Task.Run(async () =>
    {
        try
        {
            await foreach (var _ in observer.Events.SubscribeAsync<KvEvent>(EventSubjects.KvEvents, stopEvents.Token))
            {
                lock (kvEventArrivals)
                {
                    kvEventArrivals.Add(Stopwatch.GetTimestamp());
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    });

    // The undisturbed run: every prompt once on the whole cluster, before any kill.
    var prompts = Enumerable.Range(0, 24)
        .Select(i => $"Stream {i}: {string.Join(' ', Enumerable.Repeat("the cluster keeps every stream whole", 1 + (i % 4)))}")
        .ToList();
    using var load = new GreedyLoad(http, "tiny", maxTokens);
    var expected = new Dictionary<string, string>(StringComparer.Ordinal);
    foreach (var record in await Task.WhenAll(prompts.Select(load.StreamAsync)))
    {
        if (record.Problem is not null)
        {
            throw new InvalidOperationException($"The undisturbed run failed: {record.Problem}");
        }

        expected[record.Prompt] = record.Text;
    }

    Console.WriteLine($"{workerCount} workers ({engine} engine), {clients} clients, greedy streams of {maxTokens} tokens, router {router}; lease {(lease.Length > 0 ? lease + " s" : "default")}; load average {loadAverageAtStart}.");
    load.Start(prompts, clients);
    await Task.Delay(TimeSpan.FromSeconds(3));

    // (1) kill -9 the worker with the most running requests. Its replacement starts once it has left discovery and the
    // streams it cut have had time to finish, so that a process start-up (JIT on few cores) does not weigh on them.
    var removals = new List<double>();
    var killTimes = new List<long>();
    for (var k = 0; k < kills; k++)
    {
        var before = load.Streams.Count;
        await UntilAsync(() => Task.FromResult(load.Streams.Count >= before + clients), "a round of streams before the kill", TimeSpan.FromSeconds(120));
        var (victim, running) = await BusiestWorkerAsync();
        var killedAt = Stopwatch.GetTimestamp();
        workers[victim].Process.Kill();
        killTimes.Add(killedAt);
        var left = await frontend.WaitForLineAsync($@"Instance {victim} left", TimeSpan.FromSeconds(60), since: killedAt);
        var removal = Stopwatch.GetElapsedTime(killedAt, left.At).TotalMilliseconds;
        removals.Add(removal);
        await workers[victim].Process.DisposeAsync();
        workers.Remove(victim);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var id = await AddWorkerAsync();
        await frontend.WaitForLineAsync($@"Instance {id} joined", TimeSpan.FromSeconds(60));
        Console.WriteLine($"kill {k + 1}: {victim} ({running} running) out of discovery {removal:F0} ms after kill -9; {id} replaced it.");
    }

    // (2) nats-server down for --outage-s under load, then back on the same port and store.
    var failedBeforeOutage = load.Streams.Count(s => s.Problem is not null);
    var stoppedAt = Stopwatch.GetTimestamp();
    await nats.DisposeAsync();
    await frontend.WaitForLineAsync("NATS connection lost", TimeSpan.FromSeconds(30), since: stoppedAt);
    await Task.Delay(TimeSpan.FromSeconds(outageSeconds));
    var restartedAt = Stopwatch.GetTimestamp();
    nats = ChildProcess.Start("nats-server", NatsServerPath(), natsArgs);
    var ready = await nats.WaitForLineAsync("Server is ready", TimeSpan.FromSeconds(15));
    var probes = Task.Run(async () =>
    {
        // Fresh prompts store fresh blocks, so a worker has KV events to publish once it is reconnected.
        for (var i = 0; Stopwatch.GetElapsedTime(restartedAt) < TimeSpan.FromSeconds(20); i++)
        {
            await load.StreamAsync($"Probe {i} {Guid.NewGuid():N} {Guid.NewGuid():N} {Guid.NewGuid():N} {Guid.NewGuid():N}");
            lock (kvEventArrivals)
            {
                if (kvEventArrivals.Any(t => t > ready.At))
                {
                    return;
                }
            }
        }
    });
    var reconnected = await frontend.WaitForLineAsync("NATS connection back", TimeSpan.FromSeconds(30), since: restartedAt);
    var synchronized = await frontend.WaitForLineAsync("Discovery synchronized", TimeSpan.FromSeconds(30), since: reconnected.At);

    // The workers' registrations as the bucket holds them: the restarted server's memory buckets start empty, and each
    // worker's next heartbeat writes its registration again.
    var registrationsBack = await RegistrationsBackAsync(observer, workers.Count, TimeSpan.FromSeconds(30));
    var registrationsBackMs = Ms(ready.At, registrationsBack);

    await probes;
    double? eventsBack;
    lock (kvEventArrivals)
    {
        eventsBack = kvEventArrivals.Where(t => t > ready.At).Select(t => (double?)Ms(ready.At, t)).FirstOrDefault();
    }

    await Task.Delay(TimeSpan.FromSeconds(3));
    await load.StopAsync();
    await stopEvents.CancelAsync();
    await kvEvents;
    var failedInOutage = load.Streams.Count(s => s.Problem is not null) - failedBeforeOutage;
    var healthAfter = await http.GetStringAsync("health");

    // Which streams moved: the frontend logs each failed attempt with the request id the client sees and the tokens
    // already streamed. Tokens > 0: migrated mid-stream; 0: re-routed before its first token.
    var cutTokens = new Dictionary<string, int>(StringComparer.Ordinal);
    var detections = new List<double>();
    foreach (var (at, match) in frontend.Lines(new Regex(@"failed request cmpl-([0-9a-f]+)(?:-m\d+)? after (\d+) tokens")))
    {
        var key = match.Groups[1].Value;
        var tokens = int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        cutTokens[key] = Math.Max(cutTokens.GetValueOrDefault(key), tokens);
        if (tokens > 0 && killTimes.Where(k => k <= at).DefaultIfEmpty().Max() is var kill and > 0)
        {
            detections.Add(Ms(kill, at));
        }
    }

    var streams = load.Streams.ToList();
    var migrated = streams.Where(s => s.Id is { } id && cutTokens.TryGetValue(id[(id.IndexOf('-') + 1)..], out var t) && t > 0).ToList();
    var rerouted = streams.Where(s => s.Id is { } id && cutTokens.TryGetValue(id[(id.IndexOf('-') + 1)..], out var t) && t == 0).ToList();
    var untouched = streams.Where(s => s.Id is { } id && !cutTokens.ContainsKey(id[(id.IndexOf('-') + 1)..])).ToList();

    // The fair baseline for a migrated stream: unmigrated streams that started in the same window before a kill (so
    // they ran through the same moments on the same loaded box), chosen by start time alone: picking the streams in
    // flight at the kill instead would favour long ones.
    var window = Stopwatch.Frequency * 2;
    var beside = untouched.Where(s => killTimes.Any(k => s.Start > k - window && s.Start < k)).ToList();
    var lost = streams.Where(s => s.Problem is not null).ToList();
    var different = streams.Where(s => s.Problem is null && expected.TryGetValue(s.Prompt, out var text) && text != s.Text).ToList();
    var migrationsMetric = Regex.Match(await http.GetStringAsync("metrics"), @"^dynamo_frontend_migrations_total\{[^}]*\} (\S+)", RegexOptions.Multiline) is { Success: true } m
        ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
        : 0;

    var report = new
    {
        date = DateTimeOffset.UtcNow,
        machine = new { Environment.ProcessorCount, load_average_start = loadAverageAtStart, load_average_end = LoadAverage() },
        setup = new { workers = workerCount, engine, router, clients, max_tokens = maxTokens, kills, lease_s = lease.Length > 0 ? lease : "default", heartbeat_s = heartbeat.Length > 0 ? heartbeat : "default", outage_s = outageSeconds },
        streams = new { total = streams.Count, lost_or_broken = lost.Count, greedy_different = different.Count, migrated_mid_stream = migrated.Count, rerouted_before_first_token = rerouted.Count, migrations_metric = migrationsMetric },
        e2e_ms = new { unmigrated = Summary(untouched.Select(s => s.E2eMs)), unmigrated_started_2s_before_a_kill = Summary(beside.Select(s => s.E2eMs)), migrated = Summary(migrated.Select(s => s.E2eMs)) },
        longest_wait_ms = new
        {
            unmigrated = Summary(untouched.Select(s => s.MaxGapMs)),
            unmigrated_started_2s_before_a_kill = Summary(beside.Select(s => s.MaxGapMs)),
            migrated = Summary(migrated.Select(s => s.MaxGapMs)),
            rerouted = Summary(rerouted.Select(s => s.MaxGapMs)),
        },
        kill_to_frontend_logging_the_cut_ms = Summary(detections),
        kill_to_removal_ms = Summary(removals),
        nats_restart_ms = new
        {
            frontend_reconnected = Ms(ready.At, reconnected.At),
            frontend_discovery_synchronized = Ms(ready.At, synchronized.At),
            worker_registrations_back = registrationsBackMs,
            kv_events_flowing = eventsBack,
            streams_failed_during_outage = failedInOutage,
        },
        frontend_health_after = healthAfter,
        lost_examples = lost.Take(3).Select(s => s.Problem),
        different_examples = different.Take(3).Select(s => new
        {
            s.Prompt,
            s.Id,
            cut_after_tokens = s.Id is { } id && cutTokens.TryGetValue(id[(id.IndexOf('-') + 1)..], out var t) ? t : (int?)null,
            expected = expected[s.Prompt],
            got = s.Text,
        }),
    };

    Console.WriteLine($"Streams: {streams.Count}; lost or broken {lost.Count}; greedy output different from the undisturbed run {different.Count}.");
    Console.WriteLine($"Migrations: {migrated.Count} mid-stream, {rerouted.Count} re-routed before their first token (frontend metric: {migrationsMetric}).");
    Console.WriteLine($"{"",-28}{"p50 ms",10}{"p99 ms",10}{"max ms",10}{"n",6}");
    Print("e2e, unmigrated", untouched.Select(s => s.E2eMs));
    Print("e2e, unmigrated near a kill", beside.Select(s => s.E2eMs));
    Print("e2e, migrated mid-stream", migrated.Select(s => s.E2eMs));
    Print("longest wait, unmigrated", untouched.Select(s => s.MaxGapMs));
    Print("longest wait, unm. near kill", beside.Select(s => s.MaxGapMs));
    Print("longest wait, migrated", migrated.Select(s => s.MaxGapMs));
    Print("kill -9 to cut logged", detections);
    Print("kill -9 to removal", removals);
    Console.WriteLine(
        $"nats-server restart (from its 'ready'): frontend reconnected {report.nats_restart_ms.frontend_reconnected:F0} ms, discovery synchronized {report.nats_restart_ms.frontend_discovery_synchronized:F0} ms, " +
        $"all {workers.Count} registrations back in the bucket {registrationsBackMs:F0} ms, KV events flowing {eventsBack:F0} ms; streams failed during the outage {failedInOutage}.");

    Directory.CreateDirectory(outDir);
    var path = Path.Combine(outDir, "resilience.json");
    File.WriteAllText(path, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"Wrote {path}");
    exitCode = lost.Count == 0 && different.Count == 0 ? 0 : 5;
}
finally
{
    await frontend.DisposeAsync();
    foreach (var (_, worker) in workers)
    {
        await worker.Process.DisposeAsync();
    }

    await nats.DisposeAsync();
    Directory.Delete(work, recursive: true);
}

return exitCode;

async Task<(string Id, int Running)> BusiestWorkerAsync()
{
    var clock = Stopwatch.StartNew();
    while (true)
    {
        var busiest = ("", 0);
        foreach (var (id, worker) in workers)
        {
            var load = JsonNode.Parse(await workerHttp.GetStringAsync(new Uri(worker.Address, "load")))!;
            var running = load["running_requests"]!.GetValue<int>();
            if (running > busiest.Item2)
            {
                busiest = (id, running);
            }
        }

        if (busiest.Item2 > 0)
        {
            return busiest;
        }

        if (clock.Elapsed > TimeSpan.FromSeconds(30))
        {
            throw new TimeoutException("No worker was running a request for 30 s.");
        }

        await Task.Delay(10);
    }
}

static async Task<long> RegistrationsBackAsync(NatsRuntime observer, int expected, TimeSpan timeout)
{
    var clock = Stopwatch.StartNew();
    var bucket = new NatsOptions { Namespace = "resilience" }.DiscoveryBucket();
    while (true)
    {
        var count = 0;
        try
        {
            var store = await new NatsKVContext(new NatsJSContext(observer.Connection)).GetStoreAsync(bucket);
            await foreach (var _ in store.GetKeysAsync())
            {
                count++;
            }
        }
        catch (NatsException)
        {
            // The bucket is not back yet (or has no keys): look again.
        }

        if (count >= expected)
        {
            return Stopwatch.GetTimestamp();
        }

        if (clock.Elapsed > timeout)
        {
            throw new TimeoutException($"{count} of {expected} registrations in bucket {bucket} after {timeout.TotalSeconds:F0} s.");
        }

        await Task.Delay(10);
    }
}

static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan timeout)
{
    var clock = Stopwatch.StartNew();
    while (!await condition())
    {
        if (clock.Elapsed > timeout)
        {
            throw new TimeoutException($"Timed out after {timeout.TotalSeconds:F0} s waiting for {what}.");
        }

        await Task.Delay(20);
    }
}

static string? LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null;

static double Ms(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

static object? Summary(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length == 0 ? null : new { p50 = Percentile(sorted, 0.50), p99 = Percentile(sorted, 0.99), max = sorted[^1], mean = sorted.Average(), count = sorted.Length };
}

static double Percentile(double[] sorted, double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

static void Print(string label, IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    Console.WriteLine(sorted.Length == 0
        ? $"{label,-28}{"-",10}{"-",10}{"-",10}{0,6}"
        : $"{label,-28}{Percentile(sorted, 0.5),10:F0}{Percentile(sorted, 0.99),10:F0}{sorted[^1],10:F0}{sorted.Length,6}");
}

static string NatsServerPath() =>
    (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/bin", "/usr/local/bin"])
        .Select(dir => Path.Combine(dir, "nats-server")).FirstOrDefault(File.Exists)
    ?? throw new InvalidOperationException("nats-server is not installed: apt-get install -y nats-server");

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

string ArgString(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
