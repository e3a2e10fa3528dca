namespace Dynamo.Contracts.Routing;

/// <summary>What the router sees of a request: its id, model and prompt tokens.</summary>
public sealed record RoutingRequest(string RequestId, string Model, ReadOnlyMemory<int> PromptTokens, int MaxTokens)
{
    /// <summary>The client's <c>nvext</c> hints (session, expected output length, priority); null when it sent none.</summary>
    public RequestHints? Hints { get; init; }
}
