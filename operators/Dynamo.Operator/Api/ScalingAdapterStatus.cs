using System.ComponentModel;

namespace Dynamo.Operator.Api;

/// <summary>The count observed.</summary>
public sealed class ScalingAdapterStatus
{
    [Description("Replicas that exist (pods of the component; complete units of the scaling group).")]
    public int Replicas { get; set; }

    [Description("Replicas ready (units: every member's share ready).")]
    public int ReadyReplicas { get; set; }

    [Description("Label selector of the pods it scales, for autoscalers.")]
    public string? Selector { get; set; }
}
