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

    /// <summary>What session affinity did (<c>nvext.session_id</c>); <see cref="SessionRouting.None"/> without a session.</summary>
    public SessionRouting Session { get; init; }
}

/// <summary>Session affinity's part in a decision.</summary>
public enum SessionRouting
{
    /// <summary>The request named no session.</summary>
    None,

    /// <summary>A session the router did not know (first turn, or forgotten after its TTL or beyond the map's bound): chosen normally, now remembered.</summary>
    New,

    /// <summary>Sent to the worker holding the session.</summary>
    Hit,

    /// <summary>The session's worker was gone or overloaded: chosen normally, and the session moved to the new worker.</summary>
    Moved,
}
