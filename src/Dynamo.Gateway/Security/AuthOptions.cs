namespace Dynamo.Gateway.Security;

/// <summary>
/// API keys, bound from <c>Dynamo:Gateway:Auth</c>. With no keys configured the gateway is open (the embedded
/// default on loopback); with any key, every <c>/v1</c> request needs <c>Authorization: Bearer KEY</c>.
/// </summary>
public sealed class AuthOptions
{
    /// <summary>Keys with optional per-key limits.</summary>
    public List<ApiKeyOptions> Keys { get; set; } = [];

    /// <summary>
    /// A file with one key per line (<c>#</c> starts a comment, surrounding blanks are ignored); read at start-up, so
    /// secrets stay out of config files. Its keys obey the rules of inline keys (<see cref="ApiKeys"/>).
    /// </summary>
    public string? KeysFile { get; set; }

    /// <summary>
    /// Requests per minute per key when the key sets none; null = unlimited. Refilled continuously (a burst of the
    /// whole minute's budget, then one request every 60/N s); a refused request's <c>Retry-After</c> says when.
    /// </summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Requests in flight per key when the key sets none; null = unlimited.</summary>
    public int? MaxConcurrentRequests { get; set; }

    /// <summary>
    /// Failed authentications (missing or wrong key) one client address may make within <see cref="FailureWindow"/>;
    /// beyond it the address gets 429 with <c>Retry-After</c> until a failure ages out, whatever key it sends.
    /// IPv6 addresses count per /64. Default 10; 0 turns the throttle off. Behind a proxy every client shares the
    /// proxy's address.
    /// </summary>
    public int MaxFailuresPerClient { get; set; } = 10;

    /// <summary>The window of <see cref="MaxFailuresPerClient"/>, refilled continuously. Default 1 minute.</summary>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(1);
}

public sealed class ApiKeyOptions
{
    /// <summary>The secret itself. Never logged.</summary>
    public string Key { get; set; } = "";

    /// <summary>A name for logs and metrics (default: key-N).</summary>
    public string? Name { get; set; }

    public int? RequestsPerMinute { get; set; }

    public int? MaxConcurrentRequests { get; set; }
}
