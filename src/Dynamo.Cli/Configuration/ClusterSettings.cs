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
        CheckSections(configuration);
        return new ClusterSettings
        {
            Serve = configuration.Serve(),
            Gateway = configuration.Gateway(),
            Router = configuration.Router(),
            Transfer = configuration.Transfer(),
            KvTransfer = configuration.KvTransfer(),
            ClusterSecret = configuration.ClusterSecret(),
            Configuration = configuration,
        };
    }

    /// <summary>A section name nothing reads (a typo such as <c>Dynamo:Gatway</c>) is an error, named with the nearest known one.</summary>
    internal static void CheckSections(DynamoConfiguration configuration)
    {
        var problems = new List<string>();
        foreach (var section in configuration.Root.GetSection("Dynamo").GetChildren())
        {
            if (!KnownSections.Contains(section.Key))
            {
                var nearest = StrictBinding.Nearest(section.Key, KnownSections);
                problems.Add(nearest is not null
                    ? $"Dynamo:{section.Key}: unknown section (did you mean {nearest}?)"
                    : $"Dynamo:{section.Key}: unknown section (known sections: Serve, Gateway, Router, Mocker, Engine, Worker, Nats, Transfer, KvTransfer, Cluster, Planner).");
            }
        }

        DynamoConfiguration.ThrowIfAny(problems);
    }
}
