namespace Dynamo.Contracts.Routing;

/// <summary>
/// What an agent or application told the server about a request, in the body's <c>nvext</c> object; every field is
/// optional and already validated.
/// </summary>
/// <param name="SessionId"><c>nvext.session_id</c>: requests of one session go to the worker holding its context
/// while that worker is not overloaded (session affinity, every router mode); null: no session.</param>
/// <param name="ExpectedOutputTokens"><c>nvext.expected_output_tokens</c>: the output length the client expects, used
/// by the KV router's decode-load prediction instead of <c>Dynamo:Router:ExpectedOutputTokens</c>; null: not given.</param>
/// <param name="Priority"><c>nvext.priority</c>: <see cref="MinPriority"/>..<see cref="MaxPriority"/>, higher is more
/// important, default 0; orders the gateway's admission queue and the workers' waiting queues, and a full admission
/// queue sheds its lowest priority first.</param>
public sealed record RequestHints(string? SessionId, int? ExpectedOutputTokens, int Priority)
{
    /// <summary>Lowest <c>nvext.priority</c>.</summary>
    public const int MinPriority = -100;

    /// <summary>Highest <c>nvext.priority</c>.</summary>
    public const int MaxPriority = 100;

    /// <summary>Longest <c>nvext.session_id</c>, in UTF-16 code units.</summary>
    public const int MaxSessionIdLength = 256;
}
