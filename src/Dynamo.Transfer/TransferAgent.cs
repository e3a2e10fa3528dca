using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Dynamo.Transfer.Backends;
using Dynamo.Transfer.Backends.InProcess;
using Dynamo.Transfer.Backends.Tcp;
using Dynamo.Transfer.Backends.Ucx;
using Dynamo.Transfer.Memory;
using Dynamo.Transfer.Metadata;
using Dynamo.Transfer.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Transfer;

/// <summary>
/// One process's transfer agent (NIXL's <c>nixlAgent</c>): registers memory, publishes metadata, loads peers'
/// metadata, posts one-sided READ and WRITE transfers between registered memory and a peer's, and exchanges
/// notifications. Backends (in-process copy, UCX, TCP) are started from the options; each peer is reached over the
/// first backend, in the options' order, that both sides have.
/// <para>
/// Every transfer ends with a status. Descriptors are checked on both sides before memory is touched: the poster's
/// against its own registrations and the peer's published regions, the serving side's against its registrations.
/// </para>
/// </summary>
public sealed class TransferAgent : IAsyncDisposable
{
    private readonly TransferAgentOptions _options;
    private readonly ILogger _logger;
    private readonly List<TransferBackend> _backends = [];
    private readonly ConcurrentDictionary<string, RemotePeer> _peers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, TransferRequest> _inFlight = new();
    private readonly Channel<TransferNotification> _notifications = Channel.CreateUnbounded<TransferNotification>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    private readonly CancellationTokenSource _stopping = new();
    private long _nextId;
    private long _refused;
    private int _refusalLogged;
    private int _disposed;

    private TransferAgent(TransferAgentOptions options, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        _options = options;
        _logger = loggerFactory.CreateLogger<TransferAgent>();
        LoggerFactory = loggerFactory;
        TimeProvider = timeProvider;
        Name = options.Name;
    }

    /// <summary>Raised after this agent's metadata changed (a region registered or deregistered): republish it.</summary>
    public event Action<TransferAgent>? MetadataChanged;

    public string Name { get; }

    /// <summary>Random per agent instance; peers detect a restart by a changed incarnation.</summary>
    public Guid Incarnation { get; } = Guid.NewGuid();

    /// <summary>The backends that started, in order of preference.</summary>
    public IReadOnlyList<TransferBackendKind> Backends => [.. _backends.Select(b => b.Kind)];

    /// <summary>
    /// Notifications from peers, in arrival order per peer. Unbounded: backends deliver from their receive loops
    /// and must never block, so a consumer is expected to keep reading.
    /// </summary>
    public ChannelReader<TransferNotification> Notifications => _notifications.Reader;

    internal TransferAgentOptions Options => _options;

    internal ILoggerFactory LoggerFactory { get; }

    internal ILogger Logger => _logger;

    internal TimeProvider TimeProvider { get; }

    internal RegionTable Regions { get; } = new();

    internal GrantTable Grants { get; } = new();

    /// <summary>
    /// Peer requests this agent's serving side refused for want of authorization since start: reads without a valid
    /// transfer token for granted memory, outside its grant, for another binding or a second time, and TCP
    /// connections that failed the <see cref="TransferAgentOptions.AuthenticationKey"/> handshake.
    /// </summary>
    public long RefusedRequests => Interlocked.Read(ref _refused);

    /// <summary>Grants issued and not revoked.</summary>
    public int OutstandingGrants => Grants.Count;

    internal CancellationToken Stopping => _stopping.Token;

    /// <summary>Starts an agent with the backends the options list. Throws when none can start (or any, with <see cref="TransferAgentOptions.RequireAllBackends"/>).</summary>
    public static TransferAgent Create(TransferAgentOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var validation = new TransferAgentOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new ArgumentException(validation.FailureMessage, nameof(options));
        }

        var agent = new TransferAgent(options, loggerFactory ?? NullLoggerFactory.Instance, timeProvider ?? TimeProvider.System);
        try
        {
            foreach (var kind in options.ParseBackends())
            {
                var backend = agent.StartBackend(kind, out var reason);
                if (backend is not null)
                {
                    agent._backends.Add(backend);
                    continue;
                }

                if (options.RequireAllBackends)
                {
                    throw new InvalidOperationException($"Transfer backend {kind} could not start: {reason}");
                }

                TransferLog.BackendSkipped(agent._logger, agent.Name, kind, reason ?? "unavailable");
            }

            if (agent._backends.Count == 0)
            {
                throw new InvalidOperationException($"No transfer backend could start (asked for '{options.Backends}').");
            }
        }
        catch
        {
            agent.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }

        TransferLog.Started(agent._logger, agent.Name, agent.Incarnation, string.Join(",", agent.Backends));
        return agent;
    }

    /// <summary>Whether <paramref name="kind"/> can start on this machine (UCX: <c>libucp.so.0</c> loads and is ≥ 1.10), and if not, why.</summary>
    public static bool IsBackendAvailable(TransferBackendKind kind, out string? reason)
    {
        reason = null;
        return kind != TransferBackendKind.Ucx || UcxBackend.IsLibraryAvailable(out reason);
    }

    private TransferBackend? StartBackend(TransferBackendKind kind, out string? reason)
    {
        reason = null;
        switch (kind)
        {
            case TransferBackendKind.InProcess:
                return new InProcessBackend(this);
            case TransferBackendKind.Tcp:
                return TcpBackend.Start(this);
            case TransferBackendKind.Ucx:
                return UcxBackend.TryStart(this, out reason);
            default:
                reason = "unknown backend";
                return null;
        }
    }

    /// <summary>
    /// Registers <paramref name="length"/> bytes at <paramref name="address"/> with every backend. The memory must stay
    /// valid until the returned region is disposed. Raises <see cref="MetadataChanged"/>. With
    /// <paramref name="requireGrant"/>, peers may touch it only with a credential for a grant from <see cref="IssueGrant"/>.
    /// </summary>
    public MemoryRegion RegisterMemory(nint address, long length, RemoteAccess access = RemoteAccess.ReadWrite, bool requireGrant = false)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (address == 0)
        {
            throw new ArgumentException("address is null", nameof(address));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        if ((ulong)address + (ulong)length < (ulong)address)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "the range wraps the address space");
        }

        var region = new MemoryRegion(Regions.NextId(), address, length, access, requireGrant, Deregister);
        var registered = new List<TransferBackend>();
        try
        {
            foreach (var backend in _backends)
            {
                if (backend.RegisterRegion(region) is { } key)
                {
                    region.RemoteKeys[backend.Kind] = key;
                }

                registered.Add(backend);
            }
        }
        catch
        {
            foreach (var backend in registered)
            {
                backend.DeregisterRegion(region);
            }

            throw;
        }

        Regions.Add(region);
        MetadataChanged?.Invoke(this);
        return region;
    }

    private void Deregister(MemoryRegion region)
    {
        if (!region.IsRegistered)
        {
            return;
        }

        region.Revoke(
            () =>
            {
                foreach (var backend in _backends)
                {
                    backend.OnRegionRevoked(region);
                }
            },
            waited => TransferLog.SlowDeregister(_logger, Name, region.ToString(), waited));
        if (Regions.Remove(region))
        {
            foreach (var backend in _backends)
            {
                backend.DeregisterRegion(region);
            }

            if (Volatile.Read(ref _disposed) == 0)
            {
                MetadataChanged?.Invoke(this);
            }
        }
    }

    /// <summary>
    /// Allows one peer READ of <paramref name="ranges"/> (inside this agent's registered regions) by whoever presents
    /// the returned grant's token with <paramref name="binding"/> (e.g. a digest of the prompt tokens the ranges hold;
    /// at most <see cref="TransferGrant.MaxBindingBytes"/>). Revoke it before the memory is reused.
    /// </summary>
    public TransferGrant IssueGrant(DescriptorList ranges, ReadOnlySpan<byte> binding)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (binding.Length > TransferGrant.MaxBindingBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(binding), binding.Length, $"a binding has at most {TransferGrant.MaxBindingBytes} bytes");
        }

        var merged = ranges.ToMerged();
        if (merged.Count == 0)
        {
            throw new ArgumentException("a grant needs at least one range", nameof(ranges));
        }

        foreach (var d in merged)
        {
            if (!Regions.Contains(d))
            {
                throw new ArgumentException($"descriptor {d} lies in no region registered with this agent", nameof(ranges));
            }
        }

        return Grants.Issue(merged.AsSpan(), binding);
    }

    /// <summary>Withdraws a grant (its ranges are about to be reused); false when it was revoked already or never issued here.</summary>
    public bool RevokeGrant(ReadOnlySpan<byte> token) => Grants.Revoke(token);

    /// <summary>
    /// The serving side's check of a peer request: leases the regions its descriptors lie in (they must be
    /// registered, allow <paramref name="access"/>, and contain them) and authorizes it against the grants. On
    /// failure nothing stays leased; a refusal for want of authorization is counted and logged.
    /// </summary>
    internal TransferErrorKind AuthorizeRemote(ReadOnlySpan<TransferDescriptor> descriptors, RemoteAccess access, ReadOnlySpan<byte> credential,
        LeaseSet leases, string peer, TransferBackendKind backend, out string? message)
    {
        var error = Regions.TryLease(descriptors, access, leases, out message);
        if (error != TransferErrorKind.None)
        {
            LogRejected(peer, backend, error, message);
            return error;
        }

        message = Grants.Authorize(descriptors, access, credential, leases);
        if (message is null)
        {
            return TransferErrorKind.None;
        }

        leases.ReleaseAll();
        Refuse(peer, backend, message);
        return TransferErrorKind.AccessDenied;
    }

    /// <summary>Counts a refusal; the first is logged as a warning, later ones at debug level (a flood must not fill the log).</summary>
    internal void Refuse(string peer, TransferBackendKind backend, string reason)
    {
        Interlocked.Increment(ref _refused);
        if (Interlocked.Exchange(ref _refusalLogged, 1) == 0)
        {
            TransferLog.RefusedFirst(_logger, Name, peer, backend, reason);
        }
        else
        {
            TransferLog.Refused(_logger, Name, peer, backend, reason);
        }
    }

    /// <summary>
    /// This agent's metadata for peers: endpoints of every started backend and every registered region. With an
    /// <see cref="TransferAgentOptions.AuthenticationKey"/> the UCX keys in it are sealed with that key.
    /// </summary>
    public AgentMetadata GetLocalMetadata() => _options.AuthenticationKey is { } key ? RemoteKeySeal.Seal(BuildLocalMetadata(), key) : BuildLocalMetadata();

    private AgentMetadata BuildLocalMetadata() => new()
    {
        Name = Name,
        Incarnation = Incarnation,
        ProcessId = Environment.ProcessId,
        Endpoints = [.. _backends.Select(b => b.Endpoint)],
        Regions = [.. Regions.All.Where(r => r.IsRegistered).OrderBy(r => r.Id).Select(r => new RegionMetadata
        {
            Id = r.Id,
            Address = (ulong)r.Address,
            Length = (ulong)r.Length,
            Access = r.Access,
            Keys = [.. r.RemoteKeys.Select(k => new RegionKey(k.Key, k.Value))],
        })],
    };

    /// <summary>
    /// Caches a peer's metadata (NIXL's <c>loadRemoteMD</c>) and returns its name. Loading a newer set of regions of
    /// the same incarnation keeps connections; a new incarnation (the peer restarted) or endpoint drops them. Throws
    /// <see cref="InvalidOperationException"/> when no started backend can reach the peer, or its sealed UCX keys do
    /// not open with this agent's <see cref="TransferAgentOptions.AuthenticationKey"/>.
    /// </summary>
    public string LoadRemoteMetadata(AgentMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        metadata = RemoteKeySeal.Open(metadata, _options.AuthenticationKey);
        var backend = _backends.FirstOrDefault(b => b.CanReach(metadata))
            ?? throw new InvalidOperationException(
                $"No backend reaches agent '{metadata.Name}': it offers {string.Join(", ", metadata.Endpoints.Select(e => e.Kind))}, this agent runs {string.Join(", ", Backends)}.");
        var peer = new RemotePeer(metadata, backend);
        RemotePeer? previous = null;
        _peers.AddOrUpdate(metadata.Name, peer, (_, old) =>
        {
            previous = old;
            return peer;
        });
        if (previous is not null && (previous.Incarnation != metadata.Incarnation || previous.Backend != backend
            || !SameEndpoint(previous.Metadata.EndpointFor(backend.Kind), metadata.EndpointFor(backend.Kind))))
        {
            previous.Backend.ForgetPeer(previous.Name, previous.Incarnation);
        }

        TransferLog.PeerLoaded(_logger, Name, metadata.Name, metadata.Incarnation, metadata.Regions.Count, backend.Kind);
        return metadata.Name;
    }

    private static bool SameEndpoint(BackendEndpoint? a, BackendEndpoint? b) =>
        a is not null && b is not null && a.Address.AsSpan().SequenceEqual(b.Address);

    /// <summary>Parses (validating every field) and loads a peer's metadata from its wire form.</summary>
    public string LoadRemoteMetadata(ReadOnlySpan<byte> metadata) => LoadRemoteMetadata(AgentMetadata.Parse(metadata));

    /// <summary>Forgets a peer and drops its connections (NIXL's <c>invalidateRemoteMD</c>). In-flight transfers run on.</summary>
    public bool InvalidateRemoteMetadata(string agentName)
    {
        if (_peers.TryRemove(agentName, out var peer))
        {
            peer.Backend.ForgetPeer(peer.Name, peer.Incarnation);
            return true;
        }

        return false;
    }

    public AgentMetadata? GetRemoteMetadata(string agentName) => _peers.TryGetValue(agentName, out var peer) ? peer.Metadata : null;

    /// <summary>The backend a transfer with <paramref name="agentName"/> would use, or null when its metadata is not loaded.</summary>
    public TransferBackendKind? GetBackendFor(string agentName) => _peers.TryGetValue(agentName, out var peer) ? peer.Backend.Kind : null;

    /// <summary>
    /// Posts a transfer (NIXL's <c>createXferReq</c> + <c>postXferReq</c>) and returns at once. The n-th byte of
    /// <paramref name="local"/> pairs with the n-th byte of <paramref name="remote"/>; both lists are merged (adjacent
    /// descriptors joined) into copies, so the caller may reuse them right away. <paramref name="notification"/>, when
    /// not empty, reaches the peer after the data: for a READ, once the peer has sent every byte (its memory is free
    /// to reuse); for a WRITE, once every byte is in its memory. Failures, including invalid descriptors, come back as
    /// a failed request rather than an exception.
    /// </summary>
    public TransferRequest PostTransfer(
        TransferOperation operation,
        DescriptorList local,
        DescriptorList remote,
        string remoteAgent,
        ReadOnlySpan<byte> notification = default,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default) =>
        PostTransfer(operation, local, remote, remoteAgent, null, notification, timeout, cancellationToken);

    /// <summary>
    /// <see cref="PostTransfer(TransferOperation, DescriptorList, DescriptorList, string, ReadOnlySpan{byte}, TimeSpan?, CancellationToken)"/>
    /// presenting <paramref name="credential"/> to the peer: what a READ of memory the peer registered with
    /// <c>requireGrant</c> needs. The peer refuses it (<see cref="TransferErrorKind.AccessDenied"/>) unless the token
    /// names a live, unused grant of the peer's for exactly this binding and the remote descriptors lie inside it.
    /// </summary>
    public TransferRequest PostTransfer(
        TransferOperation operation,
        DescriptorList local,
        DescriptorList remote,
        string remoteAgent,
        TransferCredential? credential,
        ReadOnlySpan<byte> notification = default,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(remote);
        ArgumentNullException.ThrowIfNull(remoteAgent);
        if (notification.Length > _options.MaxNotificationBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(notification), notification.Length, $"notifications are limited to {_options.MaxNotificationBytes} bytes");
        }

        var started = Stopwatch.GetTimestamp();
        var total = local.TotalBytes;
        var request = new TransferRequest(Interlocked.Increment(ref _nextId), operation, remoteAgent, (long)Math.Min(total, long.MaxValue));
        if (Volatile.Read(ref _disposed) != 0)
        {
            return Fail(request, TransferErrorKind.AgentStopped, "the agent is disposed", started, null);
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return Finish(request, new TransferResult { Status = TransferStatus.Cancelled, Error = TransferErrorKind.Cancelled, Message = "cancelled before posting", Bytes = request.Bytes });
        }

        if (!_peers.TryGetValue(remoteAgent, out var peer))
        {
            return Fail(request, TransferErrorKind.UnknownAgent, $"no metadata loaded for agent '{remoteAgent}'", started, null);
        }

        request.Backend = peer.Backend.Kind;
        if (local.Count == 0 || total != remote.TotalBytes || total == 0 || total >= long.MaxValue)
        {
            return Fail(request, TransferErrorKind.InvalidDescriptor,
                $"local list has {local.Count} descriptors and {local.TotalBytes} B, remote list {remote.Count} and {remote.TotalBytes} B: totals must be equal and non-zero", started, peer.Backend.Kind);
        }

        var localDescriptors = ArrayPool<TransferDescriptor>.Shared.Rent(local.Count);
        var remoteDescriptors = ArrayPool<TransferDescriptor>.Shared.Rent(remote.Count);
        local.AsSpan().CopyTo(localDescriptors);
        remote.AsSpan().CopyTo(remoteDescriptors);
        var localCount = DescriptorList.MergeInto(localDescriptors.AsSpan(0, local.Count));
        var remoteCount = DescriptorList.MergeInto(remoteDescriptors.AsSpan(0, remote.Count));
        request.LocalDescriptorCount = localCount;
        request.RemoteDescriptorCount = remoteCount;

        var leases = new LeaseSet();
        var error = Regions.TryLease(localDescriptors.AsSpan(0, localCount), RemoteAccess.None, leases, out var message);
        if (error == TransferErrorKind.None)
        {
            (error, message) = CheckRemote(peer, operation, remoteDescriptors.AsSpan(0, remoteCount));
            if (error != TransferErrorKind.None)
            {
                leases.ReleaseAll();
            }
        }

        if (error != TransferErrorKind.None)
        {
            ArrayPool<TransferDescriptor>.Shared.Return(localDescriptors);
            ArrayPool<TransferDescriptor>.Shared.Return(remoteDescriptors);
            return Fail(request, error, message!, started, peer.Backend.Kind);
        }

        var job = new TransferJob
        {
            Operation = operation,
            Peer = peer,
            Local = localDescriptors,
            LocalCount = localCount,
            Remote = remoteDescriptors,
            RemoteCount = remoteCount,
            Bytes = request.Bytes,
            Notification = notification.IsEmpty ? null : notification.ToArray(),
            Credential = credential,
        };
        _inFlight[request.Id] = request;
        _ = RunAsync(request, job, leases, started, timeout ?? _options.DefaultTimeout, cancellationToken);
        return request;
    }

    private static (TransferErrorKind, string?) CheckRemote(RemotePeer peer, TransferOperation operation, ReadOnlySpan<TransferDescriptor> remote)
    {
        var needed = operation == TransferOperation.Read ? RemoteAccess.Read : RemoteAccess.Write;
        foreach (var d in remote)
        {
            var region = peer.Region(d.Region);
            if (region is null)
            {
                return (TransferErrorKind.InvalidDescriptor, $"remote descriptor {d} names region {d.Region}, which agent '{peer.Name}' has not published");
            }

            if (!region.Contains(d))
            {
                return (TransferErrorKind.InvalidDescriptor, $"remote descriptor {d} is empty or lies outside region {region.Id} (0x{region.Address:x}+{region.Length}) of agent '{peer.Name}'");
            }

            if ((region.Access & needed) != needed)
            {
                return (TransferErrorKind.AccessDenied, $"region {region.Id} of agent '{peer.Name}' does not allow remote {needed}");
            }
        }

        return (TransferErrorKind.None, null);
    }

    private async Task RunAsync(TransferRequest request, TransferJob job, LeaseSet leases, long started, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var backend = job.Peer.Backend;
        using var timer = TimeProvider.CreateTimer(static s => ((TransferRequest)s!).Abort(TransferErrorKind.Timeout), request, timeout, Timeout.InfiniteTimeSpan);
        using var cancelled = cancellationToken.UnsafeRegister(static s => ((TransferRequest)s!).Abort(TransferErrorKind.Cancelled), request);
        using var stopping = _stopping.Token.UnsafeRegister(static s => ((TransferRequest)s!).Abort(TransferErrorKind.AgentStopped), request);
        var revoked = new CancellationTokenRegistration[leases.Count];
        for (var i = 0; i < leases.Count; i++)
        {
            revoked[i] = leases[i].Revoked.UnsafeRegister(static s => ((TransferRequest)s!).Abort(TransferErrorKind.AgentStopped), request);
        }

        TransferOutcome outcome;
        try
        {
            outcome = await backend.TransferAsync(job, request.AbortToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (request.AbortToken.IsCancellationRequested)
        {
            outcome = TransferOutcome.Fail(TransferErrorKind.Cancelled, "cancelled");
        }
        catch (Exception e)
        {
            // A backend bug must still end the transfer as a status, never take the process or the caller down.
            TransferLog.BackendCrashed(_logger, e, Name, backend.Kind, request.Id);
            outcome = TransferOutcome.Fail(TransferErrorKind.BackendError, $"{e.GetType().Name}: {e.Message}");
        }

        // Off the in-flight table before the result is published: whoever sees a transfer end sees the agent no
        // longer count it (a busy run once read the count between the two and found a finished read still there). The
        // result is set before the leases go, so a region's Dispose returning means its transfers have results.
        _inFlight.TryRemove(request.Id, out _);
        try
        {
            Finish(request, Conclude(request, job, outcome, Stopwatch.GetElapsedTime(started), timeout));
        }
        finally
        {
            foreach (var r in revoked)
            {
                r.Dispose();
            }

            leases.ReleaseAll();
            ArrayPool<TransferDescriptor>.Shared.Return(job.Local);
            ArrayPool<TransferDescriptor>.Shared.Return(job.Remote);
        }
    }

    private TransferResult Conclude(TransferRequest request, TransferJob job, TransferOutcome outcome, TimeSpan elapsed, TimeSpan timeout)
    {
        var backend = job.Peer.Backend;
        if (outcome.IsSuccess)
        {
            backend.Cost.Observe(request.Bytes, elapsed);
            return new TransferResult { Status = TransferStatus.Completed, Bytes = request.Bytes, Elapsed = elapsed, Backend = backend.Kind };
        }

        var (error, message) = request.AbortReason switch
        {
            TransferErrorKind.Cancelled => (TransferErrorKind.Cancelled, "cancelled by the caller"),
            TransferErrorKind.Timeout => (TransferErrorKind.Timeout, $"not finished within {timeout.TotalMilliseconds:F0} ms ({outcome.Error}: {outcome.Message})"),
            TransferErrorKind.AgentStopped => (TransferErrorKind.AgentStopped, "the agent stopped or a region was deregistered during the transfer"),
            _ => (outcome.Error, outcome.Message),
        };
        if (error == TransferErrorKind.StaleMetadata)
        {
            DropStale(job.Peer);
        }

        var result = new TransferResult
        {
            Status = error == TransferErrorKind.Cancelled ? TransferStatus.Cancelled : TransferStatus.Failed,
            Error = error,
            Message = message,
            Bytes = request.Bytes,
            Elapsed = elapsed,
            Backend = backend.Kind,
        };
        if (result.Status == TransferStatus.Failed)
        {
            TransferLog.TransferFailed(_logger, request.Id, request.Operation, request.Bytes, request.RemoteAgent, backend.Kind.ToString(), error, message);
        }

        return result;
    }

    private TransferRequest Fail(TransferRequest request, TransferErrorKind error, string message, long started, TransferBackendKind? backend)
    {
        TransferLog.TransferFailed(_logger, request.Id, request.Operation, request.Bytes, request.RemoteAgent, backend?.ToString() ?? "none", error, message);
        return Finish(request, new TransferResult
        {
            Status = TransferStatus.Failed,
            Error = error,
            Message = message,
            Bytes = request.Bytes,
            Elapsed = Stopwatch.GetElapsedTime(started),
            Backend = backend,
        });
    }

    private static TransferRequest Finish(TransferRequest request, TransferResult result)
    {
        request.TryComplete(result);
        return request;
    }

    private void DropStale(RemotePeer peer)
    {
        if (_peers.TryRemove(new KeyValuePair<string, RemotePeer>(peer.Name, peer)))
        {
            peer.Backend.ForgetPeer(peer.Name, peer.Incarnation);
            TransferLog.PeerStale(_logger, Name, peer.Name, peer.Incarnation);
        }
    }

    /// <summary>Sends a notification on its own (NIXL's <c>genNotif</c>). Never throws for a transfer problem; the result says what happened.</summary>
    public async Task<TransferResult> SendNotificationAsync(string remoteAgent, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remoteAgent);
        if (message.Length > _options.MaxNotificationBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(message), message.Length, $"notifications are limited to {_options.MaxNotificationBytes} bytes");
        }

        var started = Stopwatch.GetTimestamp();
        if (!_peers.TryGetValue(remoteAgent, out var peer))
        {
            return new TransferResult { Status = TransferStatus.Failed, Error = TransferErrorKind.UnknownAgent, Message = $"no metadata loaded for agent '{remoteAgent}'" };
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        timeout.CancelAfter(_options.DefaultTimeout);
        TransferOutcome outcome;
        try
        {
            outcome = await peer.Backend.NotifyAsync(peer, message.ToArray(), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            outcome = cancellationToken.IsCancellationRequested
                ? TransferOutcome.Fail(TransferErrorKind.Cancelled, "cancelled by the caller")
                : TransferOutcome.Fail(TransferErrorKind.Timeout, $"not delivered within {_options.DefaultTimeout.TotalMilliseconds:F0} ms");
        }

        if (!outcome.IsSuccess)
        {
            if (outcome.Error == TransferErrorKind.StaleMetadata)
            {
                DropStale(peer);
            }

            TransferLog.NotifyFailed(_logger, Name, remoteAgent, outcome.Error, outcome.Message);
        }

        return new TransferResult
        {
            Status = outcome.IsSuccess ? TransferStatus.Completed : outcome.Error == TransferErrorKind.Cancelled ? TransferStatus.Cancelled : TransferStatus.Failed,
            Error = outcome.Error,
            Message = outcome.Message,
            Bytes = message.Length,
            Elapsed = Stopwatch.GetElapsedTime(started),
            Backend = peer.Backend.Kind,
        };
    }

    /// <summary>
    /// How long a transfer of these lists with <paramref name="remoteAgent"/> should take (NIXL's <c>estimateXferCost</c>);
    /// null when the agent's metadata is not loaded.
    /// </summary>
    public TransferCostEstimate? EstimateCost(DescriptorList local, DescriptorList remote, string remoteAgent)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(remote);
        if (!_peers.TryGetValue(remoteAgent, out var peer))
        {
            return null;
        }

        var l = local.ToMerged();
        var r = remote.ToMerged();
        var segments = peer.Backend.Kind == TransferBackendKind.Tcp ? Math.Max(1, r.Count) : SegmentWalker.Count(l.AsSpan(), r.AsSpan());
        return peer.Backend.Cost.Estimate(peer.Backend.Kind, (long)Math.Min(local.TotalBytes, long.MaxValue), segments);
    }

    /// <summary>A backend's endpoint changed (UCX replaced its worker): peers need the new metadata.</summary>
    internal void OnEndpointChanged()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            MetadataChanged?.Invoke(this);
        }
    }

    /// <summary>Backends hand notifications here from their receive loops.</summary>
    internal void Deliver(string fromAgent, byte[] message) => _notifications.Writer.TryWrite(new TransferNotification(fromAgent, message));

    internal void LogRejected(string peer, TransferBackendKind backend, TransferErrorKind error, string? message) =>
        TransferLog.RejectedRemote(_logger, Name, peer, backend, error, message);

    /// <summary>Transfers posted and not yet finished.</summary>
    internal int InFlightCount => _inFlight.Count;

    /// <summary>Aborts in-flight transfers (they end <see cref="TransferErrorKind.AgentStopped"/>), stops the backends and deregisters every region.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var request in _inFlight.Values)
        {
            await request.Completion.ConfigureAwait(false);
        }

        foreach (var backend in _backends)
        {
            await backend.StopAsync().ConfigureAwait(false);
        }

        Grants.Clear();
        foreach (var region in Regions.All.ToArray())
        {
            Deregister(region);
        }

        foreach (var backend in _backends)
        {
            await backend.DisposeAsync().ConfigureAwait(false);
        }

        _notifications.Writer.TryComplete();
    }
}
