namespace Dynamo.DevCluster;

/// <summary>Settings of the one-machine API server.</summary>
public sealed class DevApiServerOptions
{
    /// <summary>TCP port on 127.0.0.1; 0 (the default) picks a free one. The server never listens beyond loopback.</summary>
    public int Port { get; init; }

    /// <summary>How many recent changes are kept for watches resuming from an older resourceVersion (default 10,000). Older: 410 Gone.</summary>
    public int WatchHistory { get; init; } = 10_000;

    /// <summary>Changes queued per watch before a client that does not read is disconnected (default 10,000).</summary>
    public int WatchBuffer { get; init; } = 10_000;

    /// <summary>How often a quiet watch that allows bookmarks gets one (default 60 s, as the real server).</summary>
    public TimeSpan BookmarkInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a watch without timeoutSeconds stays open (default 30 min).</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// When true, deleting a Pod bound to a node (spec.nodeName set) only marks it (deletionTimestamp, grace period)
    /// and the node agent removes it with a zero grace period once its process has stopped, as a kubelet does.
    /// When false (the default, no node agent), Pods go at once.
    /// </summary>
    public bool GracefulPodDeletion { get; init; }

    /// <summary>
    /// The bearer token every request but /healthz, /livez, /readyz and /version must carry; the kubeconfig written by
    /// <see cref="DevApiServer.WriteKubeconfig"/> holds it. Null (the default): a random one per start.
    /// </summary>
    public string? BearerToken { get; init; }

    /// <summary>The clock for timestamps and ages (default: the system clock).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Throws naming the bad setting.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535) throw new ArgumentException($"DevApiServerOptions.Port {Port} is not a TCP port (0-65535; 0 picks a free one)");
        if (WatchHistory < 1) throw new ArgumentException($"DevApiServerOptions.WatchHistory {WatchHistory} must be at least 1");
        if (WatchBuffer < 1) throw new ArgumentException($"DevApiServerOptions.WatchBuffer {WatchBuffer} must be at least 1");
        if (BookmarkInterval <= TimeSpan.Zero) throw new ArgumentException($"DevApiServerOptions.BookmarkInterval {BookmarkInterval} must be positive");
        if (BearerToken is { Length: < 16 }) throw new ArgumentException("DevApiServerOptions.BearerToken must be at least 16 characters (or null for a random one)");
        if (WatchTimeout <= TimeSpan.Zero) throw new ArgumentException($"DevApiServerOptions.WatchTimeout {WatchTimeout} must be positive");
    }
}
