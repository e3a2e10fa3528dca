using System.ComponentModel;
using Dynamo.Operator.Schema;
using k8s.Models;

namespace Dynamo.Operator.Api;

/// <summary>Requests and limits, as in a container's <c>resources</c>.</summary>
public sealed class ComponentResources
{
    [IntOrString]
    [Description("Minimum resources, e.g. {cpu: 500m, memory: 1Gi}.")]
    public Dictionary<string, ResourceQuantity>? Requests { get; set; }

    [IntOrString]
    [Description("Maximum resources, e.g. {nvidia.com/gpu: 1}.")]
    public Dictionary<string, ResourceQuantity>? Limits { get; set; }
}
