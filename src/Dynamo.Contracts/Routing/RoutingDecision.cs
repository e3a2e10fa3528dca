using Dynamo.Contracts.Discovery;

namespace Dynamo.Contracts.Routing;

/// <summary>The worker chosen for a request, and how many of its prompt blocks that worker already holds.</summary>
public sealed record RoutingDecision(string RequestId, WorkerInstance Worker, int OverlapBlocks, int PromptTokens)
{
    /// <summary>Name of the policy that decided, for traces and logs.</summary>
    public string Policy { get; init; } = "";
}
