namespace Dynamo.Gateway.Security;

/// <summary>
/// API keys, bound from <c>Dynamo:Gateway:Auth</c>. With no keys configured the gateway is open (the embedded
/// default on loopback); with any key, every <c>/v1</c> request needs <c>Authorization: Bearer KEY</c>.
/// </summary>
public sealed class AuthOptions
{
    /// <summary>Keys with optional per-key limits.</summary>
    public List<ApiKeyOptions> Keys { get; set; } = [];

    /// <summary>A file with one key per line (<c>#</c> starts a comment); read at start-up, secrets stay out of config files.</summary>
    public string? KeysFile { get; set; }

    /// <summary>Requests per minute per key when the key sets none; null = unlimited.</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Requests in flight per key when the key sets none; null = unlimited.</summary>
    public int? MaxConcurrentRequests { get; set; }
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
