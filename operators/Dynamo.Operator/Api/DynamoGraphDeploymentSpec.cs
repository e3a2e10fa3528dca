using System.ComponentModel;
using System.Text.Json.Nodes;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>The desired graph.</summary>
public sealed class DynamoGraphDeploymentSpec
{
    [Description("Container image running the dynamo CLI, for every component that names none.")]
    public string? Image { get; set; }

    [Description("The model every frontend and worker serves.")]
    public ModelSource? Model { get; set; }

    [FreeForm]
    [Description("A Dynamo configuration block (the keys under Dynamo: of a dynamo YAML file, e.g. {serve: {engine: mocker}, planner: {mode: disagg}}). Flattened into DYNAMO__SECTION__KEY variables in the ConfigMap <graph>-config, which every process reads; a change rolls the pods.")]
    public JsonObject? Config { get; set; }

    [Description("The NATS server of the graph: managed by the operator (default) or an existing one.")]
    public NatsSpec? Nats { get; set; }

    [RequiredField]
    [MinItems(1)]
    [ListMapKey("name")]
    [Description("The graph's components, each run as a Deployment <graph>-<name>.")]
    public List<GraphComponent> Components { get; set; } = [];

    [ListMapKey("name")]
    [Description("Worker components scaled together as a unit with a fixed ratio (e.g. prefill:decode 1:2): each member runs replicas x member.replicas pods. One scaling adapter per group.")]
    public List<ScalingGroup>? ScalingGroups { get; set; }
}
