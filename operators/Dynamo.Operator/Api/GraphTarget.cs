using System.ComponentModel;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>What a scaling adapter scales: one component of a graph, or one scaling group.</summary>
public sealed class GraphTarget
{
    [RequiredField]
    [Description("The DynamoGraphDeployment, in the adapter's namespace.")]
    public string Name { get; set; } = "";

    [Description("The component (exclusive with scalingGroup).")]
    public string? Component { get; set; }

    [Description("The scaling group (exclusive with component).")]
    public string? ScalingGroup { get; set; }
}
