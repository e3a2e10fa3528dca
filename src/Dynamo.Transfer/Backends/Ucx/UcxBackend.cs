using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Dynamo.Transfer.Memory;
using Dynamo.Transfer.Metadata;
using static Dynamo.Transfer.Backends.Ucx.UcxNative;

namespace Dynamo.Transfer.Backends.Ucx;

/// <summary>
/// Transfers through UCX (<c>libucp</c>): one context and one worker per agent, endpoints made from peers' worker
/// addresses, regions mapped with <c>ucp_mem_map</c> and published as packed remote keys, one-sided
/// <c>ucp_get_nbx</c>/<c>ucp_put_nbx</c> per segment, notifications as active messages. The worker is single-threaded:
/// a dedicated thread owns it, runs commands posted by other threads, progresses it, and polls requests; it sleeps on
/// the worker's event fd when idle. A timed-out or cancelled transfer force-closes its endpoint, which completes the
/// endpoint's requests as cancelled; the transfer ends only when every request has, so local memory is never
/// written after the status is set.
/// </summary>
internal sealed unsafe class UcxBackend : TransferBackend
{
    private const uint NotifyAmId = 17;
    private static readonly TimeSpan BusyWindowInFlight = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan BusyWindowIdle = TimeSpan.FromMilliseconds(2);

    private readonly TransferAgent _agent;
    private readonly nint _context;
    private readonly ConcurrentQueue<Action<bool>> _commands = new();
    private readonly Dictionary<Guid, UcxPeer> _peers = [];
    private readonly List<UcxOp> _inFlight = [];
    private readonly HashSet<UcxTransfer> _running = [];
    private readonly HashSet<UcxTransfer> _abandoned = [];
    private readonly HashSet<UcxPeer> _closing = [];
    private readonly Lock _signalGate = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ManualResetEventSlim _ready = new(false);
    private readonly bool _peerFailureHandling;
    private nint _worker;
    private int _efd = -1;
    private GCHandle _self;
    private string? _startError;
    private volatile BackendEndpoint? _endpoint;
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);
    private volatile bool _stopping;
    private long _stopStarted;
    private bool _workerGone;

    private UcxBackend(TransferAgent agent, nint context)
        : base(TransferBackendKind.Ucx, 10e9, TimeSpan.FromMicroseconds(10))
    {
        _agent = agent;
        _context = context;
        _peerFailureHandling = agent.Options.UcxPeerFailureHandling;
        _thread = new Thread(Run) { IsBackground = true, Name = $"ucx-progress {agent.Name}" };
    }

    public override BackendEndpoint Endpoint => _endpoint!;

    /// <summary>True when <c>libucp.so.0</c> (Debian <c>libucx0</c>) can be loaded.</summary>
    public static bool IsLibraryAvailable(out string? reason)
    {
        PrepareEnvironment();
        if (!NativeLibrary.TryLoad(Ucp, typeof(UcxBackend).Assembly, null, out var handle))
        {
            reason = $"{Ucp} cannot be loaded (install UCX: apt-get install -y libucx0)";
            return false;
        }

        NativeLibrary.Free(handle);
        uint major, minor, release;
        ucp_get_version(&major, &minor, &release);
        if (major < 1 || (major == 1 && minor < 10))
        {
            reason = $"UCX {major}.{minor}.{release} is older than 1.10";
            return false;
        }

        reason = null;
        return true;
    }

    public static UcxBackend? TryStart(TransferAgent agent, out string? reason)
    {
        if (!IsLibraryAvailable(out reason))
        {
            return null;
        }

        uint major, minor, release;
        ucp_get_version(&major, &minor, &release);
        nint config;
        var status = ucp_config_read(null, null, &config);
        if (status != Ok)
        {
            reason = "ucp_config_read: " + StatusText(status);
            return null;
        }

        nint context;
        try
        {
            if (agent.Options.UcxTransports is { } tls)
            {
                status = Modify(config, "TLS", tls);
                if (status != Ok)
                {
                    reason = $"UCX TLS={tls}: " + StatusText(status);
                    return null;
                }
            }

            var name = Encoding.UTF8.GetBytes(agent.Name + "\0");
            fixed (byte* namePointer = name)
            {
                var parameters = new UcpParams
                {
                    FieldMask = ParamFieldFeatures | ParamFieldMtWorkersShared | ParamFieldName,
                    Features = FeatureRma | FeatureAm | FeatureWakeup,
                    MtWorkersShared = 1,
                    Name = namePointer,
                };
                status = ucp_init_version(major, Math.Min(minor, major == 1 ? 13u : minor), &parameters, config, &context);
            }
        }
        finally
        {
            ucp_config_release(config);
        }

        if (status != Ok)
        {
            reason = "ucp_init: " + StatusText(status);
            return null;
        }

        var backend = new UcxBackend(agent, context);
        backend._thread.Start();
        backend._ready.Wait();
        if (backend._startError is { } error)
        {
            backend._thread.Join();
            ucp_cleanup(context);
            reason = error;
            return null;
        }

        return backend;
    }

    private static sbyte Modify(nint config, string key, string value)
    {
        var k = Encoding.UTF8.GetBytes(key + "\0");
        var v = Encoding.UTF8.GetBytes(value + "\0");
        fixed (byte* kp = k)
        fixed (byte* vp = v)
        {
            return ucp_config_modify(config, kp, vp);
        }
    }

    public override bool CanReach(AgentMetadata metadata) => metadata.EndpointFor(TransferBackendKind.Ucx) is { Address.Length: > 0 };

    public override byte[]? RegisterRegion(MemoryRegion region)
    {
        var prot = ProtLocalRead | ProtLocalWrite;
        prot |= (region.Access & RemoteAccess.Read) != 0 ? ProtRemoteRead : 0;
        prot |= (region.Access & RemoteAccess.Write) != 0 ? ProtRemoteWrite : 0;
        var parameters = new MemMapParams
        {
            FieldMask = MemMapParamFieldAddress | MemMapParamFieldLength | MemMapParamFieldProt,
            Address = region.Address,
            Length = (nuint)region.Length,
            Prot = prot,
        };
        nint memh;
        var status = ucp_mem_map(_context, &parameters, &memh);
        if (status != Ok)
        {
            throw new InvalidOperationException($"ucp_mem_map of {region} failed: {StatusText(status)}");
        }

        nint packed;
        nuint size;
        status = ucp_rkey_pack(_context, memh, &packed, &size);
        if (status != Ok)
        {
            ucp_mem_unmap(_context, memh);
            throw new InvalidOperationException($"ucp_rkey_pack of {region} failed: {StatusText(status)}");
        }

        var key = new ReadOnlySpan<byte>((void*)packed, checked((int)size)).ToArray();
        ucp_rkey_buffer_release(packed);
        region.UcxMemoryHandle = memh;
        return key;
    }

    public override void DeregisterRegion(MemoryRegion region)
    {
        if (region.UcxMemoryHandle != 0)
        {
            ucp_mem_unmap(_context, region.UcxMemoryHandle);
            region.UcxMemoryHandle = 0;
        }
    }

    public override ValueTask<TransferOutcome> TransferAsync(TransferJob job, CancellationToken cancellationToken) =>
        Submit(new UcxTransfer { Job = job, RemotePeer = job.Peer, Notification = job.Notification }, cancellationToken);

    public override ValueTask<TransferOutcome> NotifyAsync(RemotePeer peer, byte[] message, CancellationToken cancellationToken) =>
        Submit(new UcxTransfer { RemotePeer = peer, Notification = message }, cancellationToken);

    private ValueTask<TransferOutcome> Submit(UcxTransfer transfer, CancellationToken cancellationToken)
    {
        Post(alive =>
        {
            if (alive)
            {
                Start(transfer);
            }
            else
            {
                transfer.Done.TrySetResult(TransferOutcome.Fail(TransferErrorKind.AgentStopped, "the UCX worker has stopped"));
            }
        });
        transfer.Cancellation = cancellationToken.UnsafeRegister(static (state, _) =>
        {
            var (backend, t) = ((UcxBackend, UcxTransfer))state!;
            backend.Post(alive =>
            {
                if (alive)
                {
                    backend.Abort(t);
                }
            });
        }, (this, transfer));
        return new ValueTask<TransferOutcome>(transfer.Done.Task);
    }

    public override void ForgetPeer(string name, Guid incarnation) => Post(alive =>
    {
        if (alive && _peers.TryGetValue(incarnation, out var peer))
        {
            Close(peer);
        }
    });

    /// <summary>Runs <paramref name="command"/> on the progress thread (argument true), or inline with false once the worker is gone.</summary>
    private void Post(Action<bool> command)
    {
        _commands.Enqueue(command);
        lock (_signalGate)
        {
            if (!_workerGone)
            {
                ucp_worker_signal(_worker);
                return;
            }
        }

        DrainCommands(alive: false);
    }

    private bool DrainCommands(bool alive)
    {
        var any = false;
        while (_commands.TryDequeue(out var command))
        {
            command(alive);
            any = true;
        }

        return any;
    }

    private void Run()
    {
        if (!CreateWorker())
        {
            _ready.Set();
            return;
        }

        _ready.Set();
        var lastWork = Stopwatch.GetTimestamp();
        try
        {
            while (_worker != 0)
            {
                var worked = DrainCommands(alive: true);
                if (_worker == 0)
                {
                    break;
                }

                while (ucp_worker_progress(_worker) != 0)
                {
                    worked = true;
                }

                worked |= PollRequests();
                if (_stopping && _commands.IsEmpty && (_inFlight.Count == 0 || Stopwatch.GetElapsedTime(_stopStarted) > StopGrace))
                {
                    // Requests still out after the grace period belong to abandoned transfers; destroying the worker ends them.
                    break;
                }

                if (worked)
                {
                    lastWork = Stopwatch.GetTimestamp();
                    continue;
                }

                // Keep polling for a while after the last event: peers' requests (a get over TCP, a rendezvous) need
                // this side to answer, and a sleep per fragment would cost a wake-up each.
                var quiet = Stopwatch.GetElapsedTime(lastWork);
                if (quiet < (_inFlight.Count > 0 ? BusyWindowInFlight : BusyWindowIdle))
                {
                    Thread.Yield();
                    continue;
                }

                if (ucp_worker_arm(_worker) == ErrBusy || !_commands.IsEmpty)
                {
                    continue;
                }

                // Short sleeps even when idle: a peer's put, flush or notification over shared memory needs this side
                // to progress, and the shared-memory transports do not always signal the event fd (measured: a WRITE's
                // flush waited out 100 ms sleeps).
                var fd = new PollFd { Fd = _efd, Events = 1 };
                poll(&fd, 1, 1);
            }
        }
        finally
        {
            foreach (var peer in _peers.Values.ToArray())
            {
                DestroyKeys(peer);
            }

            lock (_signalGate)
            {
                _workerGone = true;
                if (_worker != 0)
                {
                    ucp_worker_destroy(_worker);
                }
            }

            ReleaseAbandonedRequests();

            if (_self.IsAllocated)
            {
                _self.Free();
            }

            DrainCommands(alive: false);
            _exited.TrySetResult();
        }
    }

    private bool CreateWorker()
    {
        var parameters = new WorkerParams { FieldMask = WorkerParamFieldThreadMode, ThreadMode = ThreadModeSingle };
        nint worker;
        var status = ucp_worker_create(_context, &parameters, &worker);
        if (status != Ok)
        {
            _startError = "ucp_worker_create: " + StatusText(status);
            return false;
        }

        nint address;
        nuint length;
        int efd;
        status = ucp_worker_get_address(worker, &address, &length);
        if (status == Ok)
        {
            _endpoint = new BackendEndpoint(TransferBackendKind.Ucx, new ReadOnlySpan<byte>((void*)address, checked((int)length)).ToArray());
            ucp_worker_release_address(worker, address);
            status = ucp_worker_get_efd(worker, &efd);
            _efd = efd;
        }

        if (status == Ok)
        {
            if (!_self.IsAllocated)
            {
                _self = GCHandle.Alloc(this);
            }

            var handler = new AmHandlerParam
            {
                FieldMask = AmHandlerParamFieldId | AmHandlerParamFieldFlags | AmHandlerParamFieldCb | AmHandlerParamFieldArg,
                Id = NotifyAmId,
                Flags = AmFlagWholeMsg,
                Callback = &OnNotification,
                Arg = GCHandle.ToIntPtr(_self),
            };
            status = ucp_worker_set_am_recv_handler(worker, &handler);
        }

        if (status != Ok)
        {
            _startError = "UCX worker set-up: " + StatusText(status);
            ucp_worker_destroy(worker);
            return false;
        }

        _worker = worker;
        return true;
    }

    private UcxPeer? Connect(RemotePeer remote, out TransferOutcome failure)
    {
        failure = default;
        if (_peers.TryGetValue(remote.Incarnation, out var peer))
        {
            if (peer.Error == Ok && !peer.Closing)
            {
                return peer;
            }

            // The endpoint failed (peer died or restarted): close it and try a fresh one.
            Close(peer);
        }

        var address = remote.Metadata.EndpointFor(TransferBackendKind.Ucx)!.Address;
        peer = new UcxPeer(remote.Name, remote.Incarnation);
        peer.Handle = GCHandle.Alloc(peer);
        nint ep;
        sbyte status;
        fixed (byte* a = address)
        {
            var parameters = new EpParams
            {
                FieldMask = EpParamFieldRemoteAddress | EpParamFieldErrHandlingMode | EpParamFieldErrHandler,
                Address = (nint)a,
                ErrMode = _peerFailureHandling ? ErrHandlingModePeer : 0,
                ErrHandlerCallback = &OnEndpointError,
                ErrHandlerArg = GCHandle.ToIntPtr(peer.Handle),
            };
            status = ucp_ep_create(_worker, &parameters, &ep);
        }

        if (status != Ok)
        {
            peer.Handle.Free();
            failure = TransferOutcome.Fail(TransferErrorKind.PeerUnreachable, $"ucp_ep_create to agent '{remote.Name}': {StatusText(status)}");
            return null;
        }

        peer.Endpoint = ep;
        _peers[remote.Incarnation] = peer;
        return peer;
    }

    private nint RemoteKey(UcxPeer peer, RemotePeer remote, int region, out TransferOutcome failure)
    {
        failure = default;
        if (peer.RemoteKeys.TryGetValue(region, out var rkey))
        {
            return rkey;
        }

        var packed = remote.Region(region)?.KeyFor(TransferBackendKind.Ucx);
        if (packed is null || packed.Length == 0)
        {
            failure = TransferOutcome.Fail(TransferErrorKind.InvalidDescriptor, $"agent '{remote.Name}' published no UCX key for region {region}");
            return 0;
        }

        sbyte status;
        fixed (byte* p = packed)
        {
            status = ucp_ep_rkey_unpack(peer.Endpoint, p, &rkey);
        }

        if (status != Ok)
        {
            failure = TransferOutcome.Fail(TransferErrorKind.BackendError, $"ucp_ep_rkey_unpack for region {region} of agent '{remote.Name}': {StatusText(status)}");
            return 0;
        }

        peer.RemoteKeys[region] = rkey;
        return rkey;
    }

    private void Start(UcxTransfer t)
    {
        if (_stopping)
        {
            Complete(t, TransferOutcome.Fail(TransferErrorKind.AgentStopped, "the agent is stopping"));
            return;
        }

        var peer = Connect(t.RemotePeer, out var failure);
        if (peer is null)
        {
            Complete(t, failure);
            return;
        }

        t.Peer = peer;
        _running.Add(t);
        if (t.Job is { } job)
        {
            // Held until UCX has finished every request of the transfer, which can be after the transfer's result
            // (see Abort): the region cannot be deregistered and freed while UCX may still write into it.
            if (_agent.Regions.TryLease(job.LocalSpan, RemoteAccess.None, t.Leases, out var leaseError) != TransferErrorKind.None)
            {
                Complete(t, TransferOutcome.Fail(TransferErrorKind.AgentStopped, leaseError ?? "local region deregistered"));
                return;
            }

            var parameters = default(RequestParam);
            var walker = new SegmentWalker(job.LocalSpan, job.RemoteSpan);
            while (walker.Next(out var localAddress, out var remoteAddress, out var length, out var region))
            {
                var rkey = RemoteKey(peer, t.RemotePeer, region, out failure);
                if (rkey == 0)
                {
                    t.Error = failure;
                    break;
                }

                var request = job.Operation == TransferOperation.Read
                    ? ucp_get_nbx(peer.Endpoint, (nint)localAddress, (nuint)length, remoteAddress, rkey, &parameters)
                    : ucp_put_nbx(peer.Endpoint, (nint)localAddress, (nuint)length, remoteAddress, rkey, &parameters);
                if (!Track(t, request, 0))
                {
                    break;
                }
            }
        }

        Advance(t);
    }

    /// <summary>Records a request's immediate result or queues it for polling. False when it failed at once.</summary>
    private bool Track(UcxTransfer t, nint request, nint nativeBuffer)
    {
        if (IsRequest(request))
        {
            _inFlight.Add(new UcxOp(request, UcxOpKind.Transfer, t, t.Peer!, nativeBuffer));
            t.Pending++;
            t.Peer!.Outstanding++;
            return true;
        }

        if (nativeBuffer != 0)
        {
            NativeMemory.Free((void*)nativeBuffer);
        }

        if (IsError(request))
        {
            t.Error ??= Failure(t, ErrorOf(request));
            return false;
        }

        return true;
    }

    private TransferOutcome Failure(UcxTransfer t, sbyte status) => status == ErrCanceled
        ? TransferOutcome.Fail(t.Aborted ? TransferErrorKind.Cancelled : TransferErrorKind.PeerDisconnected, $"UCX request to agent '{t.RemotePeer.Name}' cancelled (endpoint closed)")
        : TransferOutcome.Fail(status is <= -20 and > -90 ? TransferErrorKind.PeerDisconnected : TransferErrorKind.BackendError,
            $"UCX request to agent '{t.RemotePeer.Name}' failed: {StatusText(status)}");

    /// <summary>Moves a transfer to its next stage once its outstanding requests are done.</summary>
    private void Advance(UcxTransfer t)
    {
        while (t.Pending == 0 && t.Stage != UcxStage.Done)
        {
            if (t.Error is { } error)
            {
                Complete(t, error);
                return;
            }

            if (t.Aborted)
            {
                Complete(t, TransferOutcome.Fail(TransferErrorKind.Cancelled, "cancelled"));
                return;
            }

            var parameters = default(RequestParam);
            switch (t.Stage)
            {
                case UcxStage.Data when t.Job?.Operation == TransferOperation.Write:
                    // A put completes locally before it lands remotely: flush, so a completed WRITE (and its
                    // notification) means the bytes are in the peer's memory.
                    t.Stage = UcxStage.Flush;
                    Track(t, ucp_ep_flush_nbx(t.Peer!.Endpoint, &parameters), 0);
                    break;
                case UcxStage.Data or UcxStage.Flush when t.Notification is null:
                    Complete(t, TransferOutcome.Success);
                    return;
                case UcxStage.Data:
                case UcxStage.Flush:
                    t.Stage = UcxStage.Notify;
                    SendNotification(t);
                    break;
                case UcxStage.Notify:
                    Complete(t, TransferOutcome.Success);
                    return;
            }
        }
    }

    private void SendNotification(UcxTransfer t)
    {
        var name = Encoding.UTF8.GetBytes(_agent.Name);
        var message = t.Notification!;
        var buffer = (byte*)NativeMemory.Alloc((nuint)(name.Length + Math.Max(message.Length, 1)));
        name.CopyTo(new Span<byte>(buffer, name.Length));
        message.CopyTo(new Span<byte>(buffer + name.Length, message.Length));
        var parameters = new RequestParam { OpAttrMask = OpAttrFieldFlags, Flags = AmSendFlagEager };
        var request = ucp_am_send_nbx(t.Peer!.Endpoint, NotifyAmId, (nint)buffer, (nuint)name.Length, (nint)(buffer + name.Length), (nuint)message.Length, &parameters);
        Track(t, request, (nint)buffer);
    }

    private bool PollRequests()
    {
        var any = false;
        for (var i = _inFlight.Count - 1; i >= 0; i--)
        {
            var op = _inFlight[i];
            var status = ucp_request_check_status(op.Request);
            if (status == InProgress)
            {
                continue;
            }

            any = true;
            ucp_request_free(op.Request);
            _inFlight[i] = _inFlight[^1];
            _inFlight.RemoveAt(_inFlight.Count - 1);
            if (op.NativeBuffer != 0)
            {
                NativeMemory.Free((void*)op.NativeBuffer);
            }

            if (op.Kind == UcxOpKind.Close)
            {
                op.Peer.CloseDone = true;
                DestroyKeysWhenIdle(op.Peer);
                continue;
            }

            op.Peer.Outstanding--;
            var t = op.Transfer!;
            t.Pending--;
            if (status != Ok)
            {
                t.Error ??= Failure(t, status);
            }

            DestroyKeysWhenIdle(op.Peer);
            if (t.Stage == UcxStage.Done)
            {
                ReleaseWhenIdle(t); // an abandoned transfer's last request
                if (t.Pending == 0)
                {
                    _abandoned.Remove(t);
                }
            }
            else
            {
                Advance(t);
            }
        }

        return any;
    }

    private void Abort(UcxTransfer t)
    {
        if (t.Done.Task.IsCompleted || t.Aborted)
        {
            return;
        }

        t.Aborted = true;
        if (t.Pending == 0)
        {
            Advance(t);
            return;
        }

        // UCX cannot cancel a get or put. Closing the endpoint by force completes its requests as cancelled when the
        // endpoint handles peer failures; without that (shared memory transports), force-close is not reliable, so
        // the transfer ends now and its requests are abandoned: the backend keeps the local regions leased until
        // UCX finishes them, and a later endpoint replaces this one.
        Close(t.Peer!);
        if (!_peerFailureHandling)
        {
            Complete(t, TransferOutcome.Fail(TransferErrorKind.Cancelled, "abandoned: UCX requests still outstanding"));
            _abandoned.Add(t);
        }
    }

    private void Close(UcxPeer peer)
    {
        if (peer.Closing)
        {
            return;
        }

        peer.Closing = true;
        if (_peers.TryGetValue(peer.Incarnation, out var current) && ReferenceEquals(current, peer))
        {
            _peers.Remove(peer.Incarnation);
        }

        _closing.Add(peer);

        var parameters = new RequestParam { OpAttrMask = OpAttrFieldFlags, Flags = EpCloseFlagForce };
        var request = ucp_ep_close_nbx(peer.Endpoint, &parameters);
        if (IsRequest(request))
        {
            _inFlight.Add(new UcxOp(request, UcxOpKind.Close, null, peer, 0));
        }
        else
        {
            peer.CloseDone = true;
        }

        DestroyKeysWhenIdle(peer);
    }

    private void DestroyKeysWhenIdle(UcxPeer peer)
    {
        if (peer.CloseDone && peer.Outstanding == 0)
        {
            DestroyKeys(peer);
        }
    }

    private void DestroyKeys(UcxPeer peer)
    {
        if (peer.CloseDone)
        {
            _closing.Remove(peer);
        }

        foreach (var rkey in peer.RemoteKeys.Values)
        {
            ucp_rkey_destroy(rkey);
        }

        peer.RemoteKeys.Clear();
        if (peer.Handle.IsAllocated && peer.CloseDone)
        {
            peer.Handle.Free();
        }
    }

    private void Complete(UcxTransfer t, TransferOutcome outcome)
    {
        t.Stage = UcxStage.Done;
        _running.Remove(t);
        t.Cancellation.Unregister();
        t.Done.TrySetResult(outcome);
        ReleaseWhenIdle(t);
    }

    private static void ReleaseWhenIdle(UcxTransfer t)
    {
        if (t.Pending == 0)
        {
            t.Leases.ReleaseAll();
        }
    }

    /// <summary>
    /// A region is being deregistered. Requests abandoned after a timeout may still hold it, and only destroying the
    /// worker ends them for sure, so the worker is replaced (new address, metadata republished) when they do.
    /// </summary>
    public override void OnRegionRevoked(MemoryRegion region) => Post(alive =>
    {
        if (alive && _abandoned.Any(t => t.Leases.Contains(region)))
        {
            RestartWorker();
        }
    });

    private void RestartWorker()
    {
        var failure = TransferOutcome.Fail(TransferErrorKind.PeerDisconnected, "the UCX worker was replaced to end requests abandoned after a timeout");
        foreach (var t in _running.ToArray())
        {
            Complete(t, failure);
        }

        foreach (var peer in _peers.Values)
        {
            foreach (var rkey in peer.RemoteKeys.Values)
            {
                ucp_rkey_destroy(rkey);
            }

            peer.RemoteKeys.Clear();
        }

        lock (_signalGate)
        {
            ucp_worker_destroy(_worker);
            ReleaseAbandonedRequests();
            foreach (var peer in _peers.Values.Concat(_closing))
            {
                if (peer.Handle.IsAllocated)
                {
                    peer.Handle.Free();
                }
            }

            _peers.Clear();
            _closing.Clear();
            if (!CreateWorker())
            {
                // Without a worker the backend cannot move bytes: stop the loop; later transfers fail at once.
                _worker = 0;
                _workerGone = true;
                _stopping = true;
                return;
            }
        }

        ThreadPool.QueueUserWorkItem(static agent => agent.OnEndpointChanged(), _agent, preferLocal: false);
    }

    /// <summary>After the worker is destroyed: UCX touches no memory any more, so what requests held is freed.</summary>
    private void ReleaseAbandonedRequests()
    {
        foreach (var op in _inFlight)
        {
            if (op.NativeBuffer != 0)
            {
                NativeMemory.Free((void*)op.NativeBuffer);
            }

            if (op.Transfer is { } t)
            {
                t.Pending = 0;
                t.Leases.ReleaseAll();
            }
        }

        foreach (var t in _running.Concat(_abandoned))
        {
            t.Pending = 0;
            t.Leases.ReleaseAll();
        }

        _inFlight.Clear();
        _abandoned.Clear();
    }

    [UnmanagedCallersOnly]
    private static void OnEndpointError(nint arg, nint ep, sbyte status)
    {
        try
        {
            if (GCHandle.FromIntPtr(arg).Target is UcxPeer peer)
            {
                peer.Error = status;
            }
        }
        catch (InvalidOperationException)
        {
            // The handle was freed: the endpoint is already closed.
        }
    }

    [UnmanagedCallersOnly]
    private static sbyte OnNotification(nint arg, nint header, nuint headerLength, nint data, nuint length, AmRecvParam* param)
    {
        try
        {
            if (GCHandle.FromIntPtr(arg).Target is not UcxBackend backend || headerLength > AgentMetadata.MaxNameBytes
                || length > (nuint)backend._agent.Options.MaxNotificationBytes || (param->RecvAttr & AmRecvAttrFlagRndv) != 0)
            {
                return Ok;
            }

            var from = Encoding.UTF8.GetString((byte*)header, (int)headerLength);
            var message = new ReadOnlySpan<byte>((void*)data, (int)length).ToArray();
            backend._agent.Deliver(from, message);
        }
        catch (Exception)
        {
            // An exception must not unwind into UCX; a malformed notification is dropped.
        }

        return Ok;
    }

    public override ValueTask DisposeAsync()
    {
        ucp_cleanup(_context);
        return ValueTask.CompletedTask;
    }

    /// <summary>Aborts what runs, closes every endpoint and destroys the worker; the context stays for deregistration.</summary>
    public override ValueTask StopAsync()
    {
        _stopStarted = Stopwatch.GetTimestamp();
        _stopping = true;
        Post(alive =>
        {
            if (!alive)
            {
                return;
            }

            foreach (var t in _running.ToArray())
            {
                Abort(t);
            }

            foreach (var peer in _peers.Values.ToArray())
            {
                Close(peer);
            }
        });
        return new ValueTask(_exited.Task);
    }
}
