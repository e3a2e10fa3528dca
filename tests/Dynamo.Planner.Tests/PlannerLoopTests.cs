using Dynamo.Contracts;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Planner.Tests;

/// <summary>The live loop on a fake clock, with a scripted policy, observer and connector.</summary>
public sealed class PlannerLoopTests
{
    private static readonly PlannerLoopOptions Options = new() { Interval = TimeSpan.FromSeconds(5), ReadyTimeout = TimeSpan.FromSeconds(60) };

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly FakeObserver _observer = new();
    private readonly FakeConnector _connector = new();
    private readonly ScriptedPolicy _policy = new();
    private readonly PlannerMetrics _metrics = new();

    public PlannerLoopTests()
    {
        _connector.Set(WorkerRole.Prefill, 1, 1, 1);
        _connector.Set(WorkerRole.Decode, 2, 2, 2);
    }

    [Fact]
    public async Task MetricsSourceUnreachable_HoldsTheSizeSaysSoAndDoesNotAskThePolicy()
    {
        _observer.Fail = new HttpRequestException("connection refused");
        _policy.Want(WorkerRole.Decode, 5);
        var loop = CreateLoop();

        var step = await loop.StepAsync(CancellationToken.None);

        Assert.Equal(DecisionReason.NoData, step.Reason);
        Assert.False(step.Acted);
        Assert.Contains("connection refused", step.Detail);
        Assert.Contains("holding prefill 1, decode 2", step.Detail);
        Assert.Empty(_connector.Calls);
        Assert.Equal(0, _policy.Calls);
        Assert.Equal(1, _metrics.ObservationFailures.Value);
        Assert.Equal(1, _metrics.Decisions.WithLabels("no_data").Value);
        Assert.Equal(2, _metrics.DesiredWorkers.WithLabels("decode").Value);

        // Back: the next interval decides and acts again.
        _observer.Fail = null;
        step = await loop.StepAsync(CancellationToken.None);
        Assert.True(step.Acted);
        Assert.Equal(5, Assert.Single(_connector.Calls).Workers[WorkerRole.Decode]);
    }

    [Fact]
    public async Task Advisory_LogsAndExportsTheDecisionButNeverAsksTheConnector()
    {
        _policy.Want(WorkerRole.Decode, 4);
        var loop = CreateLoop(Options with { Advisory = true });

        var step = await loop.StepAsync(CancellationToken.None);

        Assert.Equal(DecisionReason.Advisory, step.Reason);
        Assert.False(step.Acted);
        Assert.Contains("decode 2→4", step.Detail);
        Assert.Empty(_connector.Calls);
        Assert.Equal(4, _metrics.DesiredWorkers.WithLabels("decode").Value);
        Assert.Equal(2, _metrics.ActualWorkers.WithLabels("decode").Value);
        Assert.Equal(1, _metrics.Decisions.WithLabels("advisory").Value);
    }

    [Fact]
    public async Task WhileAChangeIsBeingCarriedOut_NoNewChangeIsAsked()
    {
        _policy.Want(WorkerRole.Prefill, 2);
        var loop = CreateLoop();
        var first = await loop.StepAsync(CancellationToken.None);
        Assert.True(first.Acted);
        Assert.Equal(DecisionReason.Throughput, first.Reason);
        Assert.Equal(1, _metrics.ScalingActions.WithLabels("prefill", "up").Value);

        // The worker exists but is not ready yet; the policy wants more still.
        _connector.Set(WorkerRole.Prefill, 2, 2, 1);
        _policy.Want(WorkerRole.Prefill, 3);
        _time.Advance(Options.Interval);
        var second = await loop.StepAsync(CancellationToken.None);

        Assert.Equal(DecisionReason.Pending, second.Reason);
        Assert.False(second.Acted);
        Assert.Contains("prefill 1/2/2 ready/actual/desired", second.Detail);
        Assert.Single(_connector.Calls);

        // Settled: the wish is carried out.
        _connector.Set(WorkerRole.Prefill, 2, 2, 2);
        _time.Advance(Options.Interval);
        var third = await loop.StepAsync(CancellationToken.None);
        Assert.True(third.Acted);
        Assert.Equal(3, _connector.Calls[^1].Workers[WorkerRole.Prefill]);
    }

    [Fact]
    public async Task AWorkerNeverReady_IsGivenUpAfterTheReadyTimeoutAndCounted()
    {
        _policy.Want(WorkerRole.Decode, 4);
        var loop = CreateLoop();
        await loop.StepAsync(CancellationToken.None);
        Assert.Equal(4, _connector.Calls[^1].Workers[WorkerRole.Decode]);

        // Two started, one became ready, one never does.
        _connector.Set(WorkerRole.Decode, 4, 4, 3);
        for (var t = Options.Interval; t < Options.ReadyTimeout; t += Options.Interval)
        {
            _time.Advance(Options.Interval);
            Assert.Equal(DecisionReason.Pending, (await loop.StepAsync(CancellationToken.None)).Reason);
        }

        Assert.Single(_connector.Calls);
        _time.Advance(Options.Interval);
        await loop.StepAsync(CancellationToken.None);

        Assert.Equal(2, _connector.Calls.Count);
        var giveUp = _connector.Calls[^1];
        Assert.Equal(3, giveUp.Workers[WorkerRole.Decode]);
        Assert.Equal(1, giveUp.Workers[WorkerRole.Prefill]);
        Assert.Contains("ready timeout", giveUp.Reason);
        Assert.Equal(1, _metrics.FailedStarts.WithLabels("decode").Value);
        Assert.Equal(0, _metrics.FailedStarts.WithLabels("prefill").Value);
    }

    [Fact]
    public async Task PolicyGivingUpOnUnreadyWorkers_IsCarriedOutWhileUnsettled_AndCounted()
    {
        _connector.Set(WorkerRole.Decode, 4, 4, 2);
        var loop = new PlannerLoop(_observer, new GivingUpPolicy(), _connector, Options, _metrics, _time, NullLogger.Instance);

        var step = await loop.StepAsync(CancellationToken.None);

        Assert.True(step.Acted);
        Assert.Equal(DecisionReason.ReadyTimeout, step.Reason);
        Assert.Equal(2, Assert.Single(_connector.Calls).Workers[WorkerRole.Decode]);
        Assert.Equal(2, _metrics.FailedStarts.WithLabels("decode").Value);
        Assert.Equal(1, _metrics.Decisions.WithLabels("ready_timeout").Value);
    }

    [Fact]
    public async Task Run_StepsOncePerIntervalOnTheGivenClock()
    {
        var loop = CreateLoop();
        using var stop = new CancellationTokenSource();
        var run = loop.RunAsync(stop.Token);

        for (var i = 1; i <= 3; i++)
        {
            var before = loop.Steps;
            _time.Advance(Options.Interval);
            await WaitForAsync(() => loop.Steps > before);
        }

        Assert.Equal(3, loop.Steps);
        Assert.Equal(DecisionReason.Hold, loop.LastStep!.Reason);
        Assert.Equal(3, _metrics.Decisions.WithLabels("hold").Value);
        await stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task ConnectorFailure_IsCountedAndNothingIsAsked()
    {
        _connector.FailGetPools = true;
        var loop = CreateLoop();

        var step = await loop.StepAsync(CancellationToken.None);

        Assert.Equal(DecisionReason.NoData, step.Reason);
        Assert.Equal(1, _metrics.ConnectorFailures.WithLabels("get_pools").Value);
        Assert.Equal(0, _policy.Calls);
    }

    [Fact]
    public async Task Metrics_AreExportedUnderThePlannerNames()
    {
        _policy.Want(WorkerRole.Decode, 3);
        var loop = CreateLoop();
        await loop.StepAsync(CancellationToken.None);

        using var text = new MemoryStream();
        await _metrics.Registry.CollectAndExportAsTextAsync(text);
        var exported = System.Text.Encoding.UTF8.GetString(text.ToArray());

        Assert.Contains("dynamo_planner_decisions_total{reason=\"throughput\"} 1", exported);
        Assert.Contains("dynamo_planner_desired_workers{pool=\"decode\"} 3", exported);
        Assert.Contains("dynamo_planner_predicted_request_rate 7", exported);
        Assert.Contains("dynamo_planner_observed_request_rate 2", exported);
    }

    private PlannerLoop CreateLoop(PlannerLoopOptions? options = null) =>
        new(_observer, _policy, _connector, options ?? Options, _metrics, _time, NullLogger.Instance);

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    private sealed class FakeObserver : ILoadObserver
    {
        public Exception? Fail { get; set; }

        public Task<LoadObservation> ObserveAsync(CancellationToken cancellationToken) => Fail is { } fail
            ? Task.FromException<LoadObservation>(fail)
            : Task.FromResult(new LoadObservation(DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(5), 10, 512, 64, 40, 12, 0.2, []));
    }

    private sealed class FakeConnector : IScalingConnector
    {
        private readonly SortedDictionary<WorkerRole, PoolState> _pools = [];

        public List<ScalingTargets> Calls { get; } = [];

        public bool FailGetPools { get; set; }

        public string Name => "fake";

        public void Set(WorkerRole role, int desired, int actual, int ready) => _pools[role] = new PoolState(role, desired, actual, ready);

        public Task<IReadOnlyList<PoolState>> GetPoolsAsync(CancellationToken cancellationToken) => FailGetPools
            ? Task.FromException<IReadOnlyList<PoolState>>(new InvalidOperationException("unreachable"))
            : Task.FromResult<IReadOnlyList<PoolState>>([.. _pools.Values]);

        public Task SetTargetsAsync(ScalingTargets targets, CancellationToken cancellationToken)
        {
            Calls.Add(targets);
            foreach (var (role, count) in targets.Workers)
            {
                _pools[role] = _pools[role] with { Desired = count };
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>As the SLA planner's guards do after the ready timeout: the target drops to the ready count.</summary>
    private sealed class GivingUpPolicy : IScalingPolicy
    {
        public PlannerDecision Decide(PlannerInput input) => new(
            input.Pools.ToDictionary(p => p.Role, p => Math.Min(p.Desired, p.Ready)), DecisionReason.ReadyTimeout, "gave up", 0, 0, 0);
    }

    /// <summary>Wants the counts it is told (the rest as they are), reason throughput; hold when that changes nothing.</summary>
    private sealed class ScriptedPolicy : IScalingPolicy
    {
        private readonly Dictionary<WorkerRole, int> _wanted = [];

        public int Calls { get; private set; }

        public void Want(WorkerRole role, int count) => _wanted[role] = count;

        public PlannerDecision Decide(PlannerInput input)
        {
            Calls++;
            var targets = input.Pools.ToDictionary(p => p.Role, p => _wanted.TryGetValue(p.Role, out var n) ? n : p.Desired);
            var changes = input.Pools.Any(p => targets[p.Role] != p.Desired);
            return new PlannerDecision(targets, changes ? DecisionReason.Throughput : DecisionReason.Hold, "scripted", 7, 512, 64);
        }
    }
}
