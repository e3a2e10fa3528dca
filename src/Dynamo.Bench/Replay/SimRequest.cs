using Dynamo.Bench.Workload;
using Dynamo.Contracts.Routing;

namespace Dynamo.Bench.Replay;

/// <summary>One request in flight in the simulation.</summary>
internal sealed class SimRequest(BenchRequest request, bool measured)
{
    public BenchRequest Request { get; } = request;

    public bool Measured { get; } = measured;

    public string Id => "r" + Request.Index;

    public double ArrivalS => Request.Arrival.TotalSeconds;

    public int[]? Prompt { get; set; }

    public RoutingDecision? Decision { get; set; }

    public IReadOnlyList<SimWorker>? DecisionPool { get; set; }

    public RoutingDecision? PrefillDecision { get; set; }

    public SimWorker? Worker { get; set; }

    public SimWorker? PrefillWorker { get; set; }

    public bool RemotePrefill { get; set; }

    public double? FirstTokenS { get; set; }

    public double LastTokenS { get; set; }

    /// <summary>Gaps between consecutive output tokens, ms (<see cref="Metrics.RequestResult.TokenGapsMs"/>).</summary>
    public List<float> TokenGapsMs { get; } = [];

    public int OutputTokens { get; set; }

    public int CachedTokens { get; set; }

    public int OracleCachedTokens { get; set; }
}
