using System.Text.Json.Nodes;
using Dynamo.Operator.Api;
using k8s;

namespace Dynamo.Operator.Tests.Infrastructure;

/// <summary>The graphs the tests use: the two examples and the scaling-group graph under Graphs/.</summary>
internal static class TestGraphs
{
    public static string AggPath => RepoFiles.Path("operators", "examples", "agg.yaml");

    public static string DisaggPath => RepoFiles.Path("operators", "examples", "disagg-planner.yaml");

    public static string GroupPath => RepoFiles.Path("tests", "Dynamo.Operator.Tests", "Graphs", "scaling-group.yaml");

    public static JsonObject Json(string path) => YamlJson.ReadObject(File.ReadAllText(path));

    /// <summary>The graph as the API server would hand it over: a namespace, a uid and generation 1.</summary>
    public static DynamoGraphDeployment Load(string path)
    {
        var graph = KubernetesJson.Deserialize<DynamoGraphDeployment>(Json(path).ToJsonString());
        graph.Metadata.NamespaceProperty ??= "default";
        graph.Metadata.Uid = $"00000000-0000-0000-0000-{graph.Metadata.Name!.Length:D12}";
        graph.Metadata.Generation = 1;
        return graph;
    }

    public static DynamoGraphDeployment Parse(string yaml) => KubernetesJson.Deserialize<DynamoGraphDeployment>(YamlJson.ReadObject(yaml).ToJsonString());
}
