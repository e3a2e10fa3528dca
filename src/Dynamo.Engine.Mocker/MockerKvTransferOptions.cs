namespace Dynamo.Engine.Mocker;

/// <summary>
/// Disaggregated serving on the mocker (configuration section <c>Dynamo:Mocker:KvTransfer</c>): how long a decode
/// request waits for its prompt's KV, <c>LatencyMs + uncached prompt tokens × KvBytesPerToken ÷ Bandwidth</c>, and
/// how long a prefill keeps its blocks for a decode that never reads them. Defaults are those of
/// <see cref="Profiles.PerformanceProfile"/> between two workers on one node.
/// </summary>
public sealed class MockerKvTransferOptions
{
    /// <summary>
    /// Bytes per second moved from the prefill worker to the decode worker. Default 360e9: NVLink's 450 GB/s each
    /// way at 80% efficiency (a profile sets its own, see <see cref="Profiles.RooflineProfile"/>).
    /// </summary>
    public double Bandwidth { get; set; } = 360e9;

    /// <summary>Fixed cost of one transfer (metadata, descriptor exchange, the unpin notification), ms. Default 1.</summary>
    public double LatencyMs { get; set; } = 1.0;

    /// <summary>How long a prefill keeps a prompt's blocks for a decode worker that never reads them. Default 30 s (the engine's).</summary>
    public TimeSpan PinTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most of the KV pool pins for decode workers may hold at once, 0..1 (the engine's <c>Dynamo:KvTransfer:MaxPinnedFraction</c>). Default 0.5.</summary>
    public double MaxPinnedFraction { get; set; } = 0.5;

    internal string? FirstError()
    {
        const string P = "Dynamo:Mocker:KvTransfer:";
        if (!double.IsFinite(Bandwidth) || Bandwidth <= 0)
        {
            return $"{P}Bandwidth must be a finite number of bytes per second > 0 (got {Bandwidth}).";
        }

        if (!double.IsFinite(LatencyMs) || LatencyMs < 0)
        {
            return $"{P}LatencyMs must be a finite number >= 0 (got {LatencyMs}).";
        }

        if (!double.IsFinite(MaxPinnedFraction) || MaxPinnedFraction is < 0 or > 1)
        {
            return $"{P}MaxPinnedFraction must be between 0 and 1 (got {MaxPinnedFraction}).";
        }

        return PinTimeout <= TimeSpan.Zero ? $"{P}PinTimeout must be positive (got {PinTimeout})." : null;
    }
}
