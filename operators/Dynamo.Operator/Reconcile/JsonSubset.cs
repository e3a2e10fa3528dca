using System.Text.Json.Nodes;

namespace Dynamo.Operator.Reconcile;

/// <summary>Whether the server's object already has everything the operator wants (fields it does not set are ignored).</summary>
public static class JsonSubset
{
    public static bool Contains(JsonNode? actual, JsonNode? wanted) => wanted switch
    {
        null => true,
        JsonObject wantedObject => actual is JsonObject actualObject
            && wantedObject.All(p => p.Value is null || (actualObject.TryGetPropertyValue(p.Key, out var a) && Contains(a, p.Value))),
        JsonArray wantedArray => actual is JsonArray actualArray
            && actualArray.Count == wantedArray.Count
            && wantedArray.Select((w, i) => Contains(actualArray[i], w)).All(b => b),
        _ => actual is JsonValue && (JsonNode.DeepEquals(actual, wanted) || actual.ToString() == wanted.ToString()),
    };
}
