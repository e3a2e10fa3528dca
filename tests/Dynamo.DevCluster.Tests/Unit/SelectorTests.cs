using System.Text.Json.Nodes;
using Dynamo.DevCluster.Selectors;

namespace Dynamo.DevCluster.Tests.Unit;

public sealed class SelectorTests
{
    private static JsonObject Labels(string json) => JsonNode.Parse(json)!.AsObject();

    [Theory]
    [InlineData("app=web", """{"app":"web"}""", true)]
    [InlineData("app = web", """{"app":"web"}""", true)]
    [InlineData("app!=web", """{}""", true)]
    [InlineData("app in (a, b)", """{"app":"b"}""", true)]
    [InlineData("app notin (a,b)", """{"app":"b"}""", false)]
    [InlineData("app notin (a,b)", """{}""", true)]
    [InlineData("example.com/role", """{"example.com/role":"x"}""", true)]
    [InlineData("!example.com/role", """{"example.com/role":"x"}""", false)]
    [InlineData("a=1,b in (2),!c", """{"a":"1","b":"2"}""", true)]
    [InlineData("a=1,b in (2),!c", """{"a":"1","b":"2","c":""}""", false)]
    [InlineData("app=", """{"app":""}""", true)]
    public void LabelSelector_Matches(string selector, string labels, bool expected) =>
        Assert.Equal(expected, LabelSelector.Parse(selector).Matches(Labels(labels)));

    [Theory]
    [InlineData("app in a,b", "expected '('")]
    [InlineData("app >= 3", "unknown operator")]
    [InlineData("-bad=1", "not a valid label key")]
    [InlineData("app=in valid", "unexpected")]
    public void LabelSelector_Malformed_Throws400NamingTheProblem(string selector, string message)
    {
        var e = Assert.Throws<ApiException>(() => LabelSelector.Parse(selector));
        Assert.Equal(400, e.Code);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LabelSelector_FormatsALabelSelectorObject()
    {
        var selector = JsonNode.Parse("""{"matchLabels":{"b":"2","a":"1"},"matchExpressions":[{"key":"t","operator":"In","values":["x","y"]},{"key":"gone","operator":"DoesNotExist"}]}""")!.AsObject();

        Assert.Equal("a=1,b=2,t in (x,y),!gone", LabelSelector.FormatObject(selector));
    }

    [Fact]
    public void FieldSelector_ComparesNestedFields_MissingAsEmpty()
    {
        var ev = JsonNode.Parse("""{"metadata":{"name":"e"},"involvedObject":{"kind":"Pod","name":"p"},"count":3}""")!.AsObject();

        Assert.True(FieldSelector.Parse("involvedObject.kind=Pod,involvedObject.name==p").Matches(ev));
        Assert.True(FieldSelector.Parse("count=3").Matches(ev));
        Assert.True(FieldSelector.Parse("spec.nodeName=").Matches(ev));
        Assert.False(FieldSelector.Parse("metadata.name!=e").Matches(ev));
        Assert.Equal(400, Assert.Throws<ApiException>(() => FieldSelector.Parse("metadata.name")).Code);
    }
}
