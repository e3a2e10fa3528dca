namespace Dynamo.Engine.Transfer;

/// <summary>Disaggregated serving settings of the engine (configuration section <c>Dynamo:KvTransfer</c>).</summary>
public sealed class KvTransferOptions
{
    /// <summary>How long a prefill keeps a prompt's blocks for a decode worker that never reads them. Default 30 s.</summary>
    public TimeSpan PinTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a decode worker's read of the prompt's blocks may take before it computes the prompt itself. Default 10 s.</summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws with the key and value of the first bad setting.</summary>
    public void Validate()
    {
        if (PinTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Dynamo:KvTransfer:PinTimeout = '{PinTimeout}' must be positive", nameof(PinTimeout));
        }

        if (ReadTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Dynamo:KvTransfer:ReadTimeout = '{ReadTimeout}' must be positive", nameof(ReadTimeout));
        }
    }
}
