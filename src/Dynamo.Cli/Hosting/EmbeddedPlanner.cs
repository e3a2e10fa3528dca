using Dynamo.Runtime.Observability;
using Dynamo.Contracts;
using Dynamo.Planner;
using Dynamo.Planner.Observers;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// The planner inside <c>dynamo serve --planner</c>: it observes the embedded gateway's counters and the workers' load
/// reports in process, decides with the configured policy, and adds or drains in-process workers
/// (<see cref="EmbeddedScalingConnector"/>). Its <c>dynamo_planner_*</c> metrics are served on the gateway's <c>/metrics</c>.
/// </summary>
internal sealed class EmbeddedPlanner : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly Task _run;
    private readonly EmbeddedScalingConnector _connector;
    private readonly WorkerLoadBoard _board;
    private int _disposed;

    private EmbeddedPlanner(PlannerLoop loop, EmbeddedScalingConnector connector, WorkerLoadBoard board)
    {
        Loop = loop;
        _connector = connector;
        _board = board;
        _stop = new CancellationTokenSource();
        _run = loop.RunAsync(_stop.Token);
    }

    public PlannerLoop Loop { get; }

    /// <summary>The loop's settings from <c>Dynamo:Planner</c>: it observes every load interval.</summary>
    public static PlannerLoopOptions LoopOptions(PlannerOptions options) => new()
    {
        Interval = options.LoadInterval,
        Advisory = options.Advisory,
        ReadyTimeout = options.ReadyTimeout,
    };

    public static async Task<EmbeddedPlanner> StartAsync(EmbeddedCluster cluster, PlannerOptions options, IScalingPolicy policy, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var metrics = new PlannerMetrics();
        cluster.ExportMetrics(metrics.Registry);

        // A worker that stopped reporting for three intervals (at least 5 s) is gone.
        var maxAge = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(5).Ticks, options.LoadInterval.Ticks * 3));
        var board = WorkerLoadBoard.Start(cluster.Events, maxAge, TimeProvider.System, loggerFactory.CreateLogger<WorkerLoadBoard>());
        var observer = new ClusterLoadObserver(new GatewayTrafficSource(cluster), board, TimeProvider.System);
        await observer.PrimeAsync(cancellationToken);
        var connector = new EmbeddedScalingConnector(cluster, options.Roles, loggerFactory.CreateLogger<EmbeddedScalingConnector>());
        var loop = new PlannerLoop(observer, policy, connector, LoopOptions(options), metrics, TimeProvider.System, loggerFactory.CreateLogger<PlannerLoop>());
        return new EmbeddedPlanner(loop, connector, board);
    }

    /// <summary>Stops deciding, then waits for the drains under way (before the cluster itself stops).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        await _run;
        await _connector.DisposeAsync();
        await _board.DisposeAsync();
        _stop.Dispose();
    }

    /// <summary>The embedded gateway's counters, read in process.</summary>
    private sealed class GatewayTrafficSource(EmbeddedCluster cluster) : ITrafficSource
    {
        public Task<TrafficTotals> ReadAsync(CancellationToken cancellationToken) => Task.FromResult(cluster.Traffic());
    }
}
