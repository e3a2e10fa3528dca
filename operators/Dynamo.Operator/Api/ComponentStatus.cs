using System.ComponentModel;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>One component's pods as its Deployment reports them.</summary>
public sealed class ComponentStatus
{
    [RequiredField]
    [Description("The component.")]
    public string Name { get; set; } = "";

    [Description("Pods wanted (the scaling adapter's replicas, times the ratio in a scaling group).")]
    public int Replicas { get; set; }

    [Description("Pods that are ready.")]
    public int ReadyReplicas { get; set; }

    [Description("Pods on the current pod template.")]
    public int UpdatedReplicas { get; set; }
}
