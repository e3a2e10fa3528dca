using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Engine.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Gateway.Tests.Infrastructure;

/// <summary>
/// An embedded cluster (gateway + mocker workers) on ephemeral loopback ports over a generated tiny model,
/// started the way <c>dynamo serve</c> starts it, with configuration overrides per test class.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private static readonly SemaphoreSlim ModelGate = new(1, 1);
    private static string? _modelDir;

    private TestCluster(EmbeddedCluster cluster)
    {
        Cluster = cluster;
        Client = new HttpClient { BaseAddress = cluster.Address, Timeout = TimeSpan.FromSeconds(60) };
        WorkerClient = new HttpClient(new Runtime.Security.ClusterCredentialHandler(cluster.ClusterSecret, new SocketsHttpHandler())) { Timeout = TimeSpan.FromSeconds(60) };
    }

    public EmbeddedCluster Cluster { get; }

    public HttpClient Client { get; }

    /// <summary>For calls straight to a worker (absolute URIs): signs them with the cluster's secret, as the gateway does.</summary>
    public HttpClient WorkerClient { get; }

    public string Model => Cluster.ModelName;

    public Uri Address => Cluster.Address;

    public static async Task<TestCluster> StartAsync(IDictionary<string, string?>? overrides = null, ILoggerFactory? loggerFactory = null)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Dynamo:Gateway:Port"] = "0",
            ["Dynamo:Serve:Engine"] = "mocker",
            ["Dynamo:Serve:Model"] = await TinyModelAsync(),
            ["Dynamo:Serve:ServedModelName"] = "tiny",
            ["Dynamo:Serve:Mode"] = "agg",
            ["Dynamo:Serve:Workers"] = "2",
            ["Dynamo:Mocker:ZeroDelay"] = "true",
        };
        // A null override removes a default (e.g. Workers, which only --mode agg accepts).
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                values.Remove(key);
            }
            else
            {
                values[key] = value;
            }
        }

        var settings = ClusterSettings.From(DynamoConfiguration.Build(null, values, environment: new Dictionary<string, string?>()));
        var cluster = await EmbeddedCluster.StartAsync(settings, loggerFactory ?? NullLoggerFactory.Instance);
        return new TestCluster(cluster);
    }

    /// <summary>One generated tiny model per test run, shared by every cluster.</summary>
    public static async Task<string> TinyModelAsync()
    {
        await ModelGate.WaitAsync();
        try
        {
            if (_modelDir is null)
            {
                var dir = Path.Combine(Path.GetTempPath(), "dynamo-tests", "tiny-" + Environment.ProcessId);
                await ModelWriter.WriteAsync(dir, ModelPreset.Tiny, seed: 0);
                _modelDir = dir;
            }

            return _modelDir;
        }
        finally
        {
            ModelGate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        WorkerClient.Dispose();
        await Cluster.DisposeAsync();
    }
}
