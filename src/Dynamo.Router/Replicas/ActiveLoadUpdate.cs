namespace Dynamo.Router.Replicas;

/// <summary>What changed about one request's load.</summary>
public enum ActiveLoadChange
{
    /// <summary>Routed: its prefill tokens and blocks now count on the worker.</summary>
    Added,

    /// <summary>First token: its prefill tokens no longer count.</summary>
    Prefilled,

    /// <summary>Finished, failed or cancelled: nothing of it counts.</summary>
    Completed,
}

/// <summary>
/// One router replica telling the others about a request it routed (design: several router replicas share active
/// load, not the index). Plain fields, so any event-plane serializer carries it.
/// </summary>
public sealed record ActiveLoadUpdate(string ReplicaId, string RequestId, string WorkerId, ActiveLoadChange Change, int PrefillTokens, int Blocks);
