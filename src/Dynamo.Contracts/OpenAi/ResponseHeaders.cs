namespace Dynamo.Contracts.OpenAi;

/// <summary>
/// Headers the gateway adds to its OpenAI responses (unless <c>Dynamo:Gateway:WorkerHeaders</c> is false): which
/// worker served the request, for <c>dynamo bench</c>'s per-request records and for debugging placement.
/// </summary>
public static class ResponseHeaders
{
    /// <summary>The instance id (in discovery) of the worker that produced the response's tokens.</summary>
    public const string Worker = "x-dynamo-worker";

    /// <summary>The prefill worker that computed the prompt, when the request was disaggregated; absent otherwise.</summary>
    public const string PrefillWorker = "x-dynamo-prefill-worker";
}
