using System.Text;

namespace Dynamo.Runtime.Nats;

/// <summary>
/// The NATS connection and the runtime's use of it, bound from <c>Dynamo:Nats</c> and validated by
/// <see cref="NatsOptionsValidator"/>. The server needs JetStream (<c>nats-server -js</c>).
/// </summary>
public sealed class NatsOptions
{
    public const string SectionName = "Dynamo:Nats";

    /// <summary>Server URL, or several separated by commas. Default <c>nats://127.0.0.1:4222</c>.</summary>
    public string Url { get; set; } = "nats://127.0.0.1:4222";

    /// <summary>
    /// Namespace of the deployment: prefix of event subjects (<c>dynamo.kv_events</c>) and of the bucket names
    /// (<c>dynamo_instances</c>, <c>dynamo_transfer</c>). Letters, digits, <c>-</c> and <c>_</c>. Default <c>dynamo</c>.
    /// </summary>
    public string Namespace { get; set; } = "dynamo";

    /// <summary>User name for user/password authentication. Default none.</summary>
    public string? User { get; set; }

    /// <summary>Password for <see cref="User"/>. Default none. Never logged.</summary>
    public string? Password { get; set; }

    /// <summary>Token authentication, instead of a user. Default none. Never logged.</summary>
    public string? Token { get; set; }

    /// <summary>A <c>.creds</c> file (JWT and NKey seed) for decentralized authentication. Default none.</summary>
    public string? CredentialsFile { get; set; }

    /// <summary>TLS to the server. Default: TLS when the URL says <c>tls://</c> or the server requires it.</summary>
    public NatsTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// How long a registration outlives its last heartbeat: an instance whose heartbeats stop leaves every
    /// observer's view within this time. Default 10 s.
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a registered instance renews its lease. At most half of <see cref="LeaseTtl"/>. Default 3 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// JetStream storage of the buckets: <c>memory</c> (gone when the server restarts; instances re-register on their
    /// next heartbeat) or <c>file</c>. Default memory.
    /// </summary>
    public string Storage { get; set; } = "memory";

    /// <summary>Timeout of the first connection. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First wait between reconnect attempts; it doubles up to <see cref="ReconnectWaitMax"/>. Default 100 ms.</summary>
    public TimeSpan ReconnectWaitMin { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest wait between reconnect attempts. Default 1 s, so service resumes within a second of the server's return.</summary>
    public TimeSpan ReconnectWaitMax { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Client name the server shows in its connection list. Default <c>dynamo-</c> and the process id.</summary>
    public string? ClientName { get; set; }

    /// <summary>JetStream KV bucket of the instance registrations.</summary>
    public string DiscoveryBucket() => Namespace + "_instances";

    /// <summary>JetStream KV bucket of the transfer metadata.</summary>
    public string TransferBucket() => Namespace + "_transfer";

    /// <summary>The options for a log line, with secrets and URL credentials redacted.</summary>
    public string Describe()
    {
        var text = new StringBuilder()
            .Append("Url=").Append(RedactUrls(Url))
            .Append(", Namespace=").Append(Namespace)
            .Append(", Auth=").Append(AuthKind())
            .Append(", Tls=").Append(Tls.Mode)
            .Append(", LeaseTtl=").Append(LeaseTtl)
            .Append(", HeartbeatInterval=").Append(HeartbeatInterval)
            .Append(", Storage=").Append(Storage);
        return text.ToString();
    }

    internal string AuthKind() =>
        CredentialsFile is not null ? "credentials-file"
        : Token is not null ? "token"
        : User is not null ? $"user '{User}'"
        : Url.Contains('@', StringComparison.Ordinal) ? "url"
        : "none";

    /// <summary>True when the connection presents some credential: a token, a user, a credentials file (JWT/NKey), credentials in the URL, or a TLS client certificate.</summary>
    public bool IsAuthenticated => AuthKind() != "none" || Tls?.CertFile is not null;

    /// <summary>
    /// Why connecting with these options exposes the deployment, or null when it does not: a server off this machine
    /// (not <c>localhost</c>, <c>127.0.0.0/8</c> or <c>::1</c>) reached with no credential. Anyone who can reach such a
    /// server can publish on it; multi-process commands refuse it unless told <c>--insecure</c>.
    /// </summary>
    public string? InsecureExposure()
    {
        if (IsAuthenticated)
        {
            return null;
        }

        var remote = (Url ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(url => !Uri.TryCreate(url, UriKind.Absolute, out var uri) || !IsLoopback(uri.Host))
            .Select(RedactUrls)
            .ToList();
        return remote.Count == 0
            ? null
            : $"{SectionName}:Url = '{string.Join(',', remote)}' is not on this machine and no NATS authentication is configured "
              + $"({SectionName}:Token, {SectionName}:User and Password, {SectionName}:CredentialsFile, or a TLS client certificate in {SectionName}:Tls:CertFile and KeyFile), "
              + "so anyone who can reach the server can publish into the deployment. Configure one of them (and the server to require it), or pass --insecure to run anyway.";
    }

    private static bool IsLoopback(string host)
    {
        var name = host.Trim('[', ']');
        return string.Equals(name, "localhost", StringComparison.OrdinalIgnoreCase)
            || (System.Net.IPAddress.TryParse(name, out var ip) && System.Net.IPAddress.IsLoopback(ip));
    }

    /// <summary><paramref name="urls"/> with any user and password in them replaced by <c>***</c>.</summary>
    public static string RedactUrls(string urls) => string.Join(',', urls.Split(',').Select(url =>
        Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0
            ? new UriBuilder(uri) { UserName = "***", Password = null }.Uri.ToString().TrimEnd('/')
            : url.Trim()));
}
