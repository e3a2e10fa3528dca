using Dynamo.Operator.Api;

namespace Dynamo.Operator.Graph;

/// <summary>
/// The shape of a graph derived from its spec: object names, what each scaling adapter scales, whether it is
/// disaggregated, which NATS it uses. Pure; assumes <see cref="GraphValidator"/> found no problem.
/// </summary>
public sealed class GraphTopology
{
    public const int FrontendPort = 8000;
    public const int WorkerPort = 9000;
    public const int PlannerMetricsPort = 9100;
    public const int NatsPort = 4222;
    public const int NatsMonitorPort = 8222;
    public const string DefaultNatsImage = "nats:2.10-alpine";

    public GraphTopology(DynamoGraphDeployment graph)
    {
        Graph = graph;
        Name = graph.Metadata.Name ?? throw new ArgumentException("the graph has no metadata.name", nameof(graph));
        Namespace = graph.Metadata.NamespaceProperty ?? "default";
        var targets = new List<ScaleTarget>();
        var grouped = new HashSet<string>();
        foreach (var group in (graph.Spec.ScalingGroups ?? []).Where(g => g.Members is not null))
        {
            var replicas = group.Replicas ?? 1;
            targets.Add(new ScaleTarget(ObjectName(group.Name), null, group.Name, replicas, group.MinAvailable ?? (replicas == 0 ? 0 : 1),
                [.. group.Members.Select(m => (m.Component, m.Replicas ?? 1))]));
            grouped.UnionWith(group.Members.Select(m => m.Component));
        }

        foreach (var component in (graph.Spec.Components ?? []).Where(c => ComponentType.IsScalable(c.Type) && !grouped.Contains(c.Name)))
        {
            targets.Add(new ScaleTarget(ObjectName(component.Name), component.Name, null, component.Replicas ?? 1, 0, [(component.Name, 1)]));
        }

        Targets = targets;
    }

    public DynamoGraphDeployment Graph { get; }

    public string Name { get; }

    public string Namespace { get; }

    /// <summary>The scaling adapters the graph has, groups first.</summary>
    public IReadOnlyList<ScaleTarget> Targets { get; }

    public bool Disaggregated => Graph.Spec.Components.Any(c => c.Type is ComponentType.Prefill or ComponentType.Decode);

    public bool ManagedNats => Graph.Spec.Nats?.Url is null;

    public string ObjectName(string part) => $"{Name}-{part}";

    public string ConfigMapName => ObjectName("config");

    public string SecretName => ObjectName("cluster-secret");

    public string NatsName => ObjectName("nats");

    /// <summary>The NATS URL every process gets: the managed Service's cluster DNS name, or the given URL.</summary>
    public string NatsUrl => Graph.Spec.Nats?.Url ?? $"nats://{NatsName}.{Namespace}.svc:{NatsPort}";

    /// <summary>The adapter that scales a component, or null (the planner; a component not scalable).</summary>
    public ScaleTarget? TargetOf(string component) => Targets.FirstOrDefault(t => t.RatioOf(component) > 0);

    /// <summary>Pods of a component given the adapters' replicas (adapter name → replicas; missing: the graph's count).</summary>
    public int ReplicasOf(GraphComponent component, IReadOnlyDictionary<string, int> adapterReplicas)
    {
        if (TargetOf(component.Name) is not { } target)
        {
            return component.Replicas ?? 1;
        }

        var units = adapterReplicas.TryGetValue(target.AdapterName, out var n) ? n : target.GraphReplicas;
        return units * target.RatioOf(component.Name);
    }

    /// <summary>The label selector (as a string) of the pods an adapter scales.</summary>
    public string SelectorOf(ScaleTarget target) => $"{GraphApi.InstanceLabel}={Name},{GraphApi.AdapterLabel}={target.AdapterName}";
}
