using Dynamo.Operator.Client;
using Microsoft.Extensions.Logging;

namespace Dynamo.Operator.Controller;

/// <summary>
/// One operator replica: campaigns for the leader Lease and, while it holds it, runs the <see cref="GraphController"/>.
/// A standby replica only renews its view of the Lease; it acts once the leader stops renewing.
/// </summary>
public sealed partial class OperatorHost(KubeApiClient api, OperatorHostOptions options, ILoggerFactory loggerFactory, TimeProvider? time = null)
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<OperatorHost>();

    public OperatorMetrics Metrics { get; } = new();

    public LeaderElector Elector { get; } = new(api, options.LeaderElection, loggerFactory.CreateLogger<LeaderElector>(), time);

    /// <summary>The controller of the current leadership term; null while standby.</summary>
    public GraphController? Controller { get; private set; }

    public Task RunAsync(CancellationToken cancellationToken) => Elector.RunAsync(async leading =>
    {
        Metrics.Leader.Set(1);
        using var controller = new GraphController(api, options.Namespace, loggerFactory, Metrics, time, options.Workers);
        Controller = controller;
        try
        {
            await controller.RunAsync(leading).ConfigureAwait(false);
        }
        finally
        {
            Controller = null;
            Metrics.Leader.Set(0);
            LogStopped(_logger, Elector.Identity);
        }
    }, cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} stopped acting (leadership ended or shutdown)")]
    private static partial void LogStopped(ILogger logger, string identity);
}
