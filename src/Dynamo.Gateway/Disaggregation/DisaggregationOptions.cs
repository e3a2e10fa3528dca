namespace Dynamo.Gateway.Disaggregation;

/// <summary>
/// When the gateway sends a prompt to the prefill pool instead of letting the decode worker compute it
/// (<c>Dynamo:Gateway:Disaggregation</c>). Remote prefill pays a round trip and a KV transfer; it wins only when
/// the prompt's uncached part is long, so short or mostly cached prompts are prefilled on the decode worker.
/// </summary>
public sealed class DisaggregationOptions
{
    /// <summary>Prefill remotely only when at least this many prompt tokens are not cached on the decode worker. Default 2048.</summary>
    public int MinRemotePrefillTokens { get; set; } = 2048;

    /// <summary>Prefill remotely only when at least this fraction of the prompt is not cached on the decode worker. Default 0.7.</summary>
    public double MinUncachedFraction { get; set; } = 0.7;

    /// <summary>Remote prefills one gateway keeps in flight per prefill worker; beyond it the pool counts as busy and prompts are prefilled locally. Default 8.</summary>
    public int MaxInflightPrefillsPerWorker { get; set; } = 8;

    /// <summary>How long a prefill worker may take to answer before the decode worker prefills the prompt itself. Default 60 s.</summary>
    public TimeSpan PrefillTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
