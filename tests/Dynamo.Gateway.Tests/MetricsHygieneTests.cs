using System.Net;
using System.Net.Http.Json;
using Dynamo.Gateway.Tests.Infrastructure;
using Dynamo.Runtime.Observability;
using Dynamo.Runtime.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// What <c>/metrics</c> exposes stays bounded and valid: label values come from the configured models only, and the
/// exposition text passes Prometheus' own linter (<c>promtool check metrics</c>, Debian package <c>prometheus</c>,
/// installed by scripts/test.sh).
/// </summary>
public sealed class MetricsHygieneTests
{
    [Fact]
    public async Task TenThousandMadeUpModelNames_AddNoSeries_AndAreCountedAsUnknown()
    {
        await using var cluster = await TestCluster.StartAsync();
        await ChatAsync(cluster, cluster.Model); // the real model's series exist before the baseline
        Assert.Equal(HttpStatusCode.NotFound, (await ChatAsync(cluster, "made-up-0")).StatusCode);
        var before = await cluster.Client.GetStringAsync("metrics");

        const int Names = 10_000;
        int next = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) <= Names)
            {
                using var response = await ChatAsync(cluster, $"made-up-{i}");
                Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            }
        }));
        var after = await cluster.Client.GetStringAsync("metrics");

        Assert.DoesNotContain("made-up", after, StringComparison.Ordinal);
        Assert.Equal(Series(before), Series(after));
        // Only counter values grew (a few digits each): the text is as long as before, within a few bytes a series.
        Assert.InRange(after.Length - before.Length, -64, 8 * Series(after).Count);
        Assert.Equal(Names + 1, Value(after, $"{MetricNames.FrontendRequestsTotal}{{model=\"unknown\",endpoint=\"chat_completions\",request_type=\"unary\",status=\"404\"}}"));
    }

    [Fact]
    public async Task GatewayAndWorkerMetrics_PassPromtool()
    {
        await using var cluster = await TestCluster.StartAsync();
        using (var ok = await ChatAsync(cluster, cluster.Model))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using (await ChatAsync(cluster, "no-such-model"))
        {
        }

        var texts = new List<(string Source, string Text)> { ("gateway", await cluster.Client.GetStringAsync("metrics")) };
        foreach (var worker in cluster.Cluster.Workers)
        {
            texts.Add((worker.Instance.InstanceId, await cluster.WorkerClient.GetStringAsync(new Uri(worker.Address, "metrics"))));
        }

        foreach (var (source, text) in texts)
        {
            Assert.Contains("dynamo_", text, StringComparison.Ordinal);
            var (exit, output) = await Promtool.CheckMetricsAsync(text);
            Assert.True(exit == 0 && output.Length == 0, $"promtool check metrics on {source}'s /metrics (exit {exit}):\n{output}");
        }
    }

    [Fact]
    public async Task Promtool_FlagsACounterWithoutTotal()
    {
        // The linter this suite relies on does catch what it is here for.
        var (exit, output) = await Promtool.CheckMetricsAsync("# HELP dynamo_x Things.\n# TYPE dynamo_x counter\ndynamo_x 1\n");
        Assert.NotEqual(0, exit);
        Assert.Contains("_total", output, StringComparison.Ordinal);
    }

    private static Task<HttpResponseMessage> ChatAsync(TestCluster cluster, string model) =>
        cluster.Client.PostAsJsonAsync("v1/chat/completions", new
        {
            model,
            messages = new[] { new { role = "user", content = "hi" } },
            max_tokens = 2,
        });

    /// <summary>Every series (name and labels) in an exposition text, without values.</summary>
    private static SortedSet<string> Series(string text) =>
        [.. text.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => l[..l.LastIndexOf(' ')])];

    private static double Value(string text, string series) =>
        double.Parse(text.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal))[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
}
