namespace Dynamo.Router;

/// <summary>Options bound from <c>Dynamo:Router</c> (see <see cref="RouterConfiguration"/>); defaults follow NVIDIA Dynamo's router.</summary>
public sealed class RouterOptions
{
    public const string SectionName = "Dynamo:Router";

    /// <summary>Selection policy. Default <see cref="RouterMode.Kv"/>, the KV-cache-aware router.</summary>
    public RouterMode Mode { get; set; } = RouterMode.Kv;

    /// <summary>Seed for the random choices (random policy, tie-breaks, temperature sampling); null seeds from the clock.</summary>
    public int? Seed { get; set; }

    /// <summary>Active-load entries older than this are dropped (a lost completion must not pin load forever). Default 10 min.</summary>
    public TimeSpan ActiveRequestTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// kv: weight of the prefill term of the cost against the decode term. Default 1.0. Larger values chase cache hits
    /// harder (better TTFT on shared prefixes); smaller ones balance decode load more (better ITL).
    /// </summary>
    public double PrefillLoadScale { get; set; } = 1.0;

    /// <summary>kv: softmax temperature over normalized costs; 0 (default) always takes the cheapest worker.</summary>
    public double Temperature { get; set; }

    /// <summary>
    /// kv: build the prefix index from the workers' KV events (default true). False is approximate mode: the router
    /// indexes its own decisions for <see cref="ApproximateTtl"/>, for engines that publish no events.
    /// </summary>
    public bool UseKvEvents { get; set; } = true;

    /// <summary>kv, approximate mode: how long a routed prompt counts as cached on its worker. Default 120 s.</summary>
    public TimeSpan ApproximateTtl { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>kv: share active load with other router replicas over the event plane. Default true.</summary>
    public bool ReplicaSync { get; set; } = true;

    public static bool TryParseMode(string value, out RouterMode mode)
    {
        ArgumentNullException.ThrowIfNull(value);
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

    /// <summary>Every bad setting, each naming its key and value; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        const string S = SectionName;
        if (!Enum.IsDefined(Mode))
        {
            errors.Add($"{S}:Mode = '{Mode}': expected round-robin, random, least-loaded or kv.");
        }

        if (ActiveRequestTtl <= TimeSpan.Zero)
        {
            errors.Add($"{S}:ActiveRequestTtl = '{ActiveRequestTtl}': expected a positive time span such as 00:10:00.");
        }

        if (!double.IsFinite(PrefillLoadScale) || PrefillLoadScale < 0)
        {
            errors.Add($"{S}:PrefillLoadScale = '{PrefillLoadScale}': must be a finite number >= 0.");
        }

        if (!double.IsFinite(Temperature) || Temperature < 0)
        {
            errors.Add($"{S}:Temperature = '{Temperature}': must be a finite number >= 0.");
        }

        if (ApproximateTtl <= TimeSpan.Zero)
        {
            errors.Add($"{S}:ApproximateTtl = '{ApproximateTtl}': expected a positive time span such as 00:02:00.");
        }

        return errors;
    }
}
