using System.ComponentModel;
using System.Text.Json.Nodes;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>One component of the graph, run as the Deployment <c>&lt;graph&gt;-&lt;name&gt;</c>.</summary>
public sealed class GraphComponent
{
    [RequiredField]
    [Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", 40)]
    [Description("The component's name (a DNS label); its Deployment is <graph>-<name>.")]
    public string Name { get; set; } = "";

    [RequiredField]
    [EnumValues(ComponentType.Frontend, ComponentType.Worker, ComponentType.Prefill, ComponentType.Decode, ComponentType.Planner)]
    [Description("frontend (the OpenAI endpoint), worker (aggregated: prefill and decode), prefill, decode, or planner (sizes the worker pools through the scaling adapters).")]
    public string Type { get; set; } = "";

    [Range(0)]
    [Description("Pods wanted (default 1). Copied into the component's scaling adapter when it changes; after that the adapter's spec.replicas rules (kubectl scale, the planner). Ignored for members of a scaling group (the group's replicas rule).")]
    public int? Replicas { get; set; }

    [Description("Compute resources of the main container, e.g. {limits: {nvidia.com/gpu: 1}}.")]
    public ComponentResources? Resources { get; set; }

    [Description("Container image (default: spec.image).")]
    public string? Image { get; set; }

    [Description("Extra arguments appended to the dynamo command line the operator builds.")]
    public List<string>? Args { get; set; }

    [Description("Extra environment variables of the main container (after the configuration, so they override it).")]
    public List<EnvVarSpec>? Env { get; set; }

    [FreeForm]
    [Description("A pod template merged over the generated one: objects merge field by field, spec.containers by name (the generated container is named main), other lists are replaced.")]
    public JsonObject? PodTemplate { get; set; }

    [Description("The Service of a frontend (frontends only): ClusterIP (default) or NodePort with an optional fixed nodePort.")]
    public ComponentService? Service { get; set; }
}
