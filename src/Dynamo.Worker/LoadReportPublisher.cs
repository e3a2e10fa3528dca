using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Engine;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Worker;

/// <summary>
/// Publishes the engine's load (<see cref="WorkerLoadReport"/>) on <see cref="EventSubjects.LoadMetrics"/> at a fixed
/// interval, for routers and the planner. A report the plane cannot take (NATS down) is dropped: the next one
/// supersedes it, so nothing is queued and publishing resumes by itself when the plane is back.
/// </summary>
public sealed partial class LoadReportPublisher : IAsyncDisposable
{
    private readonly IEventPlane _events;
    private readonly IEngine _engine;
    private readonly WorkerInstance _instance;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _published;
    private bool _failing;

    private LoadReportPublisher(IEventPlane events, IEngine engine, WorkerInstance instance, TimeSpan interval, TimeProvider time, ILogger logger)
    {
        _events = events;
        _engine = engine;
        _instance = instance;
        _interval = interval;
        _time = time;
        _logger = logger;
        _loop = RunAsync(_stop.Token);
    }

    /// <summary>Reports published so far.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Starts publishing one report now and one every <paramref name="interval"/> until disposed.</summary>
    public static LoadReportPublisher Start(IEventPlane events, IEngine engine, WorkerInstance instance, TimeSpan interval, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(instance);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        return new LoadReportPublisher(events, engine, instance, interval, time ?? TimeProvider.System, logger ?? NullLogger.Instance);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            do
            {
                await PublishOnceAsync(cancellationToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task PublishOnceAsync(CancellationToken cancellationToken)
    {
        var report = new WorkerLoadReport(_instance.InstanceId, _instance.Model, _instance.Role, _time.GetUtcNow(), _engine.GetLoad());

        // A report older than the interval is worth nothing: give up on it then, and send the next.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_interval);
        try
        {
            await _events.PublishAsync(EventSubjects.LoadMetrics, report, timeout.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _published);
            if (_failing)
            {
                _failing = false;
                LogResumed(_logger, _instance.InstanceId);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
        {
            if (!_failing)
            {
                _failing = true;
                LogFailed(_logger, _instance.InstanceId, ex.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {InstanceId} could not publish its load report ({Reason}); retrying every interval")]
    private static partial void LogFailed(ILogger logger, string instanceId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {InstanceId} is publishing its load reports again")]
    private static partial void LogResumed(ILogger logger, string instanceId);
}
