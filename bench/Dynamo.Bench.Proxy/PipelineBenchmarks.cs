using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.NoEmit;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Bench.Proxy;

/// <summary>
/// Allocations (and time) per non-streaming P1 request, over loopback HTTP against an embedded cluster (gateway and
/// zero-delay mocker worker in this process). The memory diagnoser counts every thread of the process, so each
/// benchmark's figure holds the client's, the gateway's and the worker's allocations: the gateway's own are
/// <see cref="Gateway"/> minus <see cref="WorkerAsGatewayCalls"/> (the same worker call the gateway makes, the same
/// client, no gateway).
/// </summary>
[Config(typeof(InProcessConfig))]
public class PipelineBenchmarks : IDisposable
{
    private EmbeddedCluster _cluster = null!;
    private HttpClient _gateway = null!;
    private HttpClient _worker = null!;
    private byte[] _body = null!;
    private byte[] _workerBody = null!;

    [GlobalSetup]
    public void Setup()
    {
        var settings = ProxyCluster.Settings();
        _cluster = EmbeddedCluster.StartAsync(settings, NullLoggerFactory.Instance).GetAwaiter().GetResult();
        _gateway = new HttpClient { BaseAddress = _cluster.Address };
        // One credential minted now, as nginx sends in P1 (valid 5 minutes, longer than a run): the client signs nothing
        // per request, so the difference of the two rows holds the gateway's signing.
        _worker = new HttpClient { BaseAddress = _cluster.Workers[0].Address };
        _worker.DefaultRequestHeaders.TryAddWithoutValidation(
            ClusterSecret.HttpHeader, _cluster.ClusterSecret.CreateHttpCredential("POST", "/v1/completions", DateTimeOffset.UtcNow));

        // The P1 request, and the body the gateway sends the worker for it (WorkerRequestWriter: token ids, streamed with usage).
        _body = Encoding.UTF8.GetBytes($"{{\"model\":\"{_cluster.ModelName}\",\"prompt\":[464,3139,286,4881,318,6342,13,383],\"max_tokens\":1}}");
        _workerBody = Encoding.UTF8.GetBytes(
            $"{{\"model\":\"{_cluster.ModelName}\",\"prompt\":[464,3139,286,4881,318,6342,13,383],\"max_tokens\":1,\"temperature\":1,\"top_p\":1,\"n\":1,\"stream\":true,\"stream_options\":{{\"include_usage\":true}}}}");
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _gateway?.Dispose();
        _worker?.Dispose();
        _cluster?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        GC.SuppressFinalize(this);
    }

    /// <summary>Client → gateway → worker: <c>POST /v1/completions</c>, <c>max_tokens</c> 1, the whole answer read.</summary>
    [Benchmark(Baseline = true, Description = "P1 request through the gateway")]
    public Task<int> Gateway() => PostAsync(_gateway, _body);

    /// <summary>Client → worker, the request the gateway would send it (SSE with usage), the whole stream read.</summary>
    [Benchmark(Description = "the gateway's worker call, made directly")]
    public Task<int> WorkerAsGatewayCalls() => PostAsync(_worker, _workerBody);

    private static async Task<int> PostAsync(HttpClient client, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await client.PostAsync("v1/completions", content);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        return response.IsSuccessStatusCode ? bytes.Length : throw new InvalidOperationException($"HTTP {(int)response.StatusCode}: {Encoding.UTF8.GetString(bytes)}");
    }

    /// <summary>In this process (the cluster is started by the global setup): no generated project to build.</summary>
    private sealed class InProcessConfig : ManualConfig
    {
        public InProcessConfig()
        {
            AddJob(Job.ShortRun.WithToolchain(InProcessNoEmitToolchain.Instance));
            AddDiagnoser(MemoryDiagnoser.Default);
            WithSummaryStyle(BenchmarkDotNet.Reports.SummaryStyle.Default.WithSizeUnit(Perfolizer.Metrology.SizeUnit.B));
        }
    }
}
