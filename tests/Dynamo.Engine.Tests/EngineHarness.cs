using System.Collections.Concurrent;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Dynamo.Engine.Compute;

namespace Dynamo.Engine.Tests;

internal static class EngineHarness
{
    public static async Task<DotnetEngine> Start(Action<DotnetEngineOptions>? configure = null, IKvEventSink? sink = null)
    {
        var options = new DotnetEngineOptions { NumKvBlocks = 256, Threads = 2, Backend = ComputeBackendKind.Auto };
        configure?.Invoke(options);
        return new DotnetEngine(await TestModels.Tiny(), options, sink);
    }

    public static EngineRequest Greedy(int[] prompt, int maxTokens, string? id = null) => new()
    {
        RequestId = id ?? Guid.NewGuid().ToString("N"),
        PromptTokens = prompt,
        MaxTokens = maxTokens,
        Sampling = new SamplingOptions { Temperature = 0 },
        IgnoreEos = true,
    };

    public static async Task<List<EngineOutput>> Collect(IEngine engine, EngineRequest request, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var outputs = new List<EngineOutput>();
        await foreach (var output in engine.GenerateAsync(request, timeout.Token))
        {
            outputs.Add(output);
        }

        return outputs;
    }

    public static async Task<int[]> Tokens(IEngine engine, EngineRequest request) =>
        (await Collect(engine, request)).Select(o => o.TokenId).ToArray();

    public static int[] Prompt(int length, int salt) => Enumerable.Range(0, length).Select(i => ((i * 7919) + (salt * 104729) + 11) % 50000).ToArray();

    /// <summary>Awaits a condition the engine's loop makes true, polling its load; fails naming what was awaited.</summary>
    public static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out after 10 s waiting for {what}");
            }

            await Task.Delay(5);
        }
    }
}

internal sealed class RecordingSink : IKvEventSink
{
    public ConcurrentQueue<KvEvent> Events { get; } = new();

    public void Publish(KvEvent kvEvent) => Events.Enqueue(kvEvent);
}
