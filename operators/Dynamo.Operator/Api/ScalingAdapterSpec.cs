using System.ComponentModel;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>The wanted count and what it scales.</summary>
public sealed class ScalingAdapterSpec
{
    [RequiredField]
    [Range(0)]
    [Description("Wanted replicas: pods of the component, or units of the scaling group.")]
    public int Replicas { get; set; }

    [RequiredField]
    [Description("The graph and the component or scaling group this adapter scales.")]
    public GraphTarget DgdRef { get; set; } = new();
}
