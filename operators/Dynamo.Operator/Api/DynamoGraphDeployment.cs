using System.ComponentModel;
using Dynamo.Operator.Schema;
using k8s;
using k8s.Models;

namespace Dynamo.Operator.Api;

/// <summary>A Dynamo inference graph: frontends, worker pools (aggregated, or prefill and decode), a planner, NATS.</summary>
[Description("A Dynamo inference graph: a frontend, worker pools (aggregated, or prefill and decode), an optional planner and NATS, reconciled by the Dynamo operator into Deployments, Services, a ConfigMap, a Secret and scaling adapters.")]
public sealed class DynamoGraphDeployment : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = GraphApi.ApiVersion;

    public string Kind { get; set; } = GraphApi.GraphKind;

    public V1ObjectMeta Metadata { get; set; } = new();

    [RequiredField]
    [Description("The desired graph.")]
    public DynamoGraphDeploymentSpec Spec { get; set; } = new();

    [Description("The graph as observed by the operator.")]
    public DynamoGraphDeploymentStatus? Status { get; set; }
}
