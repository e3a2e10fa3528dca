using System.Diagnostics;
using System.Text;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Tests.Contract;
using Dynamo.Runtime.Tests.Infrastructure;

namespace Dynamo.Runtime.Tests.Functional;

/// <summary><c>dynamo frontend</c> and <c>dynamo worker</c> as real processes on a real nats-server.</summary>
public sealed class ProcessesOnNatsTests(NatsServerFixture nats, ITestOutputHelper output) : IClassFixture<NatsServerFixture>
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A worker stopped while it is still starting (a scaler that scales down a worker it has just started) is a clean
    /// stop: exit 0, one line saying so, and nothing left in discovery. The lease is a minute long, so a record left
    /// behind cannot pass for one deleted by expiring. Each case sends SIGTERM at a later step of the start-up: before
    /// NATS connects, once discovery is synchronized, while the HTTP server starts, and once registered.
    /// </summary>
    [Theory]
    [InlineData("Cluster secret")]
    [InlineData("Discovery synchronized")]
    [InlineData("accepts requests only with the cluster credential")]
    [InlineData("Registered p-early-")]
    public async Task WorkerStoppedWhileStarting_ExitsZero_AndLeavesNothingInDiscovery(string stopAt)
    {
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output), o => o.LeaseTtl = TimeSpan.FromMinutes(1));
        var observer = await backend.NewRuntimeAsync();
        var model = await TestModel.DirectoryAsync();
        var id = "p-early-" + Guid.NewGuid().ToString("N")[..8];
        await using var worker = DynamoProcess.Start(
            ["worker", "--role", "agg", "--nats", nats.Server.Url, "--model", model, "--served-model-name", TestModel.Name, "--engine", "mocker", "--instance-id", id, "--cluster-secret-file", TestSecret.File],
            new Dictionary<string, string>
            {
                ["DYNAMO__NATS__NAMESPACE"] = backend.Namespace,
                ["DYNAMO__NATS__LEASETTL"] = "00:01:00",
            });

        await worker.WaitForLineAsync(stopAt, StartTimeout);
        worker.Terminate();

        Assert.Equal(0, await worker.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Matches("stopped while starting|is serving model", worker.Output);
        Assert.DoesNotContain("Unhandled exception", worker.Output);
        await Wait.UntilAsync(() => observer.Discovery.GetInstances().All(i => i.InstanceId != id), $"{id} to be out of discovery", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task FrontendAndWorkerProcesses_Serve_KilledWorkerLeavesWithinLease_DrainedWorkerLeavesAtOnce()
    {
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output), o =>
        {
            o.LeaseTtl = Lease;
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
        });
        var observer = await backend.NewRuntimeAsync();
        var removedAt = new Dictionary<string, long>();
        observer.Discovery.Changed += change =>
        {
            if (change.Kind == DiscoveryChangeKind.Removed)
            {
                lock (removedAt)
                {
                    removedAt[change.Instance.InstanceId] = Stopwatch.GetTimestamp();
                }
            }
        };
        var model = await TestModel.DirectoryAsync();
        var environment = new Dictionary<string, string>
        {
            ["DYNAMO__NATS__NAMESPACE"] = backend.Namespace,
            ["DYNAMO__NATS__LEASETTL"] = Lease.ToString(),
            ["DYNAMO__NATS__HEARTBEATINTERVAL"] = "00:00:00.5",
            ["DYNAMO__MOCKER__SPEEDUPFACTOR"] = "5",
            ["DYNAMO__WORKER__LOADREPORTINTERVAL"] = "00:00:00.2",
        };
        string[] Worker(string id) => ["worker", "--role", "agg", "--nats", nats.Server.Url, "--model", model, "--served-model-name", TestModel.Name, "--engine", "mocker", "--instance-id", id, "--cluster-secret-file", TestSecret.File];

        await using var killed = DynamoProcess.Start(Worker("p-killed"), environment);
        await using var drained = DynamoProcess.Start(Worker("p-drained"), environment);
        await using var frontend = DynamoProcess.Start(
            ["frontend", "--nats", nats.Server.Url, "--port", "0", "--model", model, "--served-model-name", TestModel.Name, "--router", "round-robin", "--cluster-secret-file", TestSecret.File],
            environment);
        var address = (await frontend.WaitForLineAsync(@"serving model 'tiny' at (\S+)v1", StartTimeout)).Groups[1].Value;
        await killed.WaitForLineAsync("Dynamo worker p-killed is serving", StartTimeout);
        await drained.WaitForLineAsync("Dynamo worker p-drained is serving", StartTimeout);
        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Count == 2, "both worker processes in discovery");
        using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };
        await WaitForHealthAsync(client, instances: 2);
        var kvEventsFrom = new HashSet<string>();
        var loadReportsFrom = new HashSet<string>();
        using var stopEvents = new CancellationTokenSource();
        var loadReports = Task.Run(async () =>
        {
            try
            {
                await foreach (var report in observer.Events.SubscribeAsync<WorkerLoadReport>(EventSubjects.LoadMetrics, stopEvents.Token))
                {
                    lock (loadReportsFrom)
                    {
                        loadReportsFrom.Add($"{report.WorkerId} {report.Model} {report.Load.KvBlocksTotal > 0}");
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        var kvEvents = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in observer.Events.SubscribeAsync<KvEvent>(EventSubjects.KvEvents, stopEvents.Token))
                {
                    lock (kvEventsFrom)
                    {
                        kvEventsFrom.Add(e.WorkerId);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        // Each worker process publishes the blocks it stores on NATS, as KV routers need. The subscription goes live
        // a moment after it starts, so requests (with prompts long enough to fill blocks) go on until both are heard.
        bool HeardBoth()
        {
            lock (kvEventsFrom)
            {
                return kvEventsFrom.SetEquals(["p-killed", "p-drained"]);
            }
        }

        for (var i = 0; !HeardBoth(); i++)
        {
            Assert.True(i < 40, "no KV events from both worker processes after 40 requests");
            await CompleteAsync(client, i);
        }

        // Each worker process also publishes its load (running and waiting requests, KV usage) every interval.
        await Wait.UntilAsync(
            () => { lock (loadReportsFrom) { return loadReportsFrom.IsSupersetOf(["p-killed tiny True", "p-drained tiny True"]); } },
            "load reports from both worker processes",
            TimeSpan.FromSeconds(10));
        await stopEvents.CancelAsync();
        await kvEvents;
        await loadReports;

        // kill -9: no goodbye; the lease runs out.
        var killedAt = Stopwatch.GetTimestamp();
        killed.Kill();
        await Wait.UntilAsync(() => { lock (removedAt) { return removedAt.ContainsKey("p-killed"); } }, "the killed worker to leave discovery", Lease * 3);
        var removal = Stopwatch.GetElapsedTime(killedAt, removedAt["p-killed"]);
        await WaitForHealthAsync(client, instances: 1);
        for (var i = 0; i < 4; i++)
        {
            await CompleteAsync(client, 100 + i);
        }

        // SIGTERM: it leaves discovery first, drains, and exits 0.
        var terminatedAt = Stopwatch.GetTimestamp();
        drained.Terminate();
        Assert.Equal(0, await drained.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        await Wait.UntilAsync(() => { lock (removedAt) { return removedAt.ContainsKey("p-drained"); } }, "the drained worker to leave discovery", Lease);
        var leave = Stopwatch.GetElapsedTime(terminatedAt, removedAt["p-drained"]);
        await WaitForHealthAsync(client, instances: 0);

        output.WriteLine($"kill -9 to removal from discovery: {removal.TotalMilliseconds:F0} ms (lease {Lease.TotalMilliseconds:F0} ms, heartbeat 500 ms); SIGTERM to removal: {leave.TotalMilliseconds:F0} ms.");
        Assert.True(removal <= Lease + TimeSpan.FromSeconds(1), $"removal took {removal}");
        Assert.True(leave < TimeSpan.FromSeconds(1), $"a draining worker took {leave} to leave");
        frontend.Terminate();
        Assert.Equal(0, await frontend.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task WorkerProcess_NatsUnreachable_ExitsWithMessage()
    {
        await using var worker = DynamoProcess.Start(
            ["worker", "--role", "agg", "--nats", "nats://127.0.0.1:1", "--engine", "mocker", "--model", await TestModel.DirectoryAsync(), "--cluster-secret-file", TestSecret.File],
            new Dictionary<string, string> { ["DYNAMO__NATS__CONNECTTIMEOUT"] = "00:00:01" });

        Assert.Equal(1, await worker.WaitForExitAsync(StartTimeout));
        Assert.Contains("Dynamo:Nats:Url", worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkerProcess_BadNatsSetting_ExitsNamingKeyAndValue()
    {
        await using var worker = DynamoProcess.Start(
            ["worker", "--role", "agg", "--nats", "http://wrong:4222"],
            new Dictionary<string, string> { ["DYNAMO__NATS__LEASETTL"] = "00:00:00.1" });

        Assert.Equal(1, await worker.WaitForExitAsync(StartTimeout));
        Assert.Contains("Dynamo:Nats:Url = 'http://wrong:4222'", worker.Output, StringComparison.Ordinal);
        Assert.Contains("Dynamo:Nats:LeaseTtl = '00:00:00.1000000'", worker.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("worker")]
    [InlineData("frontend")]
    public async Task WithoutClusterSecret_RefusesToStart_SayingHowToMakeOne(string command)
    {
        await using var process = DynamoProcess.Start([command, "--nats", nats.Server.Url], new Dictionary<string, string>());

        Assert.Equal(1, await process.WaitForExitAsync(StartTimeout));
        Assert.Contains($"dynamo {command}: no cluster secret is configured (Dynamo:Cluster:Secret or --cluster-secret-file)", process.Output, StringComparison.Ordinal);
        Assert.Contains("openssl rand -base64 32 > cluster.secret", process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShortSecretInTheEnvironment_RefusesToStart_NamingTheKey()
    {
        await using var worker = DynamoProcess.Start(["worker", "--nats", nats.Server.Url], new Dictionary<string, string> { ["DYNAMO__CLUSTER__SECRET"] = "changeme" });

        Assert.Equal(1, await worker.WaitForExitAsync(StartTimeout));
        Assert.Contains("Dynamo:Cluster:Secret: the secret is too short (8 characters; at least 32 are needed)", worker.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("changeme", worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingSecretFile_RefusesToStart_NamingThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.secret");
        await using var frontend = DynamoProcess.Start(["frontend", "--nats", nats.Server.Url, "--cluster-secret-file", path], new Dictionary<string, string>());

        Assert.Equal(1, await frontend.WaitForExitAsync(StartTimeout));
        Assert.Contains($"--cluster-secret-file {path}: the file does not exist", frontend.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", frontend.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// An unauthenticated NATS off this machine is refused before any connection is tried; <c>--insecure</c> lets the
    /// process go on (to its connection attempt, which fails here: nothing listens at that address).
    /// </summary>
    [Fact]
    public async Task UnauthenticatedNatsOffThisMachine_IsRefused_UnlessInsecure()
    {
        var environment = new Dictionary<string, string> { ["DYNAMO__NATS__CONNECTTIMEOUT"] = "00:00:01" };
        string[] Worker(params string[] extra) =>
            ["worker", "--nats", "nats://10.255.255.1:4222", "--engine", "mocker", "--cluster-secret-file", TestSecret.File, .. extra];

        await using (var refused = DynamoProcess.Start(Worker(), environment))
        {
            Assert.Equal(1, await refused.WaitForExitAsync(StartTimeout));
            Assert.Contains("Dynamo:Nats:Url = 'nats://10.255.255.1:4222' is not on this machine and no NATS authentication is configured", refused.Output, StringComparison.Ordinal);
            Assert.Contains("or pass --insecure to run anyway", refused.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("Cannot connect", refused.Output, StringComparison.Ordinal);
        }

        await using var insecure = DynamoProcess.Start(Worker("--insecure"), environment);
        Assert.Equal(1, await insecure.WaitForExitAsync(StartTimeout));
        Assert.Contains("--insecure: Dynamo:Nats:Url = 'nats://10.255.255.1:4222' is not on this machine", insecure.Output, StringComparison.Ordinal);
        Assert.Contains("Cannot connect to NATS at nats://10.255.255.1:4222", insecure.Output, StringComparison.Ordinal);
    }

    private static async Task WaitForHealthAsync(HttpClient client, int instances)
    {
        var expected = $"\"instances\":{instances}";
        var last = "";
        await Wait.UntilAsync(
            async () =>
            {
                using var response = await client.GetAsync("health");
                last = await response.Content.ReadAsStringAsync();
                return last.Contains(expected, StringComparison.Ordinal);
            },
            () => $"the frontend's /health to report {instances} instances (last: {last})");
    }

    private static async Task CompleteAsync(HttpClient client, int n)
    {
        var prompt = $"Request {n}: the quick brown fox jumps over the lazy dog while the cluster keeps serving every stream it was given, one block at a time.";
        var json = $$"""{"model":"{{TestModel.Name}}","prompt":"{{prompt}}","max_tokens":8,"stream":true}""";
        using var response = await client.PostAsync("v1/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"HTTP {(int)response.StatusCode}: {body}");
        Assert.EndsWith("data: [DONE]", body.TrimEnd(), StringComparison.Ordinal);
    }
}
