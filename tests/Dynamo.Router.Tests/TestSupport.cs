using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.KvCache;

namespace Dynamo.Router.Tests;

internal static class TestSupport
{
    public static WorkerInstance Instance(string id, int blockSize = 16) => new()
    {
        InstanceId = id,
        Model = "m",
        Role = WorkerRole.Aggregated,
        Address = new Uri($"http://127.0.0.1:1/{id}/"),
        BlockSize = blockSize,
        TotalKvBlocks = 1024,
    };

    /// <summary>Deterministic tokens: <paramref name="count"/> ids below <paramref name="vocab"/> from a seeded stream.</summary>
    public static int[] Tokens(int seed, int count, int vocab = 50_000)
    {
        var random = new Random(seed);
        var tokens = new int[count];
        for (var i = 0; i < count; i++)
        {
            tokens[i] = random.Next(1, vocab);
        }

        return tokens;
    }

    public static int[] Concat(params int[][] parts) => [.. parts.SelectMany(p => p)];

    public static ulong[] Hashes(int[] tokens, int blockSize = 16) => BlockHasher.ComputeSequenceHashes(tokens, blockSize);

    public static KvEvent Stored(string worker, long id, params ulong[] hashes) =>
        new(worker, id, StorageTier.Device, new KvStored(null, [.. hashes.Select(h => new StoredBlock(h, h ^ 1))]));

    public static KvEvent Removed(string worker, long id, params ulong[] hashes) =>
        new(worker, id, StorageTier.Device, new KvRemoved(hashes));

    /// <summary>Awaits <paramref name="task"/>, failing with <paramref name="what"/> after a timeout.</summary>
    public static async Task Within(Task task, string what, int seconds = 10)
    {
        try
        {
            await task.WaitAsync(TimeSpan.FromSeconds(seconds));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Timed out waiting for {what}.");
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds (for state another thread changes), failing with <paramref name="what"/>.</summary>
    public static async Task Until(Func<bool> condition, string what, int seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for {what}.");
            }

            await Task.Delay(5);
        }
    }
}

/// <summary>Records what an engine's pool publishes.</summary>
internal sealed class RecordingSink : IKvEventSink
{
    private readonly List<KvEvent> _events = [];

    public IReadOnlyList<KvEvent> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    public void Publish(KvEvent kvEvent)
    {
        lock (_events)
        {
            _events.Add(kvEvent);
        }
    }
}
