using System.Text.Json.Nodes;
using Dynamo.DevCluster.Patch;

namespace Dynamo.DevCluster.Tests.Unit;

public sealed class PatchEngineTests
{
    private static JsonObject Obj(string json) => JsonNode.Parse(json)!.AsObject();

    private static string Smp(string kind, string original, string patch) =>
        StrategicMergePatch.Apply(kind, Obj(original), JsonNode.Parse(patch)).ToJsonString();

    [Fact]
    public void MergePatch_ReplacesListsAndNonObjects() =>
        Assert.Equal("""{"a":[3],"b":{"c":1,"d":2},"e":"x"}""",
            JsonMergePatch.Apply(Obj("""{"a":[1,2],"b":{"c":1},"e":{"f":1},"g":1}"""), Obj("""{"a":[3],"b":{"d":2},"e":"x","g":null}"""))!.ToJsonString());

    [Fact]
    public void JsonPatch_MoveCopyAndEscapedPointers()
    {
        var doc = Obj("""{"metadata":{"annotations":{"a/b":"1","c~d":"2"}},"x":[1,2]}""");
        var patch = JsonNode.Parse("""
            [{"op":"copy","from":"/metadata/annotations/a~1b","path":"/y"},
             {"op":"move","from":"/metadata/annotations/c~0d","path":"/x/0"},
             {"op":"remove","path":"/x/2"}]
            """);

        Assert.Equal("""{"metadata":{"annotations":{"a/b":"1"}},"x":["2",1],"y":"1"}""", JsonPatch.Apply(doc, patch)!.ToJsonString());
    }

    [Fact]
    public void JsonPatch_MissingPathIs422_AndUnknownOpIs400()
    {
        Assert.Equal(422, Assert.Throws<ApiException>(() => JsonPatch.Apply(Obj("{}"), JsonNode.Parse("""[{"op":"replace","path":"/a/b","value":1}]"""))).Code);
        Assert.Equal(400, Assert.Throws<ApiException>(() => JsonPatch.Apply(Obj("{}"), JsonNode.Parse("""[{"op":"upsert","path":"/a","value":1}]"""))).Code);
    }

    [Fact]
    public void Smp_ServicePortsMergeByPort_ContainerPortsByContainerPort()
    {
        Assert.Equal("""{"spec":{"ports":[{"port":80,"name":"web"},{"port":81}]}}""",
            Smp("Service", """{"spec":{"ports":[{"port":80},{"port":81}]}}""", """{"spec":{"ports":[{"port":80,"name":"web"}]}}"""));
        // Outside a container, "ports" has no merge key and replaces.
        Assert.Equal("""{"spec":{"ports":[{"port":80,"name":"web"}]}}""",
            Smp("Endpoints", """{"spec":{"ports":[{"port":80},{"port":81}]}}""", """{"spec":{"ports":[{"port":80,"name":"web"}]}}"""));
    }

    [Fact]
    public void Smp_FinalizersMergeAsASet_AndDeleteFromPrimitiveListRemoves()
    {
        Assert.Equal("""{"metadata":{"finalizers":["a","b"]}}""",
            Smp("ConfigMap", """{"metadata":{"finalizers":["a"]}}""", """{"metadata":{"finalizers":["b","a"]}}"""));
        Assert.Equal("""{"metadata":{"finalizers":["b"]}}""",
            Smp("ConfigMap", """{"metadata":{"finalizers":["a","b"]}}""", """{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}"""));
    }

    [Fact]
    public void Smp_RetainKeysAndPatchReplace()
    {
        Assert.Equal("""{"spec":{"strategy":{"type":"Recreate"}}}""",
            Smp("Deployment", """{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}}""",
                """{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"""));
        Assert.Equal("""{"data":{"only":"1"}}""",
            Smp("ConfigMap", """{"data":{"a":"1","b":"2"}}""", """{"data":{"$patch":"replace","only":"1"}}"""));
        Assert.Equal("""{"spec":{"containers":[{"name":"x"}]}}""",
            Smp("Pod", """{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}""", """{"spec":{"containers":[{"name":"x"},{"$patch":"replace"}]}}"""));
    }

    [Fact]
    public void Smp_UnknownDirectiveAndItemWithoutMergeKey_Are400()
    {
        Assert.Equal(400, Assert.Throws<ApiException>(() => Smp("Pod", "{}", """{"spec":{"$patch":"explode"}}""")).Code);
        Assert.Equal(400, Assert.Throws<ApiException>(() => Smp("Pod", """{"spec":{"containers":[{"name":"a"}]}}""", """{"spec":{"containers":[{"image":"x"}]}}""")).Code);
    }
}
