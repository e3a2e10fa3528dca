using System.Text.Json;
using Dynamo.Contracts.Discovery;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Metadata;
using Dynamo.Runtime.Observability;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace Dynamo.Runtime.Nats;

/// <summary>
/// Discovery in a JetStream KV bucket (<see cref="NatsOptions.DiscoveryBucket"/>): one key per instance
/// (<c>component.instance-id</c>), its value the instance and its lease. The owner renews the lease with a heartbeat
/// (a put every <see cref="NatsOptions.HeartbeatInterval"/>); every process watches the bucket and drops an instance
/// whose heartbeats stopped for its lease, or at once when its owner deletes the key on a graceful stop.
/// </summary>
/// <remarks>
/// <para>
/// Only members of the deployment can register: every value is signed with the cluster secret
/// (<see cref="DiscoveryRecord"/>), and a value that is unsigned or signed with another secret is ignored, counted in
/// <see cref="Rejections"/> and logged (one line per key and reason per minute). It does not renew or replace what
/// the key held before. A delete cannot be signed: whoever may write the bucket can still make an instance leave
/// until its owner's next heartbeat puts it back.
/// </para>
/// <para>
/// Leases are timed by each observer on its own monotonic clock from the heartbeats it receives: JetStream 2.9 removes
/// expired values (the bucket's max age is the lease) without telling watchers, and clocks differ between machines.
/// </para>
/// <para>
/// Cut off from NATS, an observer keeps serving its last-known view and expires nothing (it could not have seen the
/// heartbeats, and it checks the server is reachable before it drops anyone). When the connection returns it starts a
/// fresh watch of the bucket, gives every known instance one full lease to show it is alive, and re-puts its own
/// registrations at once (the bucket may have been lost with a memory-storage server).
/// </para>
/// </remarks>
public sealed class NatsDiscovery : IDiscovery, IAsyncDisposable
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;
    private static readonly TimeSpan ReachabilityTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxSweepWait = TimeSpan.FromSeconds(1);

    private readonly INatsConnection _connection;
    private readonly INatsKVContext _kv;
    private readonly NatsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _bucket;
    private readonly ClusterSecret _secret;
    private readonly LogThrottle _rejectionLog;

    // Guards the table, the snapshot, the waiters and the connection state; changes are raised under it so
    // observers see them one at a time and in order.
    private readonly Lock _gate = new();
    private readonly LeaseTable _table = new();
    private readonly List<Waiter> _waiters = [];
    private IReadOnlyList<WorkerInstance> _snapshot = [];
    private TaskCompletionSource _synchronized = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disconnected;
    private long _disconnectedAt;

    // Serializes writes to the bucket (register, heartbeat, delete) so a heartbeat never re-creates a deleted key.
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly Dictionary<string, Registration> _registrations = new(StringComparer.Ordinal);
    private readonly HashSet<string> _failingHeartbeats = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _heartbeatNow = new(0, 1);

    private readonly CancellationTokenSource _stop = new();
    private CancellationTokenSource _watch;
    private INatsKVStore? _store;
    private Task _watchLoop = Task.CompletedTask;
    private Task _heartbeatLoop = Task.CompletedTask;
    private Task _sweepLoop = Task.CompletedTask;
    private int _synchronizations;
    private int _disposed;

    internal NatsDiscovery(
        INatsConnection connection, INatsKVContext kv, NatsOptions options, ClusterSecret secret, SignatureRejections rejections, TimeProvider time, ILogger logger)
    {
        _secret = secret;
        Rejections = rejections;
        _rejectionLog = new LogThrottle(TimeSpan.FromMinutes(1), time);
        _connection = connection;
        _kv = kv;
        _options = options;
        _time = time;
        _logger = logger;
        _bucket = options.DiscoveryBucket();
        _watch = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
    }

    public event Action<DiscoveryChange>? Changed;

    /// <summary>True while the connection is up and the watch has delivered the bucket's current contents.</summary>
    public bool IsSynchronized
    {
        get
        {
            lock (_gate)
            {
                return !_disconnected && _synchronized.Task.IsCompleted;
            }
        }
    }

    /// <summary>How many times the watch has (re)delivered the bucket's contents: 1 after start, +1 per reconnection.</summary>
    public int Synchronizations => Volatile.Read(ref _synchronizations);

    public IReadOnlyList<WorkerInstance> GetInstances() => Volatile.Read(ref _snapshot);

    /// <summary>Records (and, on the same connection, events and transfer metadata) dropped because their signature did not verify.</summary>
    public SignatureRejections Rejections { get; }

    /// <summary>
    /// Puts <paramref name="instance"/> in the bucket (failing if its key is taken) and keeps it there with heartbeats
    /// until the returned lease is disposed, which deletes it. Returns once this process's own view shows it.
    /// </summary>
    public async ValueTask<IAsyncDisposable> RegisterAsync(WorkerInstance instance, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(instance);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var key = KeyOf(instance);
        var value = new DiscoveryRecord(instance, (long)_options.LeaseTtl.TotalMilliseconds).Encode(key, _secret);
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_registrations.ContainsKey(key))
            {
                throw new InvalidOperationException($"Instance '{instance.InstanceId}' is already registered.");
            }

            var store = await StoreAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                // Not cancellable once sent: a put cancelled after the server stored it would leave a record this
                // process does not know it holds, there until its lease ran out instead of deleted on dispose.
                await store.CreateAsync(key, value, Raw, CancellationToken.None).ConfigureAwait(false);
            }
            catch (NatsKVCreateException)
            {
                throw new InvalidOperationException($"Instance '{instance.InstanceId}' is already registered (key '{key}' in bucket {_bucket}).");
            }

            _registrations.Add(key, new Registration(instance.InstanceId, value));
        }
        finally
        {
            _writeGate.Release();
        }

        NatsLog.Registered(_logger, instance.InstanceId, instance.Role, instance.Model, instance.Address, _options.LeaseTtl);
        await WaitForAsync(key, present: true, _options.HeartbeatInterval).ConfigureAwait(false);
        return new Lease(this, key, instance.InstanceId);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        KeyValuePair<string, Registration>[] registrations;
        await _writeGate.WaitAsync().ConfigureAwait(false);
        try
        {
            registrations = [.. _registrations];
        }
        finally
        {
            _writeGate.Release();
        }

        // Leaving at once beats leaving at the end of the lease.
        foreach (var (key, registration) in registrations)
        {
            await UnregisterAsync(key, registration.InstanceId, waitForEcho: false).ConfigureAwait(false);
        }

        _connection.ConnectionDisconnected -= OnDisconnectedAsync;
        _connection.ConnectionOpened -= OnOpenedAsync;
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_watchLoop, _heartbeatLoop, _sweepLoop).ConfigureAwait(false);
        _watch.Dispose();
        _stop.Dispose();
        _writeGate.Dispose();
        _heartbeatNow.Dispose();
        lock (_gate)
        {
            foreach (var waiter in _waiters)
            {
                waiter.Done.TrySetResult();
            }

            _waiters.Clear();
        }
    }

    /// <summary>Ensures the bucket, starts the watch, heartbeat and expiry loops, and waits for the first full view.</summary>
    internal async Task StartAsync(CancellationToken cancellationToken)
    {
        _connection.ConnectionDisconnected += OnDisconnectedAsync;
        _connection.ConnectionOpened += OnOpenedAsync;
        await StoreAsync(cancellationToken).ConfigureAwait(false);
        _watchLoop = Task.Run(WatchLoopAsync, CancellationToken.None);
        _heartbeatLoop = Task.Run(HeartbeatLoopAsync, CancellationToken.None);
        _sweepLoop = Task.Run(SweepLoopAsync, CancellationToken.None);
        Task synchronized;
        lock (_gate)
        {
            synchronized = _synchronized.Task;
        }

        await synchronized.WaitAsync(_options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Completes when the view shows this process's registration (or its removal); gives up after <paramref name="timeout"/>.</summary>
    internal async Task WaitForAsync(string key, bool present, TimeSpan timeout)
    {
        Waiter waiter;
        lock (_gate)
        {
            if (_table.Contains(key) == present)
            {
                return;
            }

            waiter = new Waiter(key, present, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            _waiters.Add(waiter);
        }

        try
        {
            await waiter.Done.Task.WaitAsync(timeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The view catches up when the watch does; the caller need not wait for it.
        }
        finally
        {
            lock (_gate)
            {
                _waiters.Remove(waiter);
            }
        }
    }

    /// <summary>Bounds what a forged record can put in a log line.</summary>
    internal static string Clip(string? text) => text is null ? "" : text.Length <= 200 ? text : text[..200] + "…";

    internal static string KeyOf(WorkerInstance instance)
    {
        MetadataKeys.Validate(instance.Component, nameof(instance));
        MetadataKeys.Validate(instance.InstanceId, nameof(instance));
        if (instance.InstanceId.Contains('.', StringComparison.Ordinal) || instance.Component.Contains('.', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Instance '{instance.InstanceId}' of component '{instance.Component}': neither may contain '.'.", nameof(instance));
        }

        return instance.Component + "." + instance.InstanceId;
    }

    private async Task UnregisterAsync(string key, string instanceId, bool waitForEcho)
    {
        var deleted = false;
        await _writeGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_registrations.Remove(key))
            {
                return;
            }

            _failingHeartbeats.Remove(key);
            using var timeout = new CancellationTokenSource(_options.LeaseTtl);
            try
            {
                var store = await StoreAsync(timeout.Token).ConfigureAwait(false);
                await store.DeleteAsync(key, cancellationToken: timeout.Token).ConfigureAwait(false);
                deleted = true;
            }
            catch (Exception ex) when (ex is NatsException or OperationCanceledException)
            {
                NatsLog.UnregisterFailed(_logger, instanceId, ex);
            }
        }
        finally
        {
            _writeGate.Release();
        }

        NatsLog.Unregistered(_logger, instanceId);
        if (deleted && waitForEcho)
        {
            await WaitForAsync(key, present: false, _options.HeartbeatInterval).ConfigureAwait(false);
        }
    }

    private async ValueTask<INatsKVStore> StoreAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _store) is { } store)
        {
            return store;
        }

        store = await NatsBuckets.EnsureAsync(_kv, _bucket, _options, maxAge: _options.LeaseTtl, cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _store, store);
        return store;
    }

    private async Task WatchLoopAsync()
    {
        var failures = 0;
        while (!_stop.IsCancellationRequested)
        {
            CancellationToken token;
            lock (_gate)
            {
                token = _watch.Token;
            }

            // Until the watch has delivered the bucket's contents, each step (finding the bucket, starting the watch,
            // each entry) must come within SyncStallTimeout: a watch started while JetStream is still coming back can
            // hang without failing, and the view would never resynchronize. Once synchronized the watch may idle.
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(token);
            var stall = SyncStallTimeout;
            var synchronizing = !IsWatchSynchronized();
            if (synchronizing)
            {
                attempt.CancelAfter(stall);
            }

            try
            {
                var store = await StoreAsync(attempt.Token).ConfigureAwait(false);
                if (synchronizing)
                {
                    attempt.CancelAfter(stall);
                }

                var options = new NatsKVWatchOpts
                {
                    OnNoData = _ =>
                    {
                        attempt.CancelAfter(Timeout.InfiniteTimeSpan);
                        MarkSynchronized();
                        return ValueTask.FromResult(false);
                    },
                };
                await foreach (var entry in store.WatchAsync<byte[]>(">", Raw, options, attempt.Token).ConfigureAwait(false))
                {
                    Apply(entry);
                    if (entry.Delta == 0)
                    {
                        attempt.CancelAfter(Timeout.InfiniteTimeSpan);
                        synchronizing = false;
                        MarkSynchronized();
                    }
                    else if (synchronizing)
                    {
                        attempt.CancelAfter(stall);
                    }

                    failures = 0;
                }

                if (token.IsCancellationRequested)
                {
                    continue;
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // A reconnection asked for a fresh watch, or the discovery is stopping.
                continue;
            }
            catch (OperationCanceledException) when (attempt.IsCancellationRequested)
            {
                NatsLog.WatchStalled(_logger, _bucket, stall.TotalSeconds);
                Volatile.Write(ref _store, null);
                continue;
            }
            catch (NatsException ex)
            {
                NatsLog.WatchFailed(_logger, _bucket, ex);
                Volatile.Write(ref _store, null);
            }

            // The watch ended or failed: try again, backing off while the server is away.
            failures++;
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(100 * (1 << Math.Min(failures, 4)), 1000)), _time, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Apply(NatsKVEntry<byte[]> entry)
    {
        if (entry.Operation == NatsKVOperation.Put)
        {
            DiscoveryRecord? record;
            try
            {
                record = entry.Value is null ? null : JsonSerializer.Deserialize(entry.Value, DiscoveryJsonContext.Default.DiscoveryRecord);
            }
            catch (JsonException ex)
            {
                NatsLog.BadEntry(_logger, entry.Key, ex);
                return;
            }

            if (record?.Instance is null || record.LeaseTtlMs <= 0)
            {
                NatsLog.BadEntry(_logger, entry.Key, new JsonException("The value has no instance or lease."));
                return;
            }

            if (!record.Verify(entry.Key, _secret))
            {
                var reason = record.Signature is null ? SignatureRejections.Unsigned : SignatureRejections.BadSignature;
                Rejections.Add(SignatureRejections.Discovery, reason);
                if (_rejectionLog.ShouldLog(entry.Key + " " + reason, out var skipped))
                {
                    NatsLog.RejectedRecord(_logger, Clip(entry.Key), Clip(record.Instance.InstanceId), Clip(record.Instance.Address?.ToString()), reason, skipped);
                }

                return;
            }

            lock (_gate)
            {
                var renewal = _table.Renew(entry.Key, record.Instance, TimeSpan.FromMilliseconds(record.LeaseTtlMs), _time.GetTimestamp(), out var previous);
                switch (renewal)
                {
                    case LeaseRenewal.Added:
                        Publish(entry.Key);
                        NatsLog.InstanceAdded(_logger, record.Instance.InstanceId, record.Instance.Role, record.Instance.Model, record.Instance.Address);
                        Raise(new DiscoveryChange(DiscoveryChangeKind.Added, record.Instance));
                        break;
                    case LeaseRenewal.Replaced:
                        Publish(entry.Key);
                        Raise(new DiscoveryChange(DiscoveryChangeKind.Removed, previous!));
                        Raise(new DiscoveryChange(DiscoveryChangeKind.Added, record.Instance));
                        break;
                }
            }

            return;
        }

        lock (_gate)
        {
            if (_table.TryRemove(entry.Key, out var removed))
            {
                Publish(entry.Key);
                NatsLog.InstanceRemoved(_logger, removed!.InstanceId, "unregistered");
                Raise(new DiscoveryChange(DiscoveryChangeKind.Removed, removed));
            }
        }
    }

    /// <summary>Publishes the snapshot and wakes waiters; under <see cref="_gate"/>.</summary>
    private void Publish(string? key)
    {
        Volatile.Write(ref _snapshot, _table.Snapshot());
        for (var i = _waiters.Count - 1; i >= 0; i--)
        {
            var waiter = _waiters[i];
            if ((key is null || waiter.Key == key) && _table.Contains(waiter.Key) == waiter.Present)
            {
                waiter.Done.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
    }

    /// <summary>Raises <see cref="Changed"/>; under <see cref="_gate"/>.</summary>
    private void Raise(DiscoveryChange change)
    {
        if (Changed is not { } handlers)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList().Cast<Action<DiscoveryChange>>())
        {
            try
            {
                handler(change);
            }
            catch (Exception ex)
            {
                // One broken observer must not stop the watch that every other observer depends on.
                NatsLog.HandlerFailed(_logger, ex);
            }
        }
    }

    /// <summary>
    /// How long the watch may go without progress before it has delivered the bucket's contents: two heartbeats,
    /// at least 1 s, at most the connect timeout.
    /// </summary>
    private TimeSpan SyncStallTimeout
    {
        get
        {
            var twoBeats = _options.HeartbeatInterval * 2;
            var floor = TimeSpan.FromSeconds(1);
            var ceiling = _options.ConnectTimeout > floor ? _options.ConnectTimeout : floor;
            return twoBeats < floor ? floor : twoBeats > ceiling ? ceiling : twoBeats;
        }
    }

    private bool IsWatchSynchronized()
    {
        lock (_gate)
        {
            return _synchronized.Task.IsCompleted;
        }
    }

    private void MarkSynchronized()
    {
        lock (_gate)
        {
            if (_synchronized.TrySetResult())
            {
                Interlocked.Increment(ref _synchronizations);
                NatsLog.Synchronized(_logger, _table.Count, _bucket);
            }
        }
    }

    private async Task HeartbeatLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                // Woken early after a reconnection, so registrations come back without waiting a full interval.
                await _heartbeatNow.WaitAsync(_options.HeartbeatInterval, token).ConfigureAwait(false);
                await _writeGate.WaitAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                foreach (var (key, registration) in _registrations)
                {
                    await HeartbeatAsync(key, registration, token).ConfigureAwait(false);
                }
            }
            finally
            {
                _writeGate.Release();
            }
        }
    }

    private async Task HeartbeatAsync(string key, Registration registration, CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_options.HeartbeatInterval);
        try
        {
            var store = await StoreAsync(timeout.Token).ConfigureAwait(false);
            await store.PutAsync(key, registration.Value, Raw, timeout.Token).ConfigureAwait(false);
            if (_failingHeartbeats.Remove(key))
            {
                NatsLog.HeartbeatResumed(_logger, registration.InstanceId);
            }
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested && ex is NatsException or OperationCanceledException)
        {
            // The bucket may be gone (a memory-storage server restarted): look it up again next time.
            Volatile.Write(ref _store, null);
            if (_failingHeartbeats.Add(key))
            {
                NatsLog.HeartbeatFailed(_logger, registration.InstanceId, ex);
            }
        }
    }

    private async Task SweepLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            TimeSpan wait;
            bool due;
            lock (_gate)
            {
                var next = _table.NextExpiry(_time.GetTimestamp(), _time);
                due = next == TimeSpan.Zero && !_disconnected && _synchronized.Task.IsCompleted;
                wait = next is { } n && n > TimeSpan.Zero && n < MaxSweepWait ? n : MaxSweepWait;
            }

            if (due && await ReachableAsync(token).ConfigureAwait(false))
            {
                lock (_gate)
                {
                    if (!_disconnected && _synchronized.Task.IsCompleted)
                    {
                        var expired = _table.RemoveExpired(_time.GetTimestamp(), _time);
                        if (expired.Count > 0)
                        {
                            Publish(null);
                            foreach (var instance in expired)
                            {
                                NatsLog.InstanceRemoved(_logger, instance.InstanceId, "lease expired");
                                Raise(new DiscoveryChange(DiscoveryChangeKind.Removed, instance));
                            }
                        }
                    }
                }

                continue;
            }

            try
            {
                await Task.Delay(due ? MaxSweepWait : wait, _time, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>A round trip to the server: before dropping instances, make sure it is they who went quiet, not us.</summary>
    private async Task<bool> ReachableAsync(CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(ReachabilityTimeout);
        try
        {
            await _connection.PingAsync(timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException)
        {
            return false;
        }
    }

    private ValueTask OnDisconnectedAsync(object? sender, NatsEventArgs args)
    {
        lock (_gate)
        {
            if (_disconnected)
            {
                return ValueTask.CompletedTask;
            }

            _disconnected = true;
            _disconnectedAt = _time.GetTimestamp();
            NatsLog.Disconnected(_logger, args.Message, _table.Count);
        }

        return ValueTask.CompletedTask;
    }

    private async ValueTask OnOpenedAsync(object? sender, NatsEventArgs args)
    {
        CancellationTokenSource previous;
        lock (_gate)
        {
            if (!_disconnected || _stop.IsCancellationRequested)
            {
                return;
            }

            _disconnected = false;
            NatsLog.Reconnected(_logger, _time.GetElapsedTime(_disconnectedAt).TotalSeconds);
            _table.RenewAll(_time.GetTimestamp());
            _synchronized = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            previous = _watch;
            _watch = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        }

        // The server may have restarted without the bucket: look it up again, watch afresh, and re-put now.
        Volatile.Write(ref _store, null);
        await previous.CancelAsync().ConfigureAwait(false);
        previous.Dispose();
        try
        {
            _heartbeatNow.Release();
        }
        catch (SemaphoreFullException)
        {
            // A wake-up is already pending.
        }
    }

    private sealed record Registration(string InstanceId, byte[] Value);

    private sealed record Waiter(string Key, bool Present, TaskCompletionSource Done);

    private sealed class Lease(NatsDiscovery owner, string key, string instanceId) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0 && Volatile.Read(ref owner._disposed) == 0)
            {
                await owner.UnregisterAsync(key, instanceId, waitForEcho: true).ConfigureAwait(false);
            }
        }
    }
}
