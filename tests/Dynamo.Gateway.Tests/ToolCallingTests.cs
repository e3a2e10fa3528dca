using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;
using Dynamo.Llm;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// Tool calling through the real gateway over sockets: the request's tools and an agent's history go through the
/// generated model's (default, Hermes-style) chat template into the prompt the worker gets, and a worker's answer
/// holding a call comes back as <c>tool_calls</c>, whole and streamed. Random weights never write a call, so the answers
/// come from a scripted worker that the real worker is drained in favour of.
/// </summary>
[Collection(CpuHeavyCollection.Name)]
public sealed class ToolCallingTests
{
    private static readonly object[] s_tools =
    [
        new { type = "function", function = new { name = "get_weather", description = "Weather of a city", parameters = new { type = "object", properties = new { city = new { type = "string", maxLength = 40 } }, required = new[] { "city" }, additionalProperties = false } } },
    ];

    private static readonly string[] s_hermesCall =
        ["Let me ", "check.\n<tool", "_call>\n{\"name\": \"get_", "weather\", \"arguments\": {\"ci", "ty\": \"Paris\"}}\n</tool_call>"];

    [Fact]
    public async Task WholeResponse_HermesCall_IsToolCalls_AndThePromptShowsTheToolsAndHistory()
    {
        await using var cluster = await StartAsync();
        await using var worker = await ScriptAsync(cluster, s_hermesCall);

        using var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new
        {
            model = cluster.Model,
            tools = s_tools,
            messages = AgentHistory(),
        });

        var body = await Json.ReadAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var choice = body["choices"]![0]!;
        Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
        Assert.Equal("Let me check.", choice["message"]!["content"]!.GetValue<string>());
        var call = Assert.Single(choice["message"]!["tool_calls"]!.AsArray())!;
        Assert.Equal("function", call["type"]!.GetValue<string>());
        Assert.StartsWith("call_", call["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("get_weather", call["function"]!["name"]!.GetValue<string>());
        Assert.Equal("Paris", JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>())!["city"]!.GetValue<string>());

        var prompt = await PromptTextAsync(Assert.Single(worker.Requests));
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"", prompt, StringComparison.Ordinal);
        Assert.Contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call><|im_end|>", prompt, StringComparison.Ordinal);
        Assert.Contains("<|im_start|>user\n<tool_response>\nrainy, 14 C\n</tool_response><|im_end|>\n<|im_start|>assistant\n", prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_HermesCall_SendsToolCallDeltas_AndFinishesWithToolCalls()
    {
        await using var cluster = await StartAsync();
        await using var worker = await ScriptAsync(cluster, s_hermesCall);

        using var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new
        {
            model = cluster.Model,
            tools = s_tools,
            stream = true,
            messages = new[] { new { role = "user", content = "Weather in Paris?" } },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await Json.ReadEventsAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        var content = new StringBuilder();
        var arguments = new StringBuilder();
        string? name = null, id = null, finish = null;
        foreach (var data in events[..^1])
        {
            var choice = JsonNode.Parse(data)!["choices"]![0]!;
            var delta = choice["delta"]!;
            content.Append(delta["content"]?.GetValue<string>());
            if (delta["tool_calls"] is JsonArray calls)
            {
                var call = Assert.Single(calls)!;
                Assert.Equal(0, call["index"]!.GetValue<int>());
                if (call["id"] is { } callId)
                {
                    Assert.Null(id);
                    id = callId.GetValue<string>();
                    name = call["function"]!["name"]!.GetValue<string>();
                    Assert.Equal("function", call["type"]!.GetValue<string>());
                }

                arguments.Append(call["function"]!["arguments"]!.GetValue<string>());
            }

            finish = choice["finish_reason"]?.GetValue<string>() ?? finish;
        }

        Assert.Equal("Let me check.\n", content.ToString());
        Assert.Equal("get_weather", name);
        Assert.NotNull(id);
        Assert.Equal("{\"city\": \"Paris\"}", arguments.ToString());
        Assert.Equal("tool_calls", finish);
    }

    [Fact]
    public async Task Stream_WorkerDiesInsideTheCall_RequestMigrates_AndTheCallArrivesWhole()
    {
        await using var cluster = await StartAsync();
        await using var worker = await ScriptAsync(cluster, s_hermesCall, instances: 2);
        worker.CutAfterPieces = 3;

        using var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new
        {
            model = cluster.Model,
            tools = s_tools,
            stream = true,
            messages = new[] { new { role = "user", content = "Weather in Paris?" } },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await Json.ReadEventsAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        var arguments = new StringBuilder();
        var names = new List<string>();
        string? finish = null;
        foreach (var data in events[..^1])
        {
            var choice = JsonNode.Parse(data)!["choices"]![0]!;
            if (choice["delta"]!["tool_calls"] is JsonArray calls)
            {
                if (calls[0]!["function"]!["name"] is { } name)
                {
                    names.Add(name.GetValue<string>());
                }

                arguments.Append(calls[0]!["function"]!["arguments"]!.GetValue<string>());
            }

            finish = choice["finish_reason"]?.GetValue<string>() ?? finish;
        }

        // The cut fell inside the call's name: the continuation's pieces went through the same parser.
        Assert.Equal(2, worker.Requests.Count);
        Assert.Equal(["get_weather"], names);
        Assert.Equal("{\"city\": \"Paris\"}", arguments.ToString());
        Assert.Equal("tool_calls", finish);
    }

    [Fact]
    public async Task OfficialOpenAiClient_ReadsTheCalls_WholeAndStreamed_AndSendsTheSecondTurn()
    {
        await using var cluster = await StartAsync();
        await using var worker = await ScriptAsync(cluster, s_hermesCall);
        var client = new OpenAI.OpenAIClient(new ApiKeyCredential("unused"), new OpenAI.OpenAIClientOptions { Endpoint = new Uri(cluster.Address, "v1") })
            .GetChatClient(cluster.Model);
        var options = new OpenAI.Chat.ChatCompletionOptions
        {
            Tools = { OpenAI.Chat.ChatTool.CreateFunctionTool("get_weather", "Weather of a city", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}}}""")) },
        };
        List<OpenAI.Chat.ChatMessage> conversation = [new OpenAI.Chat.UserChatMessage("Weather in Paris?")];

        OpenAI.Chat.ChatCompletion completion = await client.CompleteChatAsync(conversation, options);

        Assert.Equal(OpenAI.Chat.ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal(("get_weather", "{\"city\": \"Paris\"}"), (call.FunctionName, call.FunctionArguments.ToString()));

        var arguments = new StringBuilder();
        string? name = null;
        OpenAI.Chat.ChatFinishReason? finish = null;
        await foreach (var update in client.CompleteChatStreamingAsync(conversation, options))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                Assert.Equal(0, part.Index);
                name ??= part.FunctionName;
                arguments.Append(part.FunctionArgumentsUpdate?.ToString());
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal(("get_weather", call.FunctionArguments.ToString(), OpenAI.Chat.ChatFinishReason.ToolCalls), (name, arguments.ToString(), finish));

        // The agent ran the call: its second turn carries the SDK's own assistant message and the tool's result.
        conversation.Add(new OpenAI.Chat.AssistantChatMessage(completion));
        conversation.Add(new OpenAI.Chat.ToolChatMessage(call.Id, "sunny, 21 C"));
        await client.CompleteChatAsync(conversation, options);
        var prompt = await PromptTextAsync(worker.Requests[^1]);
        Assert.Contains("<|im_start|>assistant\nLet me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>", prompt, StringComparison.Ordinal);
        Assert.Contains("<tool_response>\nsunny, 21 C\n</tool_response>", prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ToolChoiceNone_ToolsAreNotShown_AndTheAnswerIsPlainContent()
    {
        await using var cluster = await StartAsync();
        await using var worker = await ScriptAsync(cluster, s_hermesCall);

        using var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new
        {
            model = cluster.Model,
            tools = s_tools,
            tool_choice = "none",
            messages = new[] { new { role = "user", content = "Weather in Paris?" } },
        });

        var body = await Json.ReadAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var choice = body["choices"]![0]!;
        Assert.Equal(string.Concat(s_hermesCall), choice["message"]!["content"]!.GetValue<string>());
        Assert.Null(choice["message"]!["tool_calls"]);
        Assert.Equal("stop", choice["finish_reason"]!.GetValue<string>());
        Assert.DoesNotContain("<tools>", await PromptTextAsync(Assert.Single(worker.Requests)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RealWorker_AgentSecondTurn_IsServed_AndForcedChoicesAlwaysCall()
    {
        await using var cluster = await StartAsync();

        // The shape that used to get a 400: assistant tool_calls with null content, then a tool message.
        using (var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new { model = cluster.Model, tools = s_tools, max_tokens = 4, messages = AgentHistory() }))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var choice = (await Json.ReadAsync(response))["choices"]![0]!;
            Assert.NotNull(choice["message"]!["content"]);
        }

        using (var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new { model = cluster.Model, tools = s_tools, stream = true, max_tokens = 4, messages = AgentHistory() }))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("[DONE]", (await Json.ReadEventsAsync(response))[^1]);
        }

        // A forced call (required, or a named function) is made by constrained decoding: the mocker's pseudo-random
        // tokens can only write a well-formed call, which comes back as tool_calls, whole and streamed.
        foreach (object choice in new object[] { "required", new { type = "function", function = new { name = "get_weather" } } })
        {
            using var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new { model = cluster.Model, tools = s_tools, tool_choice = choice, max_tokens = 300, messages = AgentHistory() });
            var body = await Json.ReadAsync(response);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var forced = body["choices"]![0]!;
            Assert.Equal("tool_calls", forced["finish_reason"]!.GetValue<string>());
            var call = Assert.Single(forced["message"]!["tool_calls"]!.AsArray())!;
            Assert.Equal("get_weather", call["function"]!["name"]!.GetValue<string>());
            Assert.Equal(JsonValueKind.String, JsonDocument.Parse(call["function"]!["arguments"]!.GetValue<string>()).RootElement.GetProperty("city").ValueKind);
        }

        using (var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new { model = cluster.Model, tools = s_tools, tool_choice = "required", stream = true, max_tokens = 300, messages = AgentHistory() }))
        {
            var deltas = (await Json.ReadEventsAsync(response))[..^1].Select(e => JsonNode.Parse(e)!["choices"]!.AsArray()).Where(c => c.Count > 0).Select(c => c[0]!).ToList();
            Assert.Equal("tool_calls", deltas[^1]["finish_reason"]!.GetValue<string>());
            var arguments = string.Concat(deltas.Select(d => d["delta"]!["tool_calls"]?[0]?["function"]?["arguments"]?.GetValue<string>()));
            Assert.Equal(JsonValueKind.String, JsonDocument.Parse(arguments).RootElement.GetProperty("city").ValueKind);
        }

        using (var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new { model = cluster.Model, tools = s_tools, tool_choice = "required", response_format = new { type = "json_object" }, messages = AgentHistory() }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Json.AssertOpenAiError(await Json.ReadAsync(response), "response_format");
        }

        // A worker's own endpoint does not parse calls: it refuses tools instead of answering with raw markup.
        var workerUri = new Uri(cluster.Cluster.Workers[0].Address, "v1/chat/completions");
        using (var response = await cluster.WorkerClient.PostAsync(workerUri, Json.Body(new { model = cluster.Model, tools = s_tools, messages = AgentHistory() })))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Json.AssertOpenAiError(await Json.ReadAsync(response), "tools");
        }
    }

    [Fact]
    public async Task Responses_HermesCall_IsAFunctionCallItem_AndFunctionCallHistoryReachesThePrompt()
    {
        await using var cluster = await StartAsync();
        await using var worker = await ScriptAsync(cluster, s_hermesCall);

        using var response = await Json.PostAsync(cluster.Client, "v1/responses", new
        {
            model = cluster.Model,
            tools = s_responsesTools,
            input = ResponsesHistory(),
        });

        var body = await Json.ReadAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("completed", body["status"]!.GetValue<string>());
        var output = body["output"]!.AsArray();
        Assert.Equal(2, output.Count);
        Assert.Equal("message", output[0]!["type"]!.GetValue<string>());
        Assert.Equal("Let me check.", output[0]!["content"]![0]!["text"]!.GetValue<string>());
        var call = output[1]!;
        Assert.Equal("function_call", call["type"]!.GetValue<string>());
        Assert.Equal("get_weather", call["name"]!.GetValue<string>());
        Assert.StartsWith("call_", call["call_id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.StartsWith("fc_", call["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("Paris", JsonNode.Parse(call["arguments"]!.GetValue<string>())!["city"]!.GetValue<string>());

        // The function_call / function_call_output items became the assistant's tool call and the tool's answer.
        var prompt = await PromptTextAsync(Assert.Single(worker.Requests));
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"", prompt, StringComparison.Ordinal);
        Assert.Contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call><|im_end|>", prompt, StringComparison.Ordinal);
        Assert.Contains("<tool_response>\nrainy, 14 C\n</tool_response>", prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResponsesStream_HermesCall_SendsFunctionCallEvents()
    {
        await using var cluster = await StartAsync();
        await using var worker = await ScriptAsync(cluster, s_hermesCall);

        using var response = await Json.PostAsync(cluster.Client, "v1/responses", new
        {
            model = cluster.Model,
            tools = s_responsesTools,
            stream = true,
            input = "Weather in Paris?",
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // Responses events are "event: TYPE" then "data: {...}".
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => JsonNode.Parse(e.Split('\n').Single(l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..])!)
            .ToList();
        var types = events.Select(e => e["type"]!.GetValue<string>()).ToList();
        var text = string.Concat(events.Where(e => e["type"]!.GetValue<string>() == "response.output_text.delta").Select(e => e["delta"]!.GetValue<string>()));
        var arguments = string.Concat(events.Where(e => e["type"]!.GetValue<string>() == "response.function_call_arguments.delta").Select(e => e["delta"]!.GetValue<string>()));
        Assert.Equal("Let me check.\n", text);
        Assert.Equal("Paris", JsonNode.Parse(arguments)!["city"]!.GetValue<string>());

        var added = events.Where(e => e["type"]!.GetValue<string>() == "response.output_item.added").Select(e => e["item"]!["type"]!.GetValue<string>());
        Assert.Equal(["message", "function_call"], added);
        // The message item closes before the call's item opens; the call's arguments close before the response does.
        Assert.True(types.IndexOf("response.output_text.done") < types.LastIndexOf("response.output_item.added"));
        Assert.True(types.IndexOf("response.function_call_arguments.done") < types.IndexOf("response.completed"));
        var final = events[^1]["response"]!;
        Assert.Equal("completed", final["status"]!.GetValue<string>());
        Assert.Equal(arguments, final["output"]![1]!["arguments"]!.GetValue<string>());
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e["sequence_number"]!.GetValue<int>()));
    }

    private static readonly object[] s_responsesTools =
    [
        new { type = "function", name = "get_weather", description = "Weather of a city", parameters = new { type = "object", properties = new { city = new { type = "string" } }, required = new[] { "city" } } },
    ];

    private static object[] ResponsesHistory() =>
    [
        new { role = "user", content = "Weather in Rome?" },
        new { type = "function_call", call_id = "call_1", name = "get_weather", arguments = "{\"city\": \"Rome\"}" },
        new { type = "function_call_output", call_id = "call_1", output = "rainy, 14 C" },
    ];

    private static object[] AgentHistory() =>
    [
        new { role = "user", content = "Weather in Rome?" },
        new { role = "assistant", content = (string?)null, tool_calls = new[] { new { id = "call_1", type = "function", function = new { name = "get_weather", arguments = "{\"city\": \"Rome\"}" } } } },
        new { role = "tool", tool_call_id = "call_1", content = "rainy, 14 C" },
    ];

    private static Task<TestCluster> StartAsync() => TestCluster.StartAsync(new Dictionary<string, string?>
    {
        ["Dynamo:Serve:Workers"] = "1",
        ["Dynamo:Router:Mode"] = "round-robin",
    });

    /// <summary>Puts a scripted worker in discovery and drains the real one: every request goes to the script.</summary>
    private static async Task<ScriptedWorker> ScriptAsync(TestCluster cluster, IReadOnlyList<string> pieces, int instances = 1)
    {
        var worker = new ScriptedWorker { Pieces = pieces };
        var real = cluster.Cluster.Workers[0];
        for (var i = 0; i < instances; i++)
        {
            // Several instances at one address: a request moved off a failed one reaches the script again.
            await cluster.Cluster.Discovery.RegisterAsync(real.Instance with { InstanceId = $"scripted-{i}", Address = worker.Address });
        }

        await cluster.Cluster.DrainWorkerAsync(real, CancellationToken.None);
        return worker;
    }

    private static async Task<string> PromptTextAsync(JsonNode workerRequest)
    {
        var card = ModelCard.Load(await TestCluster.TinyModelAsync());
        var ids = workerRequest["prompt"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
        return card.Tokenizer.Decode(ids);
    }
}
