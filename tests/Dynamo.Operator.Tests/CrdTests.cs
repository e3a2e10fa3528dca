using System.Text.Json.Nodes;
using Dynamo.Operator.Schema;
using Dynamo.Operator.Tests.Infrastructure;

namespace Dynamo.Operator.Tests;

public sealed class CrdTests
{
    [Fact]
    public void CheckedInCrds_MatchTheOnesGeneratedFromTheTypes()
    {
        // operators/crds for kubectl users, and the platform chart's copy, which Helm installs from crds/.
        foreach (var (path, crd) in CrdGenerator.All().SelectMany(c => new[]
        {
            (RepoFiles.Path("operators", "crds", c.FileName), c.Crd),
            (RepoFiles.Path("charts", "dynamo-platform", "crds", c.FileName), c.Crd),
        }))
        {
            var generated = YamlText.Write(crd);
            if (RepoFiles.Update)
            {
                File.WriteAllText(path, generated);
                continue;
            }

            Assert.True(File.Exists(path), $"{path} is missing: run dynamo operator crds --out operators/crds and --out charts/dynamo-platform/crds (or this test with {RepoFiles.UpdateVariable}=1)");
            Assert.True(File.ReadAllText(path) == generated,
                $"{path} differs from the CRD generated from the C# types: run dynamo operator crds --out operators/crds and --out charts/dynamo-platform/crds (or this test with {RepoFiles.UpdateVariable}=1) and check the diff in");
        }
    }

    [Fact]
    public void YamlText_RoundTripsTheCrds()
    {
        foreach (var (_, crd) in CrdGenerator.All())
        {
            var read = YamlJson.ReadObject(YamlText.Write(crd));
            Assert.True(JsonNode.DeepEquals(crd, read), "the YAML writer lost or changed a value");
        }
    }

    [Fact]
    public void AdapterCrd_HasScaleSubresourceOnReplicasAndSelector()
    {
        var version = CrdGenerator.Adapter()["spec"]!["versions"]![0]!;
        var scale = version["subresources"]!["scale"]!;
        Assert.Equal(".spec.replicas", scale["specReplicasPath"]!.GetValue<string>());
        Assert.Equal(".status.replicas", scale["statusReplicasPath"]!.GetValue<string>());
        Assert.Equal(".status.selector", scale["labelSelectorPath"]!.GetValue<string>());
        Assert.NotNull(version["subresources"]!["status"]);
        var replicas = version["schema"]!["openAPIV3Schema"]!["properties"]!["spec"]!["properties"]!["replicas"]!;
        Assert.Equal(0, replicas["minimum"]!.GetValue<long>());
    }

    [Fact]
    public void GraphCrd_ValidatesComponentTypesReplicasAndRequiredFields()
    {
        var root = CrdGenerator.Graph()["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!;
        var components = root["properties"]!["spec"]!["properties"]!["components"]!;
        var item = components["items"]!;
        Assert.Equal(["frontend", "worker", "prefill", "decode", "planner"], item["properties"]!["type"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Equal(0, item["properties"]!["replicas"]!["minimum"]!.GetValue<long>());
        Assert.Equal(["name", "type"], item["required"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Equal("map", components["x-kubernetes-list-type"]!.GetValue<string>());
        Assert.True(root["properties"]!["spec"]!["properties"]!["config"]!["x-kubernetes-preserve-unknown-fields"]!.GetValue<bool>());
        var columns = CrdGenerator.Graph()["spec"]!["versions"]![0]!["additionalPrinterColumns"]!.AsArray().Select(c => c!["name"]!.GetValue<string>());
        Assert.Contains("State", columns);
        Assert.Contains("Ready", columns);
        Assert.Contains("Age", columns);
    }
}
