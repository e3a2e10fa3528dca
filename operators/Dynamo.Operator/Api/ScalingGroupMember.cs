using System.ComponentModel;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>One component of a scaling group and its share of a unit.</summary>
public sealed class ScalingGroupMember
{
    [RequiredField]
    [Description("The member component's name (a worker, prefill or decode component of this graph).")]
    public string Component { get; set; } = "";

    [Range(1)]
    [Description("Pods of this component per unit of the group (default 1).")]
    public int? Replicas { get; set; }
}
