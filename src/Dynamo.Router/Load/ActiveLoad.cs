namespace Dynamo.Router.Load;

/// <summary>
/// What the router believes one worker is doing right now, from its own decisions: requests in flight, the uncached
/// prompt tokens of those not yet past their first token, the prompt blocks of all, and how many have not had their
/// first token yet (<see cref="Prefilling"/>; the others are decoding).
/// </summary>
public readonly record struct ActiveLoad(int Requests, int PrefillTokens, int Blocks)
{
    /// <summary>Requests routed here that have not had their first token yet.</summary>
    public int Prefilling { get; init; }
}
