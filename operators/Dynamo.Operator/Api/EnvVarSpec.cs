using System.ComponentModel;
using System.Text.Json.Nodes;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>An environment variable of the main container.</summary>
public sealed class EnvVarSpec
{
    [RequiredField]
    [Description("The variable's name.")]
    public string Name { get; set; } = "";

    [Description("Its value.")]
    public string? Value { get; set; }

    [FreeForm]
    [Description("A source instead of a value (secretKeyRef, configMapKeyRef, fieldRef), as in a container's env.")]
    public JsonObject? ValueFrom { get; set; }
}
