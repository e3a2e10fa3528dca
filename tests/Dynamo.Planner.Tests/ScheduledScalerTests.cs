using Dynamo.Contracts;
using static Dynamo.Planner.Tests.PlannerFixture;

namespace Dynamo.Planner.Tests;

public class ScheduledScalerTests
{
    private static PlannerOptions Scheduled(string schedule, string mode = "disagg", Action<PlannerOptions>? change = null) =>
        Options(o =>
        {
            o.Policy = "schedule";
            o.Mode = mode;
            o.Schedule = schedule;
            change?.Invoke(o);
        });

    [Fact]
    public void Pools_FollowTheTimetable_FromTheFirstDecision_WhateverTheLoad()
    {
        var scaler = ScalingPolicies.Create(Scheduled("0:1/2, 20:3/4, 40:1/1"), SyntheticProfiles.Linear());
        Assert.IsType<ScheduledScaler>(scaler);
        // The load (1000 req/s) is ignored: the timetable alone sizes the pools. Time counts from the first call (100 s).
        var (_, at15, first) = Run(scaler, Pools(5, 5), 100, 115, rate: 1000);
        Assert.Equal(DecisionReason.Scheduled, first[0].Reason);
        Assert.Equal((1, 2), (at15.Count(WorkerRole.Prefill), at15.Count(WorkerRole.Decode)));
        Assert.Contains("schedule: entry at 0 s (0 s since start) wants prefill 1, decode 2", first[0].Detail);

        var (_, at35, second) = Run(scaler, at15, 120, 135, rate: 0);
        Assert.Equal(DecisionReason.Scheduled, second[0].Reason);
        Assert.All(second.Skip(1), d => Assert.Equal(DecisionReason.Hold, d.Reason));
        Assert.Equal((3, 4), (at35.Count(WorkerRole.Prefill), at35.Count(WorkerRole.Decode)));

        // Scale-down happens when the timetable says: no stabilization window.
        var (last, at40, _) = Run(scaler, at35, 140, 140, rate: 0);
        Assert.Equal(DecisionReason.Scheduled, last.Reason);
        Assert.Equal((1, 1), (at40.Count(WorkerRole.Prefill), at40.Count(WorkerRole.Decode)));
    }

    [Fact]
    public void Aggregated_Timetable_IsClampedToTheBudget_AndWaitsForAPendingChange()
    {
        var scaler = ScalingPolicies.Create(Scheduled("0:2,10:12", "agg", o => o.GpuBudget = 8), SyntheticProfiles.Linear());
        var (_, pools, _) = Run(scaler, [new PoolState(WorkerRole.Aggregated, 1, 1, 1)], 0, 5, rate: 1);
        Assert.Equal(2, pools.Single().Desired);

        PlannerDecision clamped = scaler.Decide(new PlannerInput(Start.AddSeconds(10), Observation(Start.AddSeconds(10), 1), pools));
        Assert.Equal(DecisionReason.Clamped, clamped.Reason);
        Assert.Equal(8, clamped.Targets[WorkerRole.Aggregated]);
        Assert.Contains("budget 8", clamped.Detail);

        PoolState[] starting = [new PoolState(WorkerRole.Aggregated, 8, 8, 2)];
        Assert.Equal(DecisionReason.Pending, scaler.Decide(new PlannerInput(Start.AddSeconds(15), Observation(Start.AddSeconds(15), 1), starting)).Reason);
    }

    [Theory]
    [InlineData("", "disagg", "Dynamo:Planner:Schedule is empty: Policy schedule needs a timetable of T:P/D")]
    [InlineData("0:2", "disagg", "Dynamo:Planner:Schedule entry '0:2': expected T:P/D (seconds from the start : prefill/decode workers)")]
    [InlineData("0:1/x", "disagg", "Dynamo:Planner:Schedule entry '0:1/x': 'x' is not a worker count (a whole number 0-1024)")]
    [InlineData("5:2", "agg", "Dynamo:Planner:Schedule: the first entry is at 5 s; start the timetable at 0")]
    [InlineData("0:2,60:3,30:4", "agg", "Dynamo:Planner:Schedule entry '30:4': times must increase (the entry before is at 60 s).")]
    [InlineData("abc", "agg", "Dynamo:Planner:Schedule entry 'abc': expected T:N (seconds from the start : aggregated workers)")]
    public void BadTimetable_IsRefused_NamingTheEntryAndTheForm(string schedule, string mode, string message)
    {
        IReadOnlyList<string> problems = Scheduled(schedule, mode).Problems();
        Assert.Contains(problems, p => p.StartsWith(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Timetable_WithAnotherPolicy_IsRefused()
    {
        IReadOnlyList<string> problems = Options(o => o.Schedule = "0:1/1").Problems();
        Assert.Contains("Dynamo:Planner:Schedule = '0:1/1': is read only by Policy schedule; remove it or set Policy: schedule.", problems);
    }
}
