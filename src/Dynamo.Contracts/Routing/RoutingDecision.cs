using Dynamo.Contracts.Discovery;

namespace Dynamo.Contracts.Routing;

/// <summary>The worker chosen for a request, and how many of its prompt blocks that worker already holds.</summary>
public sealed record RoutingDecision(string RequestId, WorkerInstance Worker, int OverlapBlocks, int PromptTokens)
{
    /// <summary>Name of the policy that decided, for traces and logs.</summary>
    public string Policy { get; init; } = "";

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
