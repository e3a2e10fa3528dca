using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;
using Dynamo.DevCluster.Tables;

namespace Dynamo.DevCluster.Tests.Unit;

public sealed class FormattingTests
{
    [Theory]
    [InlineData(5, "5s")]
    [InlineData(119, "119s")]
    [InlineData(130, "2m10s")]
    [InlineData(600, "10m")]
    [InlineData(3 * 3600 + 60, "3h1m")]
    [InlineData(10 * 3600, "10h")]
    [InlineData(50 * 3600, "2d2h")]
    [InlineData(400 * 86400, "400d")]
    [InlineData(3 * 365 * 86400 + 20 * 86400, "3y20d")]
    public void HumanDuration_AsKubectlShowsAges(int seconds, string expected) =>
        Assert.Equal(expected, HumanDuration.Format(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void JsonPath_FieldsIndexesWildcardsAndFilters()
    {
        var obj = JsonNode.Parse("""{"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"Degraded","status":"False"}]},"metadata":{"labels":{"a.b/c":"x"}}}""");

        Assert.Equal("True", (string?)JsonPathExpression.Parse(".status.conditions[?(@.type==\"Ready\")].status").Evaluate(obj).Single());
        Assert.Equal("False", (string?)JsonPathExpression.Parse("{.status.conditions[-1].status}").Evaluate(obj).Single());
        Assert.Equal(2, JsonPathExpression.Parse(".status.conditions[*].type").Evaluate(obj).Count);
        Assert.Equal("x", (string?)JsonPathExpression.Parse(".metadata.labels['a.b/c']").Evaluate(obj).Single());
        Assert.Empty(JsonPathExpression.Parse(".spec.missing").Evaluate(obj));
    }

    [Fact]
    public void VersionPriority_GaThenBetaThenAlpha()
    {
        var versions = new[] { "v1alpha1", "v2beta1", "foo", "v1", "v1beta2", "v2" }.OrderBy(v => v, KubeVersionComparer.Instance);

        Assert.Equal(["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"], versions.ToArray());
    }
}
