using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// The gateway's limits on trying again, each configured, enforced and seen over real sockets:
/// <c>MigrationLimit</c> (how many other workers a failed request may move to), <c>HealthProbeInterval</c> (how soon a
/// worker taken out of routing is probed back in) and <c>QueueTimeout</c> (how long a request waits for a slot).
/// </summary>
public sealed class ResilienceLimitsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task MigrationLimit_RunsOut_503AfterExactlyLimitPlusOneWorkersTried(int limit)
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Serve:Workers"] = "1",
            ["Dynamo:Router:Mode"] = "round-robin",
            ["Dynamo:Gateway:MigrationLimit"] = limit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Dynamo:Gateway:HealthProbeInterval"] = "00:05:00", // no probe during the test: every accept is an attempt
        });

        // Only dying workers are left, one more than the limit lets a request try.
        var real = cluster.Cluster.Workers[0];
        var instance = real.Instance;
        await real.StopAsync(CancellationToken.None);
        var peers = Enumerable.Range(0, limit + 2).Select(_ => new FakePeer(PeerMode.Refuse)).ToList();
        var registrations = new List<IAsyncDisposable>();
        try
        {
            for (var i = 0; i < peers.Count; i++)
            {
                registrations.Add(await cluster.Cluster.Discovery.RegisterAsync(instance with { InstanceId = $"dying-{i}", Address = peers[i].Address }));
            }

            using var response = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "anyone?", max_tokens = 2 });

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Json.AssertOpenAiError(await Json.ReadAsync(response));
            Assert.Equal(limit + 1, peers.Sum(p => p.Accepted));
            Assert.Equal(1, peers.Count(p => p.Accepted == 0)); // one worker was never tried: the limit, not the pool, ran out
            var metrics = await cluster.Client.GetStringAsync("metrics");
            Assert.Equal(limit, MetricValue(metrics, "dynamo_frontend_migrations_total"));
        }
        finally
        {
            foreach (var registration in registrations)
            {
                await registration.DisposeAsync();
            }

            foreach (var peer in peers)
            {
                await peer.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task HealthProbe_BringsAFailedWorkerBackIntoRouting_OnceItAnswersAgain()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Serve:Workers"] = "1",
            ["Dynamo:Router:Mode"] = "round-robin",
            ["Dynamo:Gateway:HealthProbeInterval"] = "00:00:00.2",
        });

        // A second route to the one real worker, through a peer that first drops every connection.
        var real = cluster.Cluster.Workers[0];
        await using var flaky = new FakePeer(PeerMode.Refuse, real.Address);
        await using var registration = await cluster.Cluster.Discovery.RegisterAsync(real.Instance with { InstanceId = "flaky", Address = flaky.Address });

        // Round robin sends one of the first two requests to the flaky worker: it fails, the request moves to the other.
        for (var i = 0; i < 2; i++)
        {
            await CompleteAsync(cluster);
        }

        var metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Equal(1, MetricValue(metrics, "dynamo_frontend_migrations_total"));
        Assert.Equal(1, MetricValue(metrics, "dynamo_component_router_decisions_total", "worker=\"flaky\""));

        // While it still drops connections, the probes fail and nothing is routed to it.
        var accepted = flaky.Accepted;
        await WaitForAsync(() => Task.FromResult(flaky.Accepted >= accepted + 2), "two failed health probes");
        for (var i = 0; i < 3; i++)
        {
            await CompleteAsync(cluster);
        }

        Assert.Equal(1, MetricValue(await cluster.Client.GetStringAsync("metrics"), "dynamo_component_router_decisions_total", "worker=\"flaky\""));

        // It answers again: the next probe puts it back, and requests reach the real worker through it.
        flaky.Mode = PeerMode.Forward;
        var back = Stopwatch.StartNew();
        await WaitForAsync(async () =>
        {
            await CompleteAsync(cluster);
            return MetricValue(await cluster.Client.GetStringAsync("metrics"), "dynamo_component_router_decisions_total", "worker=\"flaky\"") >= 2;
        }, "a request routed to the recovered worker");
        Assert.Equal(1, MetricValue(await cluster.Client.GetStringAsync("metrics"), "dynamo_frontend_migrations_total"));
        Assert.True(back.Elapsed < TimeSpan.FromSeconds(10), $"back in routing after {back.Elapsed}");
    }

    [Fact]
    public async Task QueueTimeout_AQueuedRequestWaitsThatLong_Then429()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Serve:Workers"] = "1",
            ["Dynamo:Gateway:MaxConcurrentRequests"] = "1",
            ["Dynamo:Gateway:MaxQueuedRequests"] = "1",
            ["Dynamo:Gateway:QueueTimeout"] = "00:00:00.4",
        });
        using var first = await StartStreamAsync(cluster);

        var clock = Stopwatch.StartNew();
        using var queued = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "queued", max_tokens = 2 });
        var waited = clock.Elapsed;

        Assert.Equal(HttpStatusCode.TooManyRequests, queued.StatusCode);
        var body = await Json.ReadAsync(queued);
        Json.AssertOpenAiError(body);
        Assert.Contains("queue timeout (0.4 s)", body["error"]!["message"]!.GetValue<string>());
        Assert.True(waited >= TimeSpan.FromMilliseconds(350), $"answered after {waited.TotalMilliseconds:F0} ms: it did not wait in the queue");
    }

    [Fact]
    public async Task QueueTimeout_AQueuedRequestGetsTheSlotWhenItFreesInTime()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Serve:Workers"] = "1",
            ["Dynamo:Gateway:MaxConcurrentRequests"] = "1",
            ["Dynamo:Gateway:MaxQueuedRequests"] = "1",
            ["Dynamo:Gateway:QueueTimeout"] = "00:00:30",
        });
        var first = await StartStreamAsync(cluster);

        var queued = Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "queued", max_tokens = 2 });
        await WaitForAsync(async () => MetricValue(await cluster.Client.GetStringAsync("metrics"), "dynamo_frontend_queued_requests") == 1, "the second request to queue");
        Assert.False(queued.IsCompleted);
        first.Dispose(); // the client leaves: its slot frees

        using var response = await queued.WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task CompleteAsync(TestCluster cluster)
    {
        using var response = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "ping", max_tokens = 2 });
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Starts a long streamed completion and returns once its first chunk has arrived (it holds a slot).</summary>
    private static async Task<HttpResponseMessage> StartStreamAsync(TestCluster cluster)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json.Body(new { model = cluster.Model, prompt = "a long story", max_tokens = 2000, stream = true, ignore_eos = true }),
        };
        var response = await cluster.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync().WaitAsync(Timeout));
        return response;
    }

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels contain every fragment; 0 when there is none.</summary>
    internal static double MetricValue(string metrics, string name, params string[] labelFragments) =>
        metrics.Split('\n')
            .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
            .Where(l => labelFragments.All(f => l.Contains(f, StringComparison.Ordinal)))
            .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .SingleOrDefault();

    internal static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < Timeout, $"timed out after {Timeout.TotalSeconds:F0} s waiting for {what}");
            await Task.Delay(20);
        }
    }
}
