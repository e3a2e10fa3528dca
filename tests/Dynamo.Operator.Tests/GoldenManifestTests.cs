using System.Text;
using Dynamo.Operator.Graph;
using Dynamo.Operator.Schema;
using Dynamo.Operator.Tests.Infrastructure;

namespace Dynamo.Operator.Tests;

/// <summary>
/// The objects the reconciler builds for three graphs, compared with the checked-in files under Golden/. After an
/// intended change, rewrite them with <c>DYNAMO_UPDATE_GOLDEN=1 dotnet test tests/Dynamo.Operator.Tests --filter Golden</c>
/// and review the diff.
/// </summary>
public sealed class GoldenManifestTests
{
    private const string Secret = "golden-test-secret-not-random-000000000000=";

    public static TheoryData<string, string> Graphs => new()
    {
        { "agg", TestGraphs.AggPath },
        { "disagg-planner", TestGraphs.DisaggPath },
        { "scaling-group", TestGraphs.GroupPath },
    };

    [Theory]
    [MemberData(nameof(Graphs))]
    public void Manifests_MatchGoldenFile(string name, string graphPath)
    {
        var graph = TestGraphs.Load(graphPath);
        Assert.Empty(GraphValidator.Validate(graph));
        var manifests = ManifestBuilder.Build(graph, new Dictionary<string, int>(), Secret);
        var text = new StringBuilder();
        foreach (var obj in manifests.All())
        {
            text.Append("---\n").Append(YamlText.Write(ManifestBuilder.ToJson(obj)));
        }

        var path = RepoFiles.Path("tests", "Dynamo.Operator.Tests", "Golden", $"{name}.yaml");
        if (RepoFiles.Update)
        {
            File.WriteAllText(path, text.ToString());
            return;
        }

        Assert.True(File.Exists(path), $"{path} is missing; create it with {RepoFiles.UpdateVariable}=1");
        var expected = File.ReadAllText(path);
        if (expected != text.ToString())
        {
            var expectedLines = expected.Split('\n');
            var actualLines = text.ToString().Split('\n');
            var first = Enumerable.Range(0, Math.Min(expectedLines.Length, actualLines.Length)).FirstOrDefault(i => expectedLines[i] != actualLines[i], Math.Min(expectedLines.Length, actualLines.Length));
            Assert.Fail($"{name}: the built objects differ from {path} at line {first + 1}:\n  expected: {expectedLines.ElementAtOrDefault(first)}\n  actual:   {actualLines.ElementAtOrDefault(first)}\n(rewrite with {RepoFiles.UpdateVariable}=1 if the change is intended)");
        }
    }

    [Fact]
    public void ScalingGroup_MultipliesEachMembersRatioByTheAdapterCount()
    {
        var graph = TestGraphs.Load(TestGraphs.GroupPath);
        var manifests = ManifestBuilder.Build(graph, new Dictionary<string, int> { ["grouped-pd"] = 3 }, Secret);
        var replicas = manifests.Deployments.ToDictionary(d => d.Metadata.Name, d => d.Spec.Replicas);
        Assert.Equal(3, replicas["grouped-prefill"]);
        Assert.Equal(6, replicas["grouped-decode"]);
        Assert.Equal(2, replicas["grouped-frontend"]);
        Assert.DoesNotContain(manifests.Adapters, a => a.Metadata.Name is "grouped-prefill" or "grouped-decode");
    }

    [Fact]
    public void ConfigChange_ChangesThePodTemplateHash()
    {
        var graph = TestGraphs.Load(TestGraphs.AggPath);
        var before = ManifestBuilder.Build(graph, new Dictionary<string, int>(), Secret);
        graph.Spec.Config!["serve"]!["engine"] = "dotnet";
        var after = ManifestBuilder.Build(graph, new Dictionary<string, int>(), Secret);
        Assert.Equal("dotnet", after.ConfigMap.Data["DYNAMO__SERVE__ENGINE"]);
        Assert.NotEqual(
            before.Deployments[0].Spec.Template.Metadata.Annotations["dynamo.dotnet.dev/config-hash"],
            after.Deployments[0].Spec.Template.Metadata.Annotations["dynamo.dotnet.dev/config-hash"]);
    }
}
