using System.Text.Json.Nodes;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Replay;
using Dynamo.Bench.Workload;
using Dynamo.Contracts;
using Dynamo.Engine.Mocker.Profiles;
using Dynamo.Planner;

namespace Dynamo.Bench.Tests;

/// <summary>
/// Replay with a scaling policy in virtual time: the pools follow what the policy asks, added workers serve only after
/// the start-up delay, removed ones drain without losing a request, and GPU-hours add up.
/// </summary>
public sealed class ReplayPlannerTests
{
    /// <summary>Asks for fixed sizes from given virtual times on; holds otherwise. Records what it was shown.</summary>
    private sealed class ScriptedPolicy(params (double AtS, Dictionary<WorkerRole, int> Targets)[] script) : IScalingPolicy
    {
        public List<PlannerInput> Inputs { get; } = [];

        public PlannerDecision Decide(PlannerInput input)
        {
            Inputs.Add(input);
            double now = (input.Now - ClusterSimulator.Epoch).TotalSeconds;
            var current = input.Pools.ToDictionary(p => p.Role, p => p.Desired);
            var due = script.LastOrDefault(s => s.AtS <= now + 1e-9);
            if (due.Targets is null || due.Targets.All(t => current.GetValueOrDefault(t.Key) == t.Value))
            {
                return new PlannerDecision(current, DecisionReason.Hold, "scripted: hold", input.Observation.RequestRate, input.Observation.MeanInputTokens, input.Observation.MeanOutputTokens);
            }

            return new PlannerDecision(due.Targets, DecisionReason.Throughput, $"scripted: step at {due.AtS} s", input.Observation.RequestRate, 0, 0);
        }
    }

    /// <summary>Scales one worker up when the observed queue passes a threshold, one down when it is empty: a stateful, load-driven policy.</summary>
    private sealed class QueuePolicy : IScalingPolicy
    {
        public PlannerDecision Decide(PlannerInput input)
        {
            var pool = input.Pools.Single(p => p.Role == WorkerRole.Aggregated);
            int waiting = input.Observation.Workers.Sum(w => w.Load.WaitingRequests + w.Load.RunningRequests);
            int target = !pool.Settled ? pool.Desired : waiting > 8 * Math.Max(1, pool.Ready) ? pool.Desired + 1 : waiting == 0 && pool.Desired > 1 ? pool.Desired - 1 : pool.Desired;
            var reason = !pool.Settled ? DecisionReason.Pending : target == pool.Desired ? DecisionReason.Hold : DecisionReason.Load;
            return new PlannerDecision(new Dictionary<WorkerRole, int> { [WorkerRole.Aggregated] = target }, reason, $"{waiting} queued", input.Observation.RequestRate, 0, 0);
        }
    }

    private static Dictionary<WorkerRole, int> Agg(int n) => new() { [WorkerRole.Aggregated] = n };

    private static ReplayOptions AggOptions(IScalingPolicy policy, int workers = 1, double startup = 20, string profile = "h100-8b", string router = "least-loaded") => new()
    {
        Workers = workers,
        Router = router,
        Profile = PerformanceProfiles.Get(profile),
        Seed = 7,
        Planner = new ReplayPlanner { Policy = policy, Name = "scripted", IntervalS = 5, StartupDelayS = startup },
    };

    private static List<BenchRequest> Steady(double rate, double seconds, int isl = 200, int osl = 50) =>
        [.. WorkloadBuilder.Synthetic(LengthDistribution.Fixed(isl), LengthDistribution.Fixed(osl), ArrivalProcess.Constant, rate, (int)(rate * seconds), 1)];

    [Fact]
    public async Task ScalingTimeline_FollowsTheScriptedPolicy()
    {
        var policy = new ScriptedPolicy((10, Agg(3)), (40, Agg(1)));
        var run = await new ClusterSimulator(AggOptions(policy)).RunAsync(Steady(rate: 4, seconds: 80));

        Assert.Equal(
            [(0.0, 1, "initial"), (10.0, 3, "throughput"), (40.0, 1, "throughput")],
            run.Scaling.Select(c => (c.TimeS, c.Workers[WorkerRole.Aggregated], c.Reason)));
        Assert.Equal(3, run.Workers.Count);
        Assert.All(run.Results, r => Assert.True(r.Succeeded));

        // The policy saw the pools as they were: 3 asked, 1 ready while the two new ones started.
        PlannerInput at20 = policy.Inputs.Single(i => i.Now == ClusterSimulator.Epoch.AddSeconds(20));
        Assert.Equal(new PoolState(WorkerRole.Aggregated, 3, 3, 1), Assert.Single(at20.Pools));
        Assert.Equal(20, at20.Observation.Requests); // 4 req/s over the 5 s interval
        Assert.Single(at20.Observation.Workers);
        PlannerInput at35 = policy.Inputs.Single(i => i.Now == ClusterSimulator.Epoch.AddSeconds(35));
        Assert.Equal(new PoolState(WorkerRole.Aggregated, 3, 3, 3), Assert.Single(at35.Pools));
        Assert.Equal(3, at35.Observation.Workers.Count);
    }

    [Fact]
    public async Task AddedWorkers_ServeOnlyAfterTheStartupDelay()
    {
        var policy = new ScriptedPolicy((10, Agg(3)));
        var run = await new ClusterSimulator(AggOptions(policy, startup: 25)).RunAsync(Steady(rate: 6, seconds: 60));

        var added = run.Workers.Where(w => w.StartS > 0).ToList();
        Assert.Equal(2, added.Count);
        Assert.All(added, w =>
        {
            Assert.Equal(10, w.StartS);
            Assert.Equal(35, w.ReadyS);
            var served = run.Results.Where(r => r.Worker == w.Id).ToList();
            Assert.NotEmpty(served);
            Assert.All(served, r => Assert.True(r.StartS >= 35, $"{w.Id} got request {r.Index} at {r.StartS} s, before it was ready"));
        });
        Assert.All(run.PoolSamples.Where(p => p.TimeS is >= 10 and < 35), p => Assert.Equal((1, 2), (p.Ready, p.Starting)));
        Assert.All(run.PoolSamples.Where(p => p.TimeS is >= 35 and <= 59), p => Assert.Equal((3, 0), (p.Ready, p.Starting)));
    }

    [Fact]
    public async Task ScaleDown_UnderLoad_LosesNoRequest_AndDrainedWorkersFinishTheirsFirst()
    {
        // Disaggregated, long outputs so every decode worker holds streams when the pools shrink at 30 s.
        var options = new ReplayOptions
        {
            Mode = "disagg",
            PrefillWorkers = 3,
            DecodeWorkers = 3,
            Router = "least-loaded",
            Profile = PerformanceProfiles.Get("h100-8b"),
            MinRemotePrefillTokens = 512,
            Seed = 2,
            Planner = new ReplayPlanner
            {
                Policy = new ScriptedPolicy((30, new() { [WorkerRole.Prefill] = 1, [WorkerRole.Decode] = 1 })),
                IntervalS = 5,
                StartupDelayS = 60,
            },
        };
        var workload = Steady(rate: 8, seconds: 60, isl: 2000, osl: 400);
        var run = await new ClusterSimulator(options).RunAsync(workload);

        Assert.Equal(workload.Count, run.Results.Count);
        Assert.All(run.Results, r =>
        {
            Assert.True(r.Succeeded, r.ErrorMessage);
            Assert.Equal(400, r.OutputTokens);
        });
        var drained = run.Workers.Where(w => w.StopS is not null).ToList();
        Assert.Equal(4, drained.Count);
        foreach (var w in drained)
        {
            var served = run.Results.Where(r => r.Worker is { } id && id.Split('>').Contains(w.Id)).ToList();
            Assert.NotEmpty(served);
            Assert.All(served, r => Assert.True(r.StartS <= 30, $"{w.Id} got request {r.Index} at {r.StartS} s after it left routing"));
            if (w.Role == "decode")
            {
                // Stopped at its last stream's end, not before, and not at the moment of the decision.
                Assert.Equal(served.Max(r => r.StartS + (r.E2eMs / 1000)), w.StopS!.Value, 6);
                Assert.True(w.StopS > 30);
            }
        }

        Assert.All(run.PoolSamples.Where(p => p.TimeS > 30 && p.Role == WorkerRole.Decode), p => Assert.Equal(1, p.Ready));
    }

    [Fact]
    public async Task GpuHours_AreGpusTimesHoursOfEveryWorker_StartingOnesIncluded()
    {
        // h100-70b: 4 GPUs a worker. One worker serves throughout; a second is asked for at 10 s and cancelled at 20 s,
        // before its 60 s start-up ends: it costs 10 s of 4 GPUs though it never served.
        var policy = new ScriptedPolicy((10, Agg(2)), (20, Agg(1)));
        var workload = new List<BenchRequest> { new(0, TimeSpan.Zero, 100, 2, [1]), new(1, TimeSpan.FromSeconds(100), 100, 2, [2]) };
        var run = await new ClusterSimulator(AggOptions(policy, startup: 60, profile: "h100-70b")).RunAsync(workload);

        Assert.InRange(run.EndS, 100, 101);
        Assert.Equal(4 * (run.EndS + 10) / 3600, run.GpuHours, 12);
        Assert.Single(run.Workers); // the cancelled worker never served

        var fixedRun = await new ClusterSimulator(AggOptions(policy, workers: 3, profile: "h100-70b") with { Planner = null }).RunAsync(workload);
        Assert.Equal(3 * 4 * fixedRun.EndS / 3600, fixedRun.GpuHours, 12);
    }

    [Fact]
    public async Task SameSeed_SameJson_WithALoadDrivenPolicy()
    {
        static async Task<JsonObject> Once(string dir)
        {
            var workload = Steady(rate: 3, seconds: 40, isl: 1500, osl: 60)
                .Concat(Steady(rate: 30, seconds: 20, isl: 1500, osl: 60).Select(r => r with { Index = r.Index + 120, Arrival = r.Arrival + TimeSpan.FromSeconds(40) }))
                .Concat(Steady(rate: 3, seconds: 60, isl: 1500, osl: 60).Select(r => r with { Index = r.Index + 720, Arrival = r.Arrival + TimeSpan.FromSeconds(60) }))
                .ToList();
            var options = AggOptions(new QueuePolicy(), startup: 10, router: "random") with { Slo = new SloTargets { TtftMs = 300, ItlMs = 30 } };
            string json = Path.Combine(dir, "summary.json");
            await ReplayRunner.RunAsync(options, workload, workload.Count, console: null, outDir: null, jsonPath: json);
            var node = JsonNode.Parse(await File.ReadAllTextAsync(json))!.AsObject();
            foreach (string wallClock in new[] { "wall_s", "router_decision_us", "router_decision_timing_control_us", "router_decision_us_by_prompt_tokens" })
            {
                node.Remove(wallClock);
            }

            return node;
        }

        string dir = Directory.CreateTempSubdirectory("dynamo-replay-planner-").FullName;
        try
        {
            var first = await Once(dir);
            var second = await Once(dir);
            Assert.Equal(first.ToJsonString(), second.ToJsonString());
            Assert.True(first["scaling"]!.AsArray().Count > 2, $"the burst should make the policy scale: {first["scaling"]}");
            Assert.All(first["scaling"]!.AsArray(), e => Assert.NotNull(e!["workers"]));
            Assert.InRange((double)first["sla_attainment"]!, 0, 1);
            Assert.True((double)first["gpu_hours"]! > 0);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task AdvisoryDecisions_AreRecordedButNotCarriedOut()
    {
        var advisory = new AdvisoryPolicy();
        var run = await new ClusterSimulator(AggOptions(advisory)).RunAsync(Steady(rate: 2, seconds: 30));
        Assert.Single(run.Scaling);
        Assert.NotEmpty(run.Decisions);
        Assert.All(run.Decisions, d => Assert.False(d.Carried));
        Assert.Single(run.Workers);
    }

    [Fact]
    public async Task PolicyAskingForNoRoutingWorker_IsRefusedNamingThePool()
    {
        var policy = new ScriptedPolicy((10, Agg(0)));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => new ClusterSimulator(AggOptions(policy)).RunAsync(Steady(rate: 2, seconds: 30)));
        Assert.Contains("0 aggregated workers", error.Message);
    }

    [Fact]
    public void SlaAttainment_CountsRequestsMeetingBothTargets_FailuresAsMisses()
    {
        RequestResult R(double? ttft, double? itl, string? error = null) => new() { Index = 0, StartS = 0, InputTokens = 1, TtftMs = ttft, ItlMs = itl, Error = error };
        var results = new[] { R(100, 10), R(600, 10), R(100, 60), R(100, null), R(null, null, ErrorKinds.Rejected) };
        Assert.Equal(2 / 5.0, SlaAttainment.Of(results, 500, 50));
        Assert.Equal(3 / 5.0, SlaAttainment.Of(results, 500, null));
        Assert.Null(SlaAttainment.Of(results, null, null));
    }

    private sealed class AdvisoryPolicy : IScalingPolicy
    {
        public PlannerDecision Decide(PlannerInput input) =>
            new(input.Pools.ToDictionary(p => p.Role, p => p.Desired + 2), DecisionReason.Advisory, "advisory: would add 2", 0, 0, 0);
    }
}
