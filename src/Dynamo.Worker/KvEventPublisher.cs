using Dynamo.Contracts.KvEvents;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Worker;

/// <summary>
/// The engine's KV event sink: publishes every event on <see cref="EventSubjects.KvEvents"/>, where routers follow
/// it. The block pool calls it under its lock, so it only hands the event to the plane; a plane that cannot take it
/// drops it and the router repairs the gap by a replay (<c>GET /v1/kv/events</c>).
/// </summary>
public sealed partial class KvEventPublisher(IEventPlane events, ILogger? logger = null) : IKvEventSink
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private long _failures;

    /// <summary>Events the plane refused (each is a gap a router repairs).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    public void Publish(KvEvent kvEvent)
    {
        try
        {
            var pending = events.PublishAsync(EventSubjects.KvEvents, kvEvent);
            if (!pending.IsCompletedSuccessfully)
            {
                _ = ObserveAsync(pending);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Failed(ex);
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
            Failed(ex);
        }
    }

    private void Failed(Exception ex)
    {
        if (Interlocked.Increment(ref _failures) == 1)
        {
            LogPublishFailed(_logger, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not publish a KV event (routers will ask for a replay): {Reason}")]
    private static partial void LogPublishFailed(ILogger logger, string reason);
}
