using Dynamo.Operator.Api;
using k8s.Models;

namespace Dynamo.Operator.Graph;

/// <summary>Every object the operator wants for one graph, built by <see cref="ManifestBuilder"/>.</summary>
public sealed class GraphManifests
{
    public required V1ConfigMap ConfigMap { get; init; }

    /// <summary>Created once with a random secret; never updated afterwards (rotating it means deleting it).</summary>
    public required V1Secret Secret { get; init; }

    /// <summary>The managed NATS server, or null when the graph names an existing one.</summary>
    public V1StatefulSet? NatsStatefulSet { get; init; }

    public V1Service? NatsService { get; init; }

    /// <summary>One per component, named <c>&lt;graph&gt;-&lt;component&gt;</c>, in spec order.</summary>
    public required IReadOnlyList<V1Deployment> Deployments { get; init; }

    /// <summary>One per frontend.</summary>
    public required IReadOnlyList<V1Service> Services { get; init; }

    /// <summary>The scaling adapters as they are created (with the graph's counts); afterwards their spec rules.</summary>
    public required IReadOnlyList<DynamoGraphDeploymentScalingAdapter> Adapters { get; init; }

    /// <summary>All objects in the order they are applied (what the pods need before the pods).</summary>
    public IEnumerable<object> All()
    {
        yield return ConfigMap;
        yield return Secret;
        if (NatsService is not null) yield return NatsService;
        if (NatsStatefulSet is not null) yield return NatsStatefulSet;
        foreach (var adapter in Adapters) yield return adapter;
        // Services before the Deployments whose pods name them (the frontend's, in the planner's arguments).
        foreach (var service in Services) yield return service;
        foreach (var deployment in Deployments) yield return deployment;
    }
}
