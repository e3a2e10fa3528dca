using System.Text.Json.Nodes;
using Dynamo.DevCluster.Controllers;
using Dynamo.DevCluster.Node;

namespace Dynamo.DevCluster.Tests.Unit;

public sealed class ControllerAndLaunchUnitTests
{
    [Theory]
    [InlineData("$(A)-$(B)", "1-two")]
    [InlineData("$$(A)", "$(A)")]
    [InlineData("$(MISSING) $(A)", "$(MISSING) 1")]
    [InlineData("cost $5 $", "cost $5 $")]
    [InlineData("$(A", "$(A")]
    public void Expand_FollowsKubernetesRules(string input, string expected) =>
        Assert.Equal(expected, ContainerLaunchBuilder.Expand(input, new Dictionary<string, string> { ["A"] = "1", ["B"] = "two" }));

    [Theory]
    [InlineData("nats://disagg-nats.default.svc:4222", "nats://127.96.0.11:4222")]
    [InlineData("http://disagg-nats.default.svc.cluster.local/x", "http://127.96.0.11/x")]
    [InlineData("disagg-nats.default.svc", "127.96.0.11")]
    [InlineData("disagg-nats.default.svc.example.com", "disagg-nats.default.svc.example.com")]
    [InlineData("pod-0.disagg-nats.default.svc", "pod-0.disagg-nats.default.svc")]
    [InlineData("unknown.default.svc:1", "unknown.default.svc:1")]
    [InlineData("disagg-nats.default", "disagg-nats.default")]
    public void ServiceDnsNames_OnlyTheFqdnForms_AreReplaced(string input, string expected) =>
        Assert.Equal(expected, ContainerLaunchBuilder.ReplaceServiceNames(input, (ns, name) => ns == "default" && name == "disagg-nats" ? "127.96.0.11" : null));

    [Fact]
    public void TemplateHash_IgnoresKeyOrder_AndChangesWithContent()
    {
        var a = JsonNode.Parse("""{"spec":{"containers":[{"name":"main","args":["x"]}]},"metadata":{"labels":{"app":"a"}}}""");
        var b = JsonNode.Parse("""{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"args":["x"],"name":"main"}]}}""");
        var c = JsonNode.Parse("""{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"args":["y"],"name":"main"}]}}""");
        Assert.Equal(Objects.TemplateHash(a), Objects.TemplateHash(b));
        Assert.NotEqual(Objects.TemplateHash(a), Objects.TemplateHash(c));
        Assert.NotEqual(Objects.TemplateHash(a), Objects.TemplateHash(a, collisionCount: 1));
        Assert.Matches("^[bcdfghjklmnpqrstvwxz2456789]+$", Objects.TemplateHash(a));
    }

    [Theory]
    [InlineData(null, 4, true, 1)]
    [InlineData(null, 4, false, 1)]
    [InlineData(null, 1, true, 1)]
    [InlineData(null, 1, false, 0)]
    [InlineData("50%", 3, true, 2)]
    [InlineData("50%", 3, false, 1)]
    [InlineData("2", 10, true, 2)]
    public void MaxSurgeAndMaxUnavailable_RoundAsTheDeploymentControllerDoes(string? value, int total, bool up, int expected) =>
        Assert.Equal(expected, Objects.IntOrPercent(value is null ? null : int.TryParse(value, out var n) ? JsonValue.Create(n) : JsonValue.Create(value), total, up, 25));

    [Fact]
    public void DynamoCommand_Parses_AnApphostOrDotnetWithTheDll()
    {
        Assert.Equal(new DynamoCommand("/opt/dynamo/dynamo", []).Executable, DynamoCommand.Parse("/opt/dynamo/dynamo").Executable);
        var dotnet = DynamoCommand.Parse("dotnet /opt/dynamo/dynamo.dll");
        Assert.Equal("dotnet", dotnet.Executable);
        Assert.Equal(["/opt/dynamo/dynamo.dll"], dotnet.LeadingArguments);
        Assert.Throws<ArgumentException>(() => DynamoCommand.Parse("  "));
    }
}
