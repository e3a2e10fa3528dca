using System.ComponentModel;
using Dynamo.Operator.Schema;
using k8s;
using k8s.Models;

namespace Dynamo.Operator.Api;

/// <summary>
/// The replica count of one scalable component (or one scaling group) of a graph, with a scale subresource: what
/// <c>kubectl scale</c>, an HPA or the planner change. Created by the operator; its spec.replicas is authoritative.
/// </summary>
[Description("The replica count of one component (or scaling group) of a DynamoGraphDeployment, with a scale subresource for kubectl scale, autoscalers and the planner. Created by the operator; spec.replicas rules once it exists.")]
public sealed class DynamoGraphDeploymentScalingAdapter : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = GraphApi.ApiVersion;

    public string Kind { get; set; } = GraphApi.AdapterKind;

    public V1ObjectMeta Metadata { get; set; } = new();

    [RequiredField]
    [Description("The wanted count and what it scales.")]
    public ScalingAdapterSpec Spec { get; set; } = new();

    [Description("The count observed.")]
    public ScalingAdapterStatus? Status { get; set; }
}
