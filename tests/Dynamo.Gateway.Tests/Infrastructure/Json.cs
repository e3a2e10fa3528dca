using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Dynamo.Gateway.Tests.Infrastructure;

internal static class Json
{
    public static StringContent Body(object value) =>
        new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    public static async Task<JsonNode> ReadAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync()) ?? throw new InvalidDataException("empty body");

    /// <summary>The <c>data:</c> payloads of an SSE body, [DONE] included.</summary>
    public static async Task<List<string>> ReadEventsAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return [.. text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Trim())
            .Where(e => e.StartsWith("data: ", StringComparison.Ordinal))
            .Select(e => e["data: ".Length..])];
    }

    public static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, object body) =>
        client.PostAsync(path, Body(body));

    public static void AssertOpenAiError(JsonNode body, string? param = null)
    {
        var error = body["error"] ?? throw new Xunit.Sdk.XunitException($"No error object in {body.ToJsonString()}");
        Assert.False(string.IsNullOrEmpty(error["message"]?.GetValue<string>()), "error.message");
        Assert.False(string.IsNullOrEmpty(error["type"]?.GetValue<string>()), "error.type");
        Assert.True(error.AsObject().ContainsKey("param"), "error.param present");
        Assert.True(error.AsObject().ContainsKey("code"), "error.code present");
        if (param is not null)
        {
            Assert.Equal(param, error["param"]?.GetValue<string>());
        }
    }
}
