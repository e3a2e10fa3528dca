namespace Dynamo.Engine.Transfer;

/// <summary>Disaggregated serving settings of the engine (configuration section <c>Dynamo:KvTransfer</c>).</summary>
public sealed class KvTransferOptions
{
    /// <summary>How long a prefill keeps a prompt's blocks for a decode worker that never reads them. Default 30 s.</summary>
    public TimeSpan PinTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a decode worker's read of the prompt's blocks may take before it computes the prompt itself. Default 10 s.</summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Most of the KV pool that pins for decode workers may hold at once, 0..1. A prefill that would pin beyond it
    /// returns its first token without a transfer (the gateway then lets the decode worker compute the prompt), so
    /// unread or abandoned transfers cannot starve the prefill worker of blocks. Default 0.5.
    /// </summary>
    public double MaxPinnedFraction { get; set; } = 0.5;

    /// <summary>
    /// Read a remote prefill over UCX when UCX is the backend that reaches the prefill worker. UCX reads are one-sided:
    /// the prefill worker cannot check the transfer token, the blocks or the prompt digest, so a forged descriptor
    /// could read any block of its pool into this worker's prefix cache. Default false: such reads are refused here
    /// and the decode worker computes the prompt (keep <c>tcp</c> before <c>ucx</c> in <c>Dynamo:Transfer:Backends</c>,
    /// the default). Set it on an RDMA fabric where only authenticated gateways can send <c>kv_transfer_params</c>.
    /// </summary>
    public bool TrustUcxReads { get; set; }

    /// <summary>Throws with the key and value of the first bad setting.</summary>
    public void Validate()
    {
        if (PinTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Dynamo:KvTransfer:PinTimeout = '{PinTimeout}' must be positive", nameof(PinTimeout));
        }

        if (!double.IsFinite(MaxPinnedFraction) || MaxPinnedFraction is < 0 or > 1)
        {
            throw new ArgumentException($"Dynamo:KvTransfer:MaxPinnedFraction = '{MaxPinnedFraction}' must be between 0 and 1", nameof(MaxPinnedFraction));
        }

        if (ReadTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Dynamo:KvTransfer:ReadTimeout = '{ReadTimeout}' must be positive", nameof(ReadTimeout));
        }
    }
}
