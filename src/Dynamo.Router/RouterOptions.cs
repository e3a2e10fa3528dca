namespace Dynamo.Router;

/// <summary>Options bound from <c>Dynamo:Router</c>.</summary>
public sealed class RouterOptions
{
    public const string SectionName = "Dynamo:Router";

    /// <summary>Selection policy. Default: least-loaded until the KV router lands.</summary>
    public RouterMode Mode { get; set; } = RouterMode.LeastLoaded;

    /// <summary>Seed for the random choices (random policy and tie-breaks); null seeds from the clock.</summary>
    public int? Seed { get; set; }

    /// <summary>Active-load entries older than this are dropped (a lost completion must not pin load forever).</summary>
    public TimeSpan ActiveRequestTtl { get; set; } = TimeSpan.FromMinutes(10);

    public static bool TryParseMode(string value, out RouterMode mode)
    {
        switch (value.Trim().ToLowerInvariant())
        {
            case "round-robin" or "roundrobin" or "rr":
                mode = RouterMode.RoundRobin;
                return true;
            case "random":
                mode = RouterMode.Random;
                return true;
            case "least-loaded" or "leastloaded":
                mode = RouterMode.LeastLoaded;
                return true;
            case "kv":
                mode = RouterMode.Kv;
                return true;
            default:
                mode = default;
                return false;
        }
    }
}
