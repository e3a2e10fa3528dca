using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// response_format end to end: the gateway parses and forwards it, the worker builds the constraint, the engine
/// (the real one on random weights, or the mocker) samples only valid tokens, and the client gets JSON that validates.
/// Disaggregation (the prefill samples the first token) and migration (the constraint replays the tokens so far) too.
/// </summary>
public sealed class StructuredOutputTests
{
    private const string Schema = """
        {"type":"object","additionalProperties":false,"required":["city","unit","days","rain","tags","note"],
         "properties":{
           "city":{"type":"string","maxLength":12},
           "unit":{"enum":["celsius","fahrenheit"]},
           "days":{"type":"integer"},
           "rain":{"type":["boolean","null"]},
           "tags":{"type":"array","items":{"$ref":"#/$defs/tag"},"maxItems":3},
           "note":{"anyOf":[{"type":"string","maxLength":8},{"type":"number"}]}},
         "$defs":{"tag":{"type":"object","properties":{"k":{"type":"string","maxLength":6}},"required":["k"],"additionalProperties":false}}}
        """;

    private static JsonObject ResponseFormat() => new()
    {
        ["type"] = "json_schema",
        ["json_schema"] = new JsonObject { ["name"] = "weather", ["strict"] = true, ["schema"] = JsonNode.Parse(Schema) },
    };

    [Theory]
    [InlineData("dotnet", false)]
    [InlineData("dotnet", true)]
    [InlineData("mocker", false)]
    [InlineData("mocker", true)]
    public async Task ChatJsonSchema_RandomWeights_ReturnsSchemaValidJson(string engine, bool stream)
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Serve:Engine"] = engine,
            ["Dynamo:Serve:Workers"] = "1",
        });
        for (var seed = 1; seed <= 3; seed++)
        {
            var (content, finish) = await ChatAsync(cluster, seed, stream);
            Assert.Equal("stop", finish);
            AssertValid(content);
        }
    }

    [Theory]
    [InlineData("dotnet")]
    [InlineData("mocker")]
    public async Task Disaggregated_FirstTokenFromThePrefill_StillValid(string engine)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Dynamo:Serve:Engine"] = engine,
            ["Dynamo:Serve:Mode"] = "disagg",
            ["Dynamo:Serve:Workers"] = null,
            ["Dynamo:Serve:PrefillWorkers"] = "1",
            ["Dynamo:Serve:DecodeWorkers"] = "1",
            ["Dynamo:Gateway:Disaggregation:MinRemotePrefillTokens"] = "1",
            ["Dynamo:Gateway:Disaggregation:MinUncachedFraction"] = "0",
        };
        if (engine == "dotnet")
        {
            settings["Dynamo:Engine:NumKvBlocks"] = "512";
        }

        await using var cluster = await TestCluster.StartAsync(settings);
        for (var seed = 1; seed <= 2; seed++)
        {
            var (content, finish) = await ChatAsync(cluster, seed, stream: seed == 1);
            Assert.Equal("stop", finish);
            AssertValid(content);
        }

        var metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"remote\",reason=\"\"} 2", metrics);
    }

    [Fact]
    public async Task WorkerCutMidStream_RequestMigrates_ConstraintResumes_SameValidJson()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Mocker:SpeedupFactor"] = "4",
            ["Dynamo:Serve:Workers"] = "2",
            ["Dynamo:Router:Mode"] = "round-robin",
        });
        var expected = await StreamAsync(cluster, cutAfterChunks: null);
        Assert.True(expected.Chunks > 8, $"the answer is too short to cut: {expected.Content}");

        var migrated = await StreamAsync(cluster, cutAfterChunks: 6);

        Assert.Equal(expected.Content, migrated.Content);
        Assert.Equal("stop", migrated.Finish);
        AssertValid(migrated.Content);
        Assert.Contains("dynamo_frontend_migrations_total{model=\"tiny\"} 1", await cluster.Client.GetStringAsync("metrics"));
    }

    private static async Task<(string Content, string? Finish, int Chunks)> StreamAsync(TestCluster cluster, int? cutAfterChunks)
    {
        var body = new JsonObject
        {
            ["model"] = cluster.Model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "The weather in Oslo, as JSON." }),
            ["response_format"] = ResponseFormat(),
            ["max_tokens"] = 600,
            ["seed"] = 5,
            ["stream"] = true,
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        using var response = await cluster.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var content = new StringBuilder();
        string? finish = null;
        var chunks = 0;
        while (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) is { } line)
        {
            if (line == "data: [DONE]")
            {
                break;
            }

            if (!line.StartsWith("data: {", StringComparison.Ordinal) || JsonNode.Parse(line["data: ".Length..])!["choices"]!.AsArray() is not [{ } choice, ..])
            {
                continue;
            }

            content.Append(choice["delta"]?["content"]?.GetValue<string>());
            finish = choice["finish_reason"]?.GetValue<string>() ?? finish;
            if (++chunks == cutAfterChunks)
            {
                foreach (var worker in cluster.Cluster.Workers)
                {
                    var load = JsonNode.Parse(await cluster.WorkerClient.GetStringAsync(new Uri(worker.Address, "load")))!;
                    if (load["running_requests"]!.GetValue<int>() > 0)
                    {
                        await worker.StopAsync(new CancellationToken(canceled: true));
                        break;
                    }
                }
            }
        }

        return (content.ToString(), finish, chunks);
    }

    [Fact]
    public async Task MaxTokensBeforeTheJsonCloses_FinishesWithLength()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Serve:Workers"] = "1" });
        var body = new JsonObject
        {
            ["model"] = cluster.Model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" }),
            ["response_format"] = ResponseFormat(),
            ["max_tokens"] = 3,
        };
        using var response = await cluster.Client.PostAsync("v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var choice = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["choices"]![0]!;
        Assert.Equal("length", choice["finish_reason"]!.GetValue<string>());
        Assert.StartsWith("{\"", choice["message"]!["content"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnsupportedKeyword_IsA400NamingIt_BeforeAnyWorkerSeesIt()
    {
        await using var cluster = await TestCluster.StartAsync();
        var body = new JsonObject
        {
            ["model"] = cluster.Model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" }),
            ["response_format"] = new JsonObject
            {
                ["type"] = "json_schema",
                ["json_schema"] = new JsonObject { ["name"] = "x", ["schema"] = new JsonObject { ["type"] = "string", ["format"] = "email" } },
            },
        };
        using var response = await cluster.Client.PostAsync("v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("response_format", error["param"]!.GetValue<string>());
        Assert.Contains("'format'", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    private static async Task<(string Content, string? Finish)> ChatAsync(TestCluster cluster, int seed, bool stream)
    {
        var body = new JsonObject
        {
            ["model"] = cluster.Model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "The weather in Paris, as JSON." }),
            ["response_format"] = ResponseFormat(),
            ["max_tokens"] = 600,
            ["seed"] = seed,
            ["stream"] = stream,
        };
        using var response = await cluster.Client.PostAsync("v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        if (!stream)
        {
            var choice = JsonNode.Parse(text)!["choices"]![0]!;
            return (choice["message"]!["content"]!.GetValue<string>(), choice["finish_reason"]?.GetValue<string>());
        }

        var content = new StringBuilder();
        string? finish = null;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal))
            {
                continue;
            }

            if (JsonNode.Parse(line["data: ".Length..])!["choices"]!.AsArray() is [{ } choice, ..])
            {
                content.Append(choice["delta"]?["content"]?.GetValue<string>());
                finish = choice["finish_reason"]?.GetValue<string>() ?? finish;
            }
        }

        return (content.ToString(), finish);
    }

    /// <summary>The schema's rules, checked on the parsed answer.</summary>
    private static void AssertValid(string content)
    {
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(content).RootElement;
        }
        catch (JsonException ex)
        {
            throw new Xunit.Sdk.XunitException($"not JSON ({ex.Message}): {content}");
        }

        var keys = root.EnumerateObject().Select(p => p.Name).Order().ToArray();
        Assert.Equal(["city", "days", "note", "rain", "tags", "unit"], keys);
        Assert.True(root.GetProperty("city").GetString()!.EnumerateRunes().Count() <= 12, content);
        Assert.Contains(root.GetProperty("unit").GetString(), new[] { "celsius", "fahrenheit" });
        Assert.True(root.GetProperty("days").TryGetInt64(out _), content);
        Assert.True(root.GetProperty("rain").ValueKind is JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null, content);
        var tags = root.GetProperty("tags");
        Assert.True(tags.GetArrayLength() <= 3, content);
        foreach (var tag in tags.EnumerateArray())
        {
            Assert.Equal(["k"], tag.EnumerateObject().Select(p => p.Name).ToArray());
            Assert.True(tag.GetProperty("k").GetString()!.EnumerateRunes().Count() <= 6, content);
        }

        var note = root.GetProperty("note");
        Assert.True(note.ValueKind == JsonValueKind.Number || (note.ValueKind == JsonValueKind.String && note.GetString()!.EnumerateRunes().Count() <= 8), content);
    }
}
