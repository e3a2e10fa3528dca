using System.ComponentModel;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>How a frontend is exposed.</summary>
public sealed class ComponentService
{
    [EnumValues("ClusterIP", "NodePort")]
    [Description("ClusterIP (default) or NodePort.")]
    public string? Type { get; set; }

    [Range(1, 65535)]
    [Description("The Service's port (default 8000, the frontend's).")]
    public int? Port { get; set; }

    [Range(30000, 32767)]
    [Description("NodePort only: a fixed node port (default: one the cluster picks).")]
    public int? NodePort { get; set; }
}
