using Dynamo.Contracts.Discovery;

namespace Dynamo.Contracts.Routing;

/// <summary>The worker chosen for a request, and how many of its prompt blocks that worker already holds.</summary>
public sealed record RoutingDecision(string RequestId, WorkerInstance Worker, int OverlapBlocks, int PromptTokens)
{
    /// <summary>Name of the policy that decided, for traces and logs.</summary>
    public string Policy { get; init; } = "";

    /// <summary>The router's predicted time to first token on the chosen worker, ms (the KV router's predicted cost; null otherwise).</summary>
    public double? PredictedTtftMs { get; init; }

    /// <summary>The predicted time to first token on the best other candidate, ms (null with one candidate or no prediction).</summary>
    public double? AlternativeTtftMs { get; init; }

    /// <summary>True when the balance thresholds moved the request off the cheapest worker (hot-spot control).</summary>
    public bool Rebalanced { get; init; }
}
