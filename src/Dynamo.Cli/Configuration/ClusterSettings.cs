using Dynamo.Engine.Transfer;
using Dynamo.Gateway;
using Dynamo.Router;
using Dynamo.Runtime.Security;
using Dynamo.Transfer;
using Microsoft.Extensions.Configuration;

namespace Dynamo.Cli.Configuration;

/// <summary>Everything an embedded cluster needs, bound and validated.</summary>
public sealed record ClusterSettings
{
    private static readonly HashSet<string> KnownSections = new(["Serve", "Gateway", "Router", "Mocker", "Engine", "Worker", "Nats", "Transfer", "KvTransfer", "Cluster", "Planner"], StringComparer.OrdinalIgnoreCase);

    public ServeOptions Serve { get; init; } = new();

    public GatewayOptions Gateway { get; init; } = new();

    public RouterOptions Router { get; init; } = new();

    /// <summary>Transfer agent of prefill and decode workers (<c>Dynamo:Transfer</c>); its backends default per verb.</summary>
    public TransferAgentOptions Transfer { get; init; } = new();

    /// <summary>Pin and read timeouts of disaggregated serving (<c>Dynamo:KvTransfer</c>).</summary>
    public KvTransferOptions KvTransfer { get; init; } = new();

    /// <summary>
    /// The deployment's internal credential (<c>Dynamo:Cluster:Secret</c> or <c>--cluster-secret-file</c>), read and
    /// checked; null when none is configured (<c>dynamo serve</c> then makes one, the other processes refuse to start).
    /// </summary>
    public ClusterSecret? ClusterSecret { get; init; }

    /// <summary>Raw configuration, for the engine sections (<c>Dynamo:Mocker</c>, <c>Dynamo:Engine</c>).</summary>
    public DynamoConfiguration? Configuration { get; init; }

    public static ClusterSettings From(DynamoConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var settings = new ClusterSettings
        {
            Serve = configuration.Serve(),
            Gateway = configuration.Gateway(),
            Router = configuration.Router(),
            Transfer = configuration.Transfer(),
            KvTransfer = configuration.KvTransfer(),
            ClusterSecret = configuration.ClusterSecret(),
            Configuration = configuration,
        };
        foreach (var section in configuration.Root.GetSection("Dynamo").GetChildren())
        {
            if (!KnownSections.Contains(section.Key))
            {
                throw new ConfigurationException($"Dynamo:{section.Key}: unknown section (expected Serve, Gateway, Router, Mocker, Engine, Worker, Nats, Transfer, KvTransfer, Cluster or Planner).");
            }
        }

        return settings;
    }
}
