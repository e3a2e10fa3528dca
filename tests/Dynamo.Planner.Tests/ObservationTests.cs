using Dynamo.Runtime.Observability;
using Dynamo.Contracts;
using Dynamo.Contracts.Engine;
using Dynamo.Planner.Observers;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Planner.Tests;

public sealed class ObservationTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void PrometheusText_SumsEachNameOverItsLabelSets()
    {
        const string text = """
            # HELP dynamo_frontend_requests_total Requests received.
            # TYPE dynamo_frontend_requests_total counter
            dynamo_frontend_requests_total{model="m",endpoint="completions",request_type="stream",status="success"} 5
            dynamo_frontend_requests_total{model="odd } name, \"quoted\"",endpoint="chat_completions",request_type="unary",status="400"} 2
            dynamo_frontend_queued_requests 3
            dynamo_frontend_time_to_first_token_seconds_sum{model="m"} 1.5e-1
            dynamo_frontend_time_to_first_token_seconds_bucket{model="m",le="+Inf"} 4
            dynamo_frontend_time_to_first_token_seconds_count{model="m"} 4
            weird_value NaN
            """;

        var sums = PrometheusText.SumByName(text);

        Assert.Equal(7, sums["dynamo_frontend_requests_total"]);
        Assert.Equal(3, sums["dynamo_frontend_queued_requests"]);
        Assert.Equal(0.15, sums["dynamo_frontend_time_to_first_token_seconds_sum"], 9);
        Assert.Equal(4, sums["dynamo_frontend_time_to_first_token_seconds_count"]);
        Assert.False(sums.ContainsKey("weird_value"));
    }

    [Fact]
    public void FrontendMetrics_ParseReadsEveryCounterThePlannerUses()
    {
        const string text = """
            dynamo_frontend_requests_total{model="m",endpoint="completions",request_type="stream",status="success"} 10
            dynamo_frontend_inflight_requests{model="m"} 2
            dynamo_frontend_queued_requests 1
            dynamo_frontend_input_sequence_tokens_sum{model="m"} 5000
            dynamo_frontend_input_sequence_tokens_count{model="m"} 10
            dynamo_frontend_output_sequence_tokens_sum{model="m"} 640
            dynamo_frontend_output_sequence_tokens_count{model="m"} 10
            dynamo_frontend_time_to_first_token_seconds_sum{model="m"} 0.5
            dynamo_frontend_time_to_first_token_seconds_count{model="m"} 10
            dynamo_frontend_inter_token_latency_seconds_sum{model="m"} 6.3
            dynamo_frontend_inter_token_latency_seconds_count{model="m"} 630
            dynamo_frontend_cached_tokens_total{model="m"} 1000
            """;

        Assert.Equal(new TrafficTotals(10, 2, 1, 5000, 10, 640, 10, 0.5, 10, 6.3, 630, 1000), FrontendMetricsSource.Parse(text));
    }

    [Fact]
    public async Task Observer_TurnsCounterDifferencesIntoTheIntervalsLoad()
    {
        var source = new ScriptedSource();
        var observer = new ClusterLoadObserver(source, workers: null, _time);
        source.Now = new TrafficTotals(100, 4, 0, 50_000, 100, 6_400, 100, 5, 100, 63, 6_300, 10_000);
        await observer.PrimeAsync(CancellationToken.None);

        // Over 10 s: 20 finished, in flight 4 → 9, 1 queued: 26 arrived.
        _time.Advance(TimeSpan.FromSeconds(10));
        source.Now = new TrafficTotals(120, 9, 1, 50_000 + 20 * 1_000, 120, 6_400 + 20 * 50, 120, 5 + 20 * 0.2, 120, 63 + 1_000 * 0.015, 7_300, 10_000 + 5_000);
        var observation = await observer.ObserveAsync(CancellationToken.None);

        Assert.Equal(TimeSpan.FromSeconds(10), observation.Interval);
        Assert.Equal(26, observation.Requests);
        Assert.Equal(2.6, observation.RequestRate, 9);
        Assert.Equal(1_000, observation.MeanInputTokens, 6);
        Assert.Equal(50, observation.MeanOutputTokens, 6);
        Assert.Equal(200, observation.TtftMs!.Value, 6);
        Assert.Equal(15, observation.ItlMs!.Value, 6);
        Assert.Equal(0.25, observation.KvHitRate, 9);
    }

    [Fact]
    public async Task Observer_NothingFinished_HasNoLatencies_AndACounterThatWentBackCountsFromZero()
    {
        var source = new ScriptedSource { Now = new TrafficTotals(50, 0, 0, 500, 50, 500, 50, 1, 50, 1, 500, 0) };
        var observer = new ClusterLoadObserver(source, workers: null, _time);
        await observer.PrimeAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(5));

        var idle = await observer.ObserveAsync(CancellationToken.None);
        Assert.Equal(0, idle.Requests);
        Assert.Null(idle.TtftMs);
        Assert.Null(idle.ItlMs);
        Assert.Equal(0, idle.MeanInputTokens);

        // The gateway restarted: its counters start again from zero.
        source.Now = new TrafficTotals(3, 0, 0, 300, 3, 30, 3, 0.3, 3, 0.27, 27, 0);
        _time.Advance(TimeSpan.FromSeconds(5));
        var restarted = await observer.ObserveAsync(CancellationToken.None);
        Assert.Equal(3, restarted.Requests);
        Assert.Equal(100, restarted.MeanInputTokens, 9);
    }

    [Fact]
    public async Task Observer_WithoutABaseline_TakesOneAndSaysTrafficStartsNextInterval()
    {
        var observer = new ClusterLoadObserver(new ScriptedSource { Now = TrafficTotals.Zero }, workers: null, _time);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => observer.ObserveAsync(CancellationToken.None));
        Assert.Contains("next interval", error.Message);
        Assert.True(observer.IsPrimed);
    }

    [Fact]
    public async Task Observer_SourceUnreachable_Throws()
    {
        var observer = new ClusterLoadObserver(new ScriptedSource { Fail = true }, workers: null, _time);

        await Assert.ThrowsAsync<HttpRequestException>(() => observer.PrimeAsync(CancellationToken.None));
    }

    [Fact]
    public async Task LoadBoard_KeepsEachWorkersNewestReport_AndDropsWorkersThatStoppedReporting()
    {
        var events = new InProcessEventPlane();
        await using var board = WorkerLoadBoard.Start(events, TimeSpan.FromSeconds(3), _time);
        var load = new EngineLoad { RunningRequests = 1, WaitingRequests = 2, KvBlocksUsed = 10, KvBlocksTotal = 100 };

        // The subscription is live once its loop runs; publish until the first report lands.
        for (var i = 0; i < 200 && board.Received == 0; i++)
        {
            await events.PublishAsync(EventSubjects.LoadMetrics, new WorkerLoadReport("decode-0", "m", WorkerRole.Decode, _time.GetUtcNow(), load));
            await Task.Delay(10);
        }

        await events.PublishAsync(EventSubjects.LoadMetrics, new WorkerLoadReport("prefill-0", "m", WorkerRole.Prefill, _time.GetUtcNow(), load));
        await events.PublishAsync(EventSubjects.LoadMetrics, new WorkerLoadReport("decode-0", "m", WorkerRole.Decode, _time.GetUtcNow(), load with { WaitingRequests = 7 }));
        for (var i = 0; i < 200 && board.Current().Count < 2; i++)
        {
            await Task.Delay(10);
        }

        var current = board.Current();
        Assert.Equal(["decode-0", "prefill-0"], current.Select(r => r.WorkerId));
        await WaitUntilAsync(() => board.Current()[0].Load.WaitingRequests == 7);

        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.Empty(board.Current());
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    private sealed class ScriptedSource : ITrafficSource
    {
        public TrafficTotals Now { get; set; } = TrafficTotals.Zero;

        public bool Fail { get; set; }

        public Task<TrafficTotals> ReadAsync(CancellationToken cancellationToken) =>
            Fail ? Task.FromException<TrafficTotals>(new HttpRequestException("refused")) : Task.FromResult(Now);
    }
}
