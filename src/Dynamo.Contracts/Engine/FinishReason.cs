namespace Dynamo.Contracts.Engine;

public enum FinishReason
{
    /// <summary>End-of-sequence token, stop token or stop string.</summary>
    Stop,

    /// <summary>max_tokens or the model's context reached.</summary>
    Length,

    /// <summary>The request was cancelled (client went away, or shutdown).</summary>
    Cancelled,
}
