using BenchmarkDotNet.Attributes;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.Router.Indexing;

namespace Dynamo.Bench.Router;

/// <summary>P3 decision cost under BenchmarkDotNet (mean and its error; the per-call p50/p99 come from <c>p3</c>).</summary>
[MemoryDiagnoser]
[ShortRunJob]
public class DecisionBenchmarks
{
    private IndexFixture _fixture = null!;
    private int[] _short = null!;
    private int[] _long = null!;
    private int[] _miss = null!;

    [GlobalSetup]
    public void Setup()
    {
        _fixture = IndexFixture.Build();
        _short = _fixture.ShortHits[0];
        _long = _fixture.LongHits[0];
        _miss = IndexFixture.Tokens(new Random(1), IndexFixture.ShortTokens);
    }

    [Benchmark(Description = "Select, 4K prompt, 256 blocks on one worker")]
    public RoutingDecision Short() => Route(_short);

    [Benchmark(Description = "Select, 4K prompt, nothing cached")]
    public RoutingDecision Miss() => Route(_miss);

    [Benchmark(Description = "Select, 32K prompt, 2048 blocks on one worker")]
    public RoutingDecision Long() => Route(_long);

    private RoutingDecision Route(int[] prompt)
    {
        var decision = _fixture.Router.Select(new RoutingRequest("r", "bench", prompt, 64), _fixture.Workers);
        _fixture.Router.Complete(decision);
        return decision;
    }
}

/// <summary>P3 event ingestion under BenchmarkDotNet: 100,000 recorded engine events applied per operation.</summary>
[ShortRunJob]
public class IngestionBenchmarks
{
    private List<KvEvent> _events = null!;

    [GlobalSetup]
    public void Setup() => _events = P3.RecordEvents(64, 100_000, out _);

    [Benchmark(OperationsPerInvoke = 100_000, Description = "KvIndexer.Apply, per event")]
    public long Apply()
    {
        var indexer = new KvIndexer(new PrefixIndex(), control: null);
        for (var i = 0; i < 100_000; i++)
        {
            indexer.Apply(_events[i]);
        }

        return indexer.Stats.EventsApplied;
    }
}
