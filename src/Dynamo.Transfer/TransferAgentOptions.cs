namespace Dynamo.Transfer;

/// <summary>
/// One transfer agent, bound from <c>Dynamo:Transfer</c>. Validated by <see cref="TransferAgentOptionsValidator"/>.
/// </summary>
public sealed class TransferAgentOptions
{
    public const string SectionName = "Dynamo:Transfer";

    /// <summary>The agent's name, unique among peers (the worker's instance id is a good one). Default: <c>agent-</c> and 12 random hex digits.</summary>
    public string Name { get; set; } = "agent-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>
    /// Backends to start, in order of preference for reaching a peer, comma-separated: <c>inprocess</c>, <c>ucx</c>,
    /// <c>tcp</c>. Default <c>inprocess,tcp,ucx</c>: TCP before UCX, because on a host without RDMA UCX 1.13 either
    /// runs over its own TCP transport (with <see cref="UcxPeerFailureHandling"/>) or can only abandon transfers to a
    /// dead peer (shared memory); put <c>ucx</c> first on an RDMA fabric. UCX is skipped with a log line when
    /// <c>libucp.so.0</c> cannot be loaded unless <see cref="RequireAllBackends"/> is set.
    /// </summary>
    public string Backends { get; set; } = "inprocess,tcp,ucx";

    /// <summary>Fail start-up when a listed backend cannot start, instead of running without it. Default false.</summary>
    public bool RequireAllBackends { get; set; }

    /// <summary>IP address the TCP backend listens on. Default <c>127.0.0.1</c>.</summary>
    public string TcpHost { get; set; } = "127.0.0.1";

    /// <summary>TCP port. Default 0: the system picks one and the bound port is published.</summary>
    public int TcpPort { get; set; }

    /// <summary>Host put in the metadata for peers. Default null: <see cref="TcpHost"/>, or the machine name when that is a wildcard.</summary>
    public string? TcpAdvertisedHost { get; set; }

    /// <summary>Most TCP connections kept to one peer; concurrent transfers beyond this wait for one. Default 4.</summary>
    public int TcpMaxConnectionsPerPeer { get; set; } = 4;

    /// <summary>UCX transports (<c>UCX_TLS</c> for this agent's context only), e.g. <c>tcp</c> or <c>shm,cma</c>. Default null: UCX's own choice.</summary>
    public string? UcxTransports { get; set; }

    /// <summary>
    /// Create UCX endpoints with peer failure handling (<c>UCP_ERR_HANDLING_MODE_PEER</c>). Default true: a dead peer
    /// fails transfers and a timeout cancels them (force-closing the endpoint), which is what an RDMA fabric wants.
    /// UCX 1.13's shared-memory transports (posix, sysv, cma) cannot handle peer failures, so on one host UCX then uses
    /// its TCP transport, whose error path in 1.13.1 can fail an internal assertion when a peer vanishes during
    /// wire-up. False allows shared memory (an order of magnitude faster on one host), but a transfer to a peer that
    /// stops answering can only be abandoned: its result comes at the timeout, while the local region stays leased
    /// (its deregistration waits) until UCX gives the requests up or the agent stops.
    /// </summary>
    public bool UcxPeerFailureHandling { get; set; } = true;

    /// <summary>Timeout for a transfer posted without one. Default 30 s.</summary>
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long connecting to a peer may take before the transfer fails as unreachable. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Shared key for authenticating TCP transfer connections (bound from base64 in configuration; at least 16
    /// bytes). When set, a connection proves both ends hold it (HMAC-SHA256 challenge and response, compared in
    /// constant time) before any request is served, and a peer without it (or with another) is refused and counted;
    /// UCX remote keys in the published metadata are sealed with it, so only peers holding it can use them. Default
    /// null: connections are not authenticated (one host, or a network only trusted peers reach). Give every worker of
    /// a deployment the same key (the cluster secret).
    /// </summary>
    public byte[]? AuthenticationKey { get; set; }

    /// <summary>Largest notification message. Default 64 KiB.</summary>
    public int MaxNotificationBytes { get; set; } = 64 * 1024;

    internal IReadOnlyList<TransferBackendKind> ParseBackends()
    {
        var kinds = new List<TransferBackendKind>();
        foreach (var part in Backends.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kind = part.ToLowerInvariant() switch
            {
                "inprocess" or "in-process" or "memory" => TransferBackendKind.InProcess,
                "ucx" => TransferBackendKind.Ucx,
                "tcp" => TransferBackendKind.Tcp,
                _ => throw new FormatException($"unknown backend '{part}'"),
            };
            if (!kinds.Contains(kind))
            {
                kinds.Add(kind);
            }
        }

        return kinds;
    }
}
