using Dynamo.Contracts.Routing;
using Dynamo.Router.Load;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Router.Replicas;

/// <summary>
/// Shares a router's active-load bookkeeping with its replicas over the event plane, and applies theirs to its own
/// <see cref="ActiveLoadTracker"/> under <c>replica/request</c> keys. Each replica then sees every replica's
/// in-flight requests in its cost function, so two gateways do not both send the next request to the worker that
/// looks idle to each of them alone. Entries of a replica that dies expire with the tracker's TTL.
/// </summary>
public sealed partial class ActiveLoadSync : IAsyncDisposable
{
    /// <summary>The event-plane subject of <see cref="ActiveLoadUpdate"/> messages (the plane adds its namespace).</summary>
    public const string Subject = "router_active_load";

    private readonly IEventPlane _events;
    private readonly string _subject;
    private readonly ActiveLoadTracker _load;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;
    private long _received;

    public ActiveLoadSync(IEventPlane events, string subject, ActiveLoadTracker load, string? replicaId = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentNullException.ThrowIfNull(load);
        _events = events;
        _subject = subject;
        _load = load;
        ReplicaId = replicaId ?? "router-" + Guid.NewGuid().ToString("N")[..12];
        _logger = logger ?? NullLogger.Instance;
    }

    public string ReplicaId { get; }

    /// <summary>Updates applied from other replicas.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Subscribes (the subscription is in place when this returns) and applies other replicas' updates until disposed.</summary>
    public void Start()
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException("Already started.");
        }

        var token = _stopping.Token;
        var enumerator = _events.SubscribeAsync<ActiveLoadUpdate>(_subject, token).GetAsyncEnumerator(token);
        _loop = ConsumeAsync(enumerator, enumerator.MoveNextAsync());
    }

    public void Publish(ActiveLoadChange change, RoutingDecision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var (prefill, blocks) = change == ActiveLoadChange.Added ? ActiveLoadTracker.LoadOf(decision) : default;
        var update = new ActiveLoadUpdate(ReplicaId, decision.RequestId, decision.Worker.InstanceId, change, prefill, blocks);
        try
        {
            var pending = _events.PublishAsync(_subject, update);
            if (!pending.IsCompletedSuccessfully)
            {
                _ = ObserveAsync(pending);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Load sharing is advisory: a lost update costs some balance until the TTL, never a request.
            LogPublishFailed(_logger, ex.Message);
        }
    }

    /// <summary>Applies one update from the plane (ignoring this replica's own).</summary>
    public void Apply(ActiveLoadUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        if (update.ReplicaId == ReplicaId)
        {
            return;
        }

        var key = update.ReplicaId + "/" + update.RequestId;
        switch (update.Change)
        {
            case ActiveLoadChange.Added:
                _load.Add(key, update.WorkerId, update.PrefillTokens, update.Blocks);
                break;
            case ActiveLoadChange.Prefilled:
                _load.MarkPrefilled(key);
                break;
            case ActiveLoadChange.Completed:
                _load.Complete(key);
                break;
        }

        Interlocked.Increment(ref _received);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private async Task ConsumeAsync(IAsyncEnumerator<ActiveLoadUpdate> updates, ValueTask<bool> first)
    {
        await using (updates.ConfigureAwait(false))
        {
            var next = first;
            try
            {
                while (await next.ConfigureAwait(false))
                {
                    Apply(updates.Current);
                    next = updates.MoveNextAsync();
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                // Stopping.
            }
        }
    }

    private async Task ObserveAsync(ValueTask pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogPublishFailed(_logger, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not share active load with router replicas: {Reason}")]
    private static partial void LogPublishFailed(ILogger logger, string reason);
}
