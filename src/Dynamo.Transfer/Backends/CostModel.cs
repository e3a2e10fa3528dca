namespace Dynamo.Transfer.Backends;

/// <summary>
/// Latency plus bytes over bandwidth, starting from a backend's defaults and following what this agent measures:
/// small transfers (≤ 64 KiB) update the latency, large ones (≥ 1 MiB) the bandwidth, each as a moving average.
/// </summary>
internal sealed class CostModel(double defaultBytesPerSecond, TimeSpan defaultLatency)
{
    private const double Alpha = 0.2;
    private readonly Lock _gate = new();
    private double _bytesPerSecond = defaultBytesPerSecond;
    private double _latencySeconds = defaultLatency.TotalSeconds;
    private bool _measuredBandwidth;
    private bool _measuredLatency;

    public TransferCostEstimate Estimate(TransferBackendKind kind, long bytes, int segments)
    {
        lock (_gate)
        {
            // Segments after the first cost a fraction of the round trip: backends pipeline them.
            var seconds = _latencySeconds * (1 + (0.1 * Math.Max(0, segments - 1))) + (bytes / _bytesPerSecond);
            var measured = _measuredBandwidth && _measuredLatency;
            return new TransferCostEstimate(TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(seconds * (measured ? 0.25 : 0.5)), kind, measured);
        }
    }

    public void Observe(long bytes, TimeSpan elapsed)
    {
        var seconds = elapsed.TotalSeconds;
        if (seconds <= 0)
        {
            return;
        }

        lock (_gate)
        {
            if (bytes <= 64 * 1024)
            {
                _latencySeconds = _measuredLatency ? (Alpha * seconds) + ((1 - Alpha) * _latencySeconds) : seconds;
                _measuredLatency = true;
            }
            else if (bytes >= 1024 * 1024)
            {
                var rate = bytes / Math.Max(seconds - _latencySeconds, seconds * 0.5);
                _bytesPerSecond = _measuredBandwidth ? (Alpha * rate) + ((1 - Alpha) * _bytesPerSecond) : rate;
                _measuredBandwidth = true;
            }
        }
    }
}
