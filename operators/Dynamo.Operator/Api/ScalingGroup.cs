using System.ComponentModel;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>Worker components scaled together with a fixed ratio (Grove's PodCliqueScalingGroup).</summary>
public sealed class ScalingGroup
{
    [RequiredField]
    [Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", 40)]
    [Description("The group's name; its scaling adapter is <graph>-<name>.")]
    public string Name { get; set; } = "";

    [RequiredField]
    [MinItems(1)]
    [ListMapKey("component")]
    [Description("The member components and the ratio: each member runs replicas x member.replicas pods.")]
    public List<ScalingGroupMember> Members { get; set; } = [];

    [Range(0)]
    [Description("Units of the group (default 1). Copied into the group's scaling adapter when it changes; after that the adapter rules.")]
    public int? Replicas { get; set; }

    [Range(0)]
    [Description("The gang floor: the group is available only with at least this many complete units ready; replicas below it is an error (default 1, or 0 when replicas is 0).")]
    public int? MinAvailable { get; set; }
}
