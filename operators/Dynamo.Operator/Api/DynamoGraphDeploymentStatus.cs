using System.ComponentModel;
using Dynamo.Operator.Schema;
using k8s.Models;

namespace Dynamo.Operator.Api;

/// <summary>The graph as observed by the operator.</summary>
public sealed class DynamoGraphDeploymentStatus
{
    [EnumValues(GraphState.Pending, GraphState.Successful, GraphState.Failed)]
    [Description("pending (being created or changed), successful (every component ready) or failed (the spec is invalid or could not be applied; see the Degraded condition).")]
    public string? State { get; set; }

    [Description("The generation of the spec this status describes.")]
    public long? ObservedGeneration { get; set; }

    [ListMapKey("type")]
    [Description("Ready (every component has its pods ready), Progressing (a change is rolling out), Degraded (the spec is invalid or could not be applied), each with a reason and a message.")]
    public List<V1Condition>? Conditions { get; set; }

    [ListMapKey("name")]
    [Description("Per component: pods wanted, existing, ready and on the current template.")]
    public List<ComponentStatus>? Components { get; set; }
}
