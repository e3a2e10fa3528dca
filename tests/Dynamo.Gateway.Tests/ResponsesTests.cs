using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;
using OpenAI;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // the Responses client is marked experimental by its package

namespace Dynamo.Gateway.Tests;

/// <summary>
/// <c>POST /v1/responses</c> over real sockets: the response object, the event stream, the response store
/// (<c>previous_response_id</c>, GET and DELETE), refusals; and the official OpenAI .NET client's Responses client.
/// </summary>
public sealed class ResponsesTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private readonly TestCluster _cluster = fixture.Cluster;

    [Fact]
    public async Task Create_ReturnsResponseObject_CutByMaxOutputTokens()
    {
        using var response = await Json.PostAsync(_cluster.Client, "v1/responses", new { model = _cluster.Model, input = "Name three colours.", max_output_tokens = 5, temperature = 0 });
        var body = await Json.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("response", body["object"]!.GetValue<string>());
        Assert.StartsWith("resp_", body["id"]!.GetValue<string>());
        Assert.Equal("incomplete", body["status"]!.GetValue<string>());
        Assert.Equal("max_output_tokens", body["incomplete_details"]!["reason"]!.GetValue<string>());
        Assert.Equal(_cluster.Model, body["model"]!.GetValue<string>());
        Assert.Equal(5, body["max_output_tokens"]!.GetValue<int>());
        var item = Assert.Single(body["output"]!.AsArray())!;
        Assert.Equal("message", item["type"]!.GetValue<string>());
        Assert.Equal("assistant", item["role"]!.GetValue<string>());
        Assert.StartsWith("msg_", item["id"]!.GetValue<string>());
        var part = Assert.Single(item["content"]!.AsArray())!;
        Assert.Equal("output_text", part["type"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(part["text"]!.GetValue<string>()));
        var usage = body["usage"]!;
        Assert.Equal(5, usage["output_tokens"]!.GetValue<int>());
        Assert.True(usage["input_tokens"]!.GetValue<int>() > 3);
        Assert.Equal(usage["input_tokens"]!.GetValue<int>() + 5, usage["total_tokens"]!.GetValue<int>());
        Assert.NotNull(usage["input_tokens_details"]!["cached_tokens"]);
    }

    [Fact]
    public async Task Create_ServesTheSameConversationAsChat()
    {
        // instructions are a leading system message; greedy output must equal chat's for the same messages.
        using var chat = await Json.PostAsync(_cluster.Client, "v1/chat/completions", new
        {
            model = _cluster.Model,
            messages = new object[] { new { role = "system", content = "You are terse." }, new { role = "user", content = "Name three colours." } },
            max_tokens = 12,
            temperature = 0,
        });
        var chatBody = await Json.ReadAsync(chat);
        using var responses = await Json.PostAsync(_cluster.Client, "v1/responses", new
        {
            model = _cluster.Model,
            instructions = "You are terse.",
            input = new object[] { new { role = "user", content = new object[] { new { type = "input_text", text = "Name three colours." } } } },
            max_output_tokens = 12,
            temperature = 0,
            metadata = new { trace = "t-1" },
        });
        var body = await Json.ReadAsync(responses);

        Assert.Equal(HttpStatusCode.OK, responses.StatusCode);
        Assert.Equal(chatBody["choices"]![0]!["message"]!["content"]!.GetValue<string>(), OutputText(body));
        Assert.Equal(chatBody["usage"]!["prompt_tokens"]!.GetValue<int>(), body["usage"]!["input_tokens"]!.GetValue<int>());
        Assert.Equal("You are terse.", body["instructions"]!.GetValue<string>());
        Assert.Equal("t-1", body["metadata"]!["trace"]!.GetValue<string>());
    }

    [Fact]
    public async Task Stream_SendsTheResponsesEventSequence()
    {
        using var response = await Json.PostAsync(_cluster.Client, "v1/responses", new { model = _cluster.Model, input = "Once upon a time", max_output_tokens = 8, temperature = 0, stream = true });
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e.Trim()).ToList();

        var types = new List<string>();
        var deltas = new StringBuilder();
        JsonNode? last = null;
        for (var i = 0; i < events.Count; i++)
        {
            var lines = events[i].Split('\n');
            Assert.StartsWith("event: ", lines[0]);
            Assert.StartsWith("data: ", lines[1]);
            var data = JsonNode.Parse(lines[1]["data: ".Length..])!;
            Assert.Equal(lines[0]["event: ".Length..], data["type"]!.GetValue<string>());
            Assert.Equal(i, data["sequence_number"]!.GetValue<int>());
            types.Add(data["type"]!.GetValue<string>());
            if (types[^1] == "response.output_text.delta")
            {
                deltas.Append(data["delta"]!.GetValue<string>());
            }

            last = data;
        }

        Assert.Equal(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"], types[..4]);
        Assert.Equal(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"], types[^4..]);
        Assert.All(types[4..^4], t => Assert.Equal("response.output_text.delta", t));
        Assert.NotEmpty(types[4..^4]);
        var final = last!["response"]!;
        Assert.Equal("incomplete", final["status"]!.GetValue<string>());
        Assert.Equal(deltas.ToString(), OutputText(final));
        Assert.Equal(8, final["usage"]!["output_tokens"]!.GetValue<int>());
        Assert.DoesNotContain("[DONE]", text);

        // The stream's text is the non-streamed text for the same greedy request.
        using var whole = await Json.PostAsync(_cluster.Client, "v1/responses", new { model = _cluster.Model, input = "Once upon a time", max_output_tokens = 8, temperature = 0 });
        Assert.Equal(OutputText(await Json.ReadAsync(whole)), deltas.ToString());
    }

    [Fact]
    public async Task PreviousResponseId_ContinuesTheConversation_AndTheStoreAnswersGetAndDelete()
    {
        using var first = await Json.PostAsync(_cluster.Client, "v1/responses", new { model = _cluster.Model, input = "My name is Ada.", max_output_tokens = 6, temperature = 0 });
        var firstBody = await Json.ReadAsync(first);
        var id = firstBody["id"]!.GetValue<string>();
        var firstUsage = firstBody["usage"]!;

        using var second = await Json.PostAsync(_cluster.Client, "v1/responses", new { model = _cluster.Model, input = "What is my name?", previous_response_id = id, max_output_tokens = 4, temperature = 0 });
        var secondBody = await Json.ReadAsync(second);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(id, secondBody["previous_response_id"]!.GetValue<string>());
        // The second prompt holds the first turn's input and output ahead of its own.
        Assert.True(secondBody["usage"]!["input_tokens"]!.GetValue<int>() > firstUsage["input_tokens"]!.GetValue<int>() + firstUsage["output_tokens"]!.GetValue<int>());

        using var got = await _cluster.Client.GetAsync($"v1/responses/{id}");
        var gotBody = await Json.ReadAsync(got);
        Assert.Equal(HttpStatusCode.OK, got.StatusCode);
        Assert.Equal(OutputText(firstBody), OutputText(gotBody));

        using var deleted = await _cluster.Client.DeleteAsync($"v1/responses/{id}");
        Assert.True((await Json.ReadAsync(deleted))["deleted"]!.GetValue<bool>());
        using var gone = await _cluster.Client.GetAsync($"v1/responses/{id}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Json.AssertOpenAiError(await Json.ReadAsync(gone));

        using var orphan = await Json.PostAsync(_cluster.Client, "v1/responses", new { model = _cluster.Model, input = "again", previous_response_id = id });
        Assert.Equal(HttpStatusCode.NotFound, orphan.StatusCode);
        var error = await Json.ReadAsync(orphan);
        Json.AssertOpenAiError(error, "previous_response_id");
        Assert.Equal("previous_response_not_found", error["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task StoreFalse_KeepsNothing()
    {
        using var response = await Json.PostAsync(_cluster.Client, "v1/responses", new { model = _cluster.Model, input = "Hello", max_output_tokens = 2, store = false });
        var body = await Json.ReadAsync(response);
        Assert.False(body["store"]!.GetValue<bool>());

        using var got = await _cluster.Client.GetAsync($"v1/responses/{body["id"]!.GetValue<string>()}");
        Assert.Equal(HttpStatusCode.NotFound, got.StatusCode);
    }

    [Theory]
    [InlineData("""{"input":"hi","max_output_tokens":0}""", "max_output_tokens", null)]
    [InlineData("""{"input":"hi","max_output_tokens":"many"}""", "max_output_tokens", null)]
    [InlineData("""{"max_output_tokens":3}""", "input", null)]
    [InlineData("""{"input":[]}""", "input", null)]
    [InlineData("""{"input":"hi","temperature":5}""", "temperature", null)]
    [InlineData("""{"input":[{"role":"robot","content":"hi"}]}""", "input[0].role", null)]
    [InlineData("""{"input":[{"role":"user","content":[{"type":"input_image","image_url":"http://x/y.png"}]}]}""", "input[0].content[0].type", "unsupported_parameter")]
    [InlineData("""{"input":"hi","reasoning":{"effort":"high"}}""", "reasoning", "unsupported_parameter")]
    [InlineData("""{"input":"hi","background":true}""", "background", "unsupported_parameter")]
    [InlineData("""{"input":"hi","truncation":"auto"}""", "truncation", "unsupported_parameter")]
    [InlineData("""{"input":"hi","include":["message.output_text.logprobs"]}""", "include", "unsupported_parameter")]
    [InlineData("""{"input":"hi","tools":[{"type":"web_search"}]}""", "tools[0].type", "unsupported_parameter")]
    [InlineData("""{"input":"hi","text":{"verbosity":"low"}}""", "text.verbosity", "unsupported_parameter")]
    [InlineData("""{"input":[{"type":"reasoning","summary":[]}]}""", "input[0].type", "unsupported_parameter")]
    [InlineData("""{"input":"hi","metadata":{"k":1}}""", "metadata", null)]
    public async Task BadOrUnsupportedInput_Answers400_NamingTheResponsesField(string json, string param, string? code)
    {
        var body = JsonNode.Parse(json)!.AsObject();
        body["model"] = _cluster.Model;
        using var response = await _cluster.Client.PostAsync("v1/responses", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var error = await Json.ReadAsync(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Json.AssertOpenAiError(error, param);
        if (code is not null)
        {
            Assert.Equal(code, error["error"]!["code"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task OfficialClient_CreatesStreamsChainsAndReadsBack()
    {
        var client = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions
        {
            Endpoint = new Uri(_cluster.Address, "v1"),
            NetworkTimeout = TimeSpan.FromSeconds(30),
        }).GetResponsesClient();

        var options = new CreateResponseOptions(_cluster.Model, [ResponseItem.CreateUserMessageItem("Name three colours.")])
        {
            Instructions = "You are terse.",
            MaxOutputTokenCount = 10,
            Temperature = 0,
        };
        ResponseResult whole = await client.CreateResponseAsync(options);
        Assert.StartsWith("resp_", whole.Id);
        Assert.Equal(ResponseStatus.Incomplete, whole.Status);
        Assert.False(string.IsNullOrEmpty(whole.GetOutputText()));
        Assert.Equal(10, whole.Usage.OutputTokenCount);

        var streamed = new StringBuilder();
        ResponseResult? completed = null;
        options.StreamingEnabled = true;
        await foreach (var update in await client.CreateResponseStreamingAsync(options))
        {
            if (update is StreamingResponseOutputTextDeltaUpdate delta)
            {
                streamed.Append(delta.Delta);
            }
            else if (update is StreamingResponseIncompleteUpdate incomplete)
            {
                completed = incomplete.Response;
            }
        }

        Assert.Equal(whole.GetOutputText(), streamed.ToString());
        Assert.NotNull(completed);
        Assert.Equal(whole.GetOutputText(), completed.GetOutputText());

        ResponseResult next = await client.CreateResponseAsync(new CreateResponseOptions(_cluster.Model, [ResponseItem.CreateUserMessageItem("And three more?")])
        {
            PreviousResponseId = whole.Id,
            MaxOutputTokenCount = 4,
        });
        Assert.Equal(whole.Id, next.PreviousResponseId);
        Assert.True(next.Usage.InputTokenCount > whole.Usage.InputTokenCount + whole.Usage.OutputTokenCount);

        ResponseResult readBack = await client.GetResponseAsync(whole.Id);
        Assert.Equal(whole.GetOutputText(), readBack.GetOutputText());
        await client.DeleteResponseAsync(whole.Id);
        var missing = await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync(whole.Id));
        Assert.Equal(404, missing.Status);
    }

    private static string OutputText(JsonNode response) =>
        string.Concat(response["output"]!.AsArray().SelectMany(item => item!["content"]!.AsArray()).Select(part => part!["text"]!.GetValue<string>()));
}
