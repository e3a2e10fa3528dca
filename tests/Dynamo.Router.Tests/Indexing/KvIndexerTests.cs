using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.KvCache;
using Dynamo.Router.Indexing;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Time.Testing;
using static Dynamo.Router.Tests.TestSupport;

namespace Dynamo.Router.Tests.Indexing;

public sealed class KvIndexerTests
{
    [Fact]
    public void NewWorker_IsDumped_ThenFollowedFromTheDump()
    {
        var worker = new SimWorker("a");
        var early = worker.Serve(Tokens(1, 64));
        var indexer = worker.NewIndexer();

        indexer.AddWorker(worker.Instance);
        Assert.True(indexer.IsSynced("a"));
        Assert.Equal(4, indexer.Index.Match(early, 16)["a"]);

        var late = worker.Serve(Tokens(2, 48));
        foreach (var kvEvent in worker.Sink.Events)
        {
            indexer.Apply(kvEvent);
        }

        Assert.Equal(3, indexer.Index.Match(late, 16)["a"]);
        worker.AssertIndexMatches(indexer.Index);
        Assert.Equal(1, indexer.Stats.Dumps);
        Assert.Equal(0, indexer.Stats.Replays);
    }

    [Fact]
    public void Duplicate_IsDropped()
    {
        var worker = new SimWorker("a");
        var indexer = worker.NewIndexer();
        indexer.AddWorker(worker.Instance);
        worker.Serve(Tokens(3, 64));
        var first = worker.Sink.Events[0];

        indexer.Apply(first);
        indexer.Apply(first);

        Assert.Equal(1, indexer.Stats.Duplicates);
        Assert.Equal(1, indexer.Stats.EventsApplied);
    }

    [Fact]
    public void Gap_AsksForAReplayOfTheMissingRange()
    {
        var worker = new SimWorker("a");
        var indexer = worker.NewIndexer();
        indexer.AddWorker(worker.Instance);
        for (var i = 0; i < 5; i++)
        {
            worker.Serve(Tokens(10 + i, 64));
        }

        var events = worker.Sink.Events;
        Assert.True(events.Count >= 5);
        indexer.Apply(events[0]);
        indexer.Apply(events[^1]); // everything between is lost

        Assert.Equal(1, indexer.Stats.Gaps);
        Assert.Equal(1, indexer.Stats.Replays);
        Assert.Equal(0, indexer.Stats.ReplaysGone);
        Assert.True(indexer.IsSynced("a"));
        worker.AssertIndexMatches(indexer.Index);
    }

    [Fact]
    public void Gap_OlderThanTheReplayBuffer_FallsBackToADump()
    {
        var worker = new SimWorker("a", replayBuffer: 2);
        var indexer = worker.NewIndexer();
        indexer.AddWorker(worker.Instance);
        for (var i = 0; i < 6; i++)
        {
            worker.Serve(Tokens(20 + i, 64));
        }

        indexer.Apply(worker.Sink.Events[^1]);

        Assert.Equal(1, indexer.Stats.ReplaysGone);
        Assert.Equal(2, indexer.Stats.Dumps);
        Assert.True(indexer.IsSynced("a"));
        worker.AssertIndexMatches(indexer.Index);
    }

    [Fact]
    public async Task EventsArrivingDuringADump_WaitAndThoseNewerThanIt_Apply()
    {
        var worker = new SimWorker("a");
        var control = new GatedControl(worker.Pool);
        var indexer = new KvIndexer(new PrefixIndex(), control);
        worker.Serve(Tokens(30, 64));
        indexer.AddWorker(worker.Instance);
        Assert.False(indexer.IsSynced("a"));

        // The dump is taken now; later events reach the indexer before the dump's answer does.
        var dump = worker.Pool.Dump();
        worker.Serve(Tokens(31, 64));
        foreach (var kvEvent in worker.Sink.Events)
        {
            indexer.Apply(kvEvent);
        }

        control.CompleteDump(dump);

        await Within(indexer.WhenSyncedAsync(), "the dump to be applied");
        Assert.True(indexer.IsSynced("a"));
        worker.AssertIndexMatches(indexer.Index);
        Assert.True(indexer.Stats.EventsApplied > 0);
    }

    [Fact]
    public async Task DumpThatKeepsFailing_IsRetriedWithBackoff_ThenTheStreamIsFollowedAsItComes()
    {
        var time = new FakeTimeProvider();
        var control = new FailingControl();
        var indexer = new KvIndexer(new PrefixIndex(), control, new KvIndexerOptions { DumpAttempts = 3, RetryDelay = TimeSpan.FromSeconds(1) }, time);
        indexer.AddWorker(Instance("a"));
        Assert.Equal(1, control.Calls);

        // Retries wait 1 s, then 2 s, on the fake clock; keep it moving (a retry's timer starts after its attempt failed).
        await Until(() => control.Calls == 2 || !Advance(time), "the second dump attempt");
        Assert.False(indexer.WhenSyncedAsync().IsCompleted);
        await Until(() => control.Calls == 3 || !Advance(time), "the third dump attempt");
        await Within(indexer.WhenSyncedAsync(), "the indexer to give up on the dump");

        var hashes = Hashes(Tokens(40, 32));
        indexer.Apply(Stored("a", 7, hashes));
        Assert.True(indexer.Index.Contains("a", hashes[1]));
        Assert.False(indexer.IsSynced("a"));
        Assert.Equal(3, indexer.Stats.Failures);
    }

    [Fact]
    public async Task RemovedWorker_IsPurged_AndALateDumpAnswerIsIgnored()
    {
        var worker = new SimWorker("a");
        var control = new GatedControl(worker.Pool);
        var indexer = new KvIndexer(new PrefixIndex(), control);
        var prompt = worker.Serve(Tokens(50, 64));
        indexer.AddWorker(worker.Instance);

        indexer.RemoveWorker("a");
        control.CompleteDump(worker.Pool.Dump());
        await Within(control.DumpAnswered, "the late dump answer");

        Assert.False(indexer.IsSynced("a"));
        Assert.False(indexer.Index.TryGetSlot("a", out _));
        Assert.Equal(0, indexer.Index.DistinctBlocks);
        Assert.Empty(indexer.Index.Match(prompt, 16));
    }

    [Fact]
    public void EventsOfAnUnregisteredWorker_AreLeftToItsDump()
    {
        var worker = new SimWorker("a");
        var indexer = worker.NewIndexer();
        worker.Serve(Tokens(60, 64));

        indexer.Apply(worker.Sink.Events[0]);

        Assert.Equal(1, indexer.Stats.Ignored);
        Assert.False(indexer.Index.TryGetSlot("a", out _));
    }

    [Fact]
    public void WithoutControlCalls_StreamsAreFollowedAsTheyCome()
    {
        var indexer = new KvIndexer(new PrefixIndex(), control: null);
        var hashes = Hashes(Tokens(70, 64));

        indexer.Apply(Stored("a", 5, hashes[0], hashes[1]));
        indexer.Apply(Stored("a", 9, hashes[2], hashes[3]));
        indexer.Apply(Removed("a", 8, hashes[0]));

        Assert.Equal(1, indexer.Stats.Gaps);
        Assert.Equal(1, indexer.Stats.Duplicates);
        Assert.Equal(4, indexer.Index.BlockCount("a"));
    }

    [Fact]
    public async Task RandomLossesOnTheStream_AreAllRepaired()
    {
        var worker = new SimWorker("a", totalBlocks: 96, replayBuffer: 16);
        var indexer = worker.NewIndexer();
        indexer.AddWorker(worker.Instance);
        var random = new Random(5);
        var shared = Tokens(80, 64);
        var delivered = 0;
        for (var i = 0; i < 300; i++)
        {
            worker.Serve(random.Next(3) == 0 ? Concat(shared, Tokens(1000 + i, 32)) : Tokens(1000 + i, 16 * random.Next(1, 6)));
            var events = worker.Sink.Events;
            for (; delivered < events.Count; delivered++)
            {
                var drop = random.NextDouble() < 0.1 || i is >= 100 and < 130; // and one long outage
                var duplicate = random.NextDouble() < 0.05;
                if (!drop)
                {
                    indexer.Apply(events[delivered]);
                }

                if (duplicate)
                {
                    indexer.Apply(events[delivered]);
                }
            }
        }

        // The last event may have been dropped with nothing after it to reveal the gap: one more event does.
        worker.Serve(Tokens(9999, 32));
        foreach (var kvEvent in worker.Sink.Events.Skip(delivered))
        {
            indexer.Apply(kvEvent);
        }

        await Within(indexer.WhenSyncedAsync(), "the indexer to catch up");
        worker.AssertIndexMatches(indexer.Index);
        var stats = indexer.Stats;
        Assert.True(stats.Replays > 0, "expected replays");
        Assert.True(stats.ReplaysGone > 0, "expected a range to leave the small replay buffer");
        Assert.True(stats.Duplicates > 0, "expected duplicates");
    }

    [Fact]
    public async Task Start_DumpsWorkersInDiscovery_FollowsThePlane_AndNewWorkers()
    {
        var plane = new InProcessEventPlane();
        var discovery = new InProcessDiscovery();
        var a = new SimWorker("a", new KvEventSinkToPlane(plane));
        var b = new SimWorker("b", new KvEventSinkToPlane(plane));
        var pools = new Dictionary<string, IKvEventSource> { ["a"] = a.Pool, ["b"] = b.Pool };
        var before = a.Serve(Tokens(90, 64));
        await using var leaseA = await discovery.RegisterAsync(a.Instance);
        await using var indexer = new KvIndexer(new PrefixIndex(), new KvEventSourceControl(id => pools.GetValueOrDefault(id)));

        indexer.Start(plane, EventSubjects.KvEvents, discovery);
        await Within(indexer.WhenSyncedAsync(), "the first dump");
        Assert.Equal(4, indexer.Index.Match(before, 16)["a"]);

        var live = a.Serve(Tokens(91, 64));
        await Until(() => indexer.Index.Match(live, 16)["a"] == 4, "a's live events");

        var onB = b.Serve(Tokens(92, 64));
        await using var leaseB = await discovery.RegisterAsync(b.Instance);
        await Within(indexer.WhenSyncedAsync(), "b's dump");
        Assert.Equal(4, indexer.Index.Match(onB, 16)["b"]);

        await leaseA.DisposeAsync();
        Assert.False(indexer.Index.TryGetSlot("a", out _));
        Assert.Equal(0, indexer.Index.Match(live, 16).GetValueOrDefault("a"));
    }

    private static bool Advance(FakeTimeProvider time)
    {
        time.Advance(TimeSpan.FromMilliseconds(250));
        return true;
    }

    /// <summary>A worker's block pool driven like an engine: allocate, compute the whole prompt, release.</summary>
    private sealed class SimWorker
    {
        public SimWorker(string id, IKvEventSink? forward = null, int totalBlocks = 512, int replayBuffer = 10_000)
        {
            Sink = new RecordingSink();
            Pool = new BlockPool(
                new BlockPoolOptions { WorkerId = id, TotalBlocks = totalBlocks, ReplayBufferSize = replayBuffer },
                forward is null ? Sink : new Tee(Sink, forward));
            Instance = Instance(id);
        }

        public RecordingSink Sink { get; }

        public BlockPool Pool { get; }

        public WorkerInstance Instance { get; }

        public KvIndexer NewIndexer() => new(new PrefixIndex(), new KvEventSourceControl(id => id == Instance.InstanceId ? Pool : null));

        public int[] Serve(int[] tokens)
        {
            Assert.True(Pool.TryAllocate(tokens, out var sequence));
            Pool.MarkComputed(sequence, tokens.Length);
            Pool.Release(sequence);
            return tokens;
        }

        public void AssertIndexMatches(PrefixIndex index)
        {
            var dump = Pool.Dump();
            var held = dump.Events.SelectMany(e => ((KvStored)e.Data).Blocks).Select(b => b.SeqHash).ToList();
            Assert.Equal(Pool.GetStats().CachedBlocks, held.Count);
            Assert.Equal(held.Count, index.BlockCount(Instance.InstanceId));
            Assert.All(held, hash => Assert.True(index.Contains(Instance.InstanceId, hash), $"index lacks block {hash}"));
        }
    }

    private sealed class Tee(IKvEventSink first, IKvEventSink second) : IKvEventSink
    {
        public void Publish(KvEvent kvEvent)
        {
            first.Publish(kvEvent);
            second.Publish(kvEvent);
        }
    }

    private sealed class KvEventSinkToPlane(IEventPlane plane) : IKvEventSink
    {
        public void Publish(KvEvent kvEvent) => plane.PublishAsync(EventSubjects.KvEvents, kvEvent).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Answers replays at once and dumps when the test says so.</summary>
    private sealed class GatedControl(BlockPool pool) : IKvEventControl
    {
        private readonly TaskCompletionSource<KvDump> _dump = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _answered = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task DumpAnswered => _answered.Task;

        public ValueTask<ReplayResult> GetEventsAsync(WorkerInstance worker, long fromEventId, long toEventId, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(pool.GetEvents(fromEventId, toEventId));

        public async ValueTask<KvDump> DumpAsync(WorkerInstance worker, CancellationToken cancellationToken = default)
        {
            var dump = await _dump.Task;
            _answered.TrySetResult();
            return dump;
        }

        public void CompleteDump(KvDump dump) => _dump.SetResult(dump);
    }

    private sealed class FailingControl : IKvEventControl
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public ValueTask<ReplayResult> GetEventsAsync(WorkerInstance worker, long fromEventId, long toEventId, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _calls);
            throw new HttpRequestException("connection refused");
        }

        public ValueTask<KvDump> DumpAsync(WorkerInstance worker, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _calls);
            throw new HttpRequestException("connection refused");
        }
    }
}
