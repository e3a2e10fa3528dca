namespace Dynamo.Router;

/// <summary>How the gateway picks a worker. <see cref="Kv"/> is the KV-cache-aware router (design: router cost).</summary>
public enum RouterMode
{
    RoundRobin,
    Random,
    LeastLoaded,
    Kv,
}
