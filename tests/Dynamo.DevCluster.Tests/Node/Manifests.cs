using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Tests.Node;

/// <summary>The objects the node agent tests create, shaped as the operator's (see its golden manifests).</summary>
internal static class Manifests
{
    public static JsonObject Env(string name, string fieldPath) => new()
    {
        ["name"] = name,
        ["valueFrom"] = new JsonObject { ["fieldRef"] = new JsonObject { ["fieldPath"] = fieldPath } },
    };

    /// <summary>A nats-server container bound to its pod IP, named after its pod, with a readiness probe on the monitor port.</summary>
    public static JsonObject NatsContainer(params string[] extraArgs)
    {
        var args = new JsonArray("--addr", "$(POD_IP)", "--port", "4222", "--http_port", "8222", "--name", "$(POD_NAME)");
        foreach (var a in extraArgs) args.Add(a);
        return new JsonObject
        {
            ["name"] = "main",
            ["image"] = "nats:2.10-alpine",
            ["command"] = new JsonArray("nats-server"),
            ["args"] = args,
            ["env"] = new JsonArray(Env("POD_IP", "status.podIP"), Env("POD_NAME", "metadata.name")),
            ["ports"] = new JsonArray(
                new JsonObject { ["name"] = "client", ["containerPort"] = 4222, ["protocol"] = "TCP" },
                new JsonObject { ["name"] = "monitor", ["containerPort"] = 8222, ["protocol"] = "TCP" }),
            ["readinessProbe"] = new JsonObject
            {
                ["httpGet"] = new JsonObject { ["path"] = "/healthz", ["port"] = "monitor" },
                ["periodSeconds"] = 1,
            },
        };
    }

    public static JsonObject Deployment(string name, int replicas, JsonObject container, int grace = 5) => new()
    {
        ["apiVersion"] = "apps/v1",
        ["kind"] = "Deployment",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default" },
        ["spec"] = new JsonObject
        {
            ["replicas"] = replicas,
            ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } },
            ["template"] = new JsonObject
            {
                ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = name } },
                ["spec"] = new JsonObject
                {
                    ["containers"] = new JsonArray(container),
                    ["terminationGracePeriodSeconds"] = grace,
                },
            },
        },
    };

    public static JsonObject Service(string name, string app, string type, params (string Name, int Port, string TargetPort)[] ports) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Service",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default" },
        ["spec"] = new JsonObject
        {
            ["type"] = type,
            ["selector"] = new JsonObject { ["app"] = app },
            ["ports"] = new JsonArray(ports.Select(p => (JsonNode?)new JsonObject
            {
                ["name"] = p.Name,
                ["port"] = p.Port,
                ["targetPort"] = p.TargetPort,
                ["protocol"] = "TCP",
            }).ToArray()),
        },
    };

    public static JsonObject Pod(string name, string restartPolicy, JsonObject container, int grace = 5) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Pod",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default", ["labels"] = new JsonObject { ["app"] = name } },
        ["spec"] = new JsonObject
        {
            ["restartPolicy"] = restartPolicy,
            ["terminationGracePeriodSeconds"] = grace,
            ["containers"] = new JsonArray(container),
        },
    };

    public static JsonObject Shell(string script, params JsonObject[] env) => new()
    {
        ["name"] = "main",
        ["image"] = "busybox",
        ["command"] = new JsonArray("sh", "-c", script),
        ["env"] = new JsonArray(env.Select(e => (JsonNode?)e).ToArray()),
    };
}
