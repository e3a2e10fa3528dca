namespace Dynamo.Gateway.Responses;

/// <summary>
/// The Responses API's response store (<c>Dynamo:Gateway:Responses</c>): what <c>previous_response_id</c> and
/// <c>GET /v1/responses/{id}</c> read. It lives in each gateway's memory, bounded by entries, bytes and age; a
/// follow-up that reaches another gateway (or this one after a restart) gets 404 <c>previous_response_not_found</c>.
/// </summary>
public sealed class ResponsesOptions
{
    /// <summary>Most responses kept; the oldest goes first. 0 keeps none (every request then behaves as <c>store: false</c>). Default 1000.</summary>
    public int StoreMaxEntries { get; set; } = 1000;

    /// <summary>Most bytes the kept responses and conversations may take together; the oldest go first. Default 64 MiB.</summary>
    public long StoreMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>How long a response is kept after it completes. Default 1 hour.</summary>
    public TimeSpan StoreTtl { get; set; } = TimeSpan.FromHours(1);
}
