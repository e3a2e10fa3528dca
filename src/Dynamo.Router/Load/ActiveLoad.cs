namespace Dynamo.Router.Load;

/// <summary>What the router believes one worker is doing right now, from its own decisions.</summary>
public readonly record struct ActiveLoad(int Requests, int PrefillTokens, int Blocks);
