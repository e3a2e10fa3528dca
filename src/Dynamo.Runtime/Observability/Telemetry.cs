using System.Diagnostics;

namespace Dynamo.Runtime.Observability;

/// <summary>OpenTelemetry activity sources, one per part, named in one place.</summary>
public static class Telemetry
{
    public const string GatewaySourceName = "Dynamo.Gateway";
    public const string RouterSourceName = "Dynamo.Router";
    public const string WorkerSourceName = "Dynamo.Worker";

    public static readonly ActivitySource Gateway = new(GatewaySourceName);
    public static readonly ActivitySource Router = new(RouterSourceName);
    public static readonly ActivitySource Worker = new(WorkerSourceName);

    public static IReadOnlyList<string> AllSourceNames { get; } = [GatewaySourceName, RouterSourceName, WorkerSourceName];
}
