using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>A worker that dies mid-stream: the gateway moves the request and the client sees one stream.</summary>
public sealed class MigrationTests
{
    [Fact]
    public async Task WorkerCutMidStream_RequestMigrates_GreedyTextEqualsUninterruptedRun()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Mocker:SpeedupFactor"] = "4",
            ["Dynamo:Serve:Workers"] = "2",
            ["Dynamo:Router:Mode"] = "round-robin",
        });
        var body = new { model = cluster.Model, prompt = "Tell me a story about a migrating bird", max_tokens = 120, temperature = 0, ignore_eos = true, stream = true, stream_options = new { include_usage = true } };
        var expected = await StreamTextAsync(cluster, body, cutAfterChunks: null);

        var migrated = await StreamTextAsync(cluster, body, cutAfterChunks: 20);

        Assert.Equal(expected.Text, migrated.Text);
        Assert.Equal(120, migrated.CompletionTokens);
        Assert.Equal("length", migrated.FinishReason);
        var metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_migrations_total{model=\"tiny\"} 1", metrics);
    }

    [Fact]
    public async Task WorkerCutMidStream_WithLogprobs_TheNewWorkerReportsTheRest()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Mocker:SpeedupFactor"] = "4",
            ["Dynamo:Serve:Workers"] = "2",
            ["Dynamo:Router:Mode"] = "round-robin",
        });
        var body = new { model = cluster.Model, prompt = "Tell me a story about a migrating bird", max_tokens = 60, temperature = 0, ignore_eos = true, stream = true, logprobs = 1 };
        var expected = await StreamTextAsync(cluster, body, cutAfterChunks: null);

        var migrated = await StreamTextAsync(cluster, body, cutAfterChunks: 20);

        Assert.Equal(expected.Text, migrated.Text);
        Assert.Equal(60, migrated.LogprobTokens.Count);
        Assert.Equal(expected.LogprobTokens, migrated.LogprobTokens);
        var metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_migrations_total{model=\"tiny\"} 1", metrics);
    }

    [Fact]
    public async Task WorkerCutMidStream_WithNoOtherWorker_EndsWithErrorEvent()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Mocker:SpeedupFactor"] = "4",
            ["Dynamo:Serve:Workers"] = "1",
        });
        var body = new { model = cluster.Model, prompt = "short lived", max_tokens = 200, ignore_eos = true, stream = true };

        var result = await StreamTextAsync(cluster, body, cutAfterChunks: 5);

        Assert.NotNull(result.Error);
        Assert.True(result.Done, "the stream still ends with [DONE]");
    }

    [Fact]
    public async Task ResponsesStream_WorkerCutWithNoOtherWorker_EndsWithResponseFailed()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Mocker:SpeedupFactor"] = "4",
            ["Dynamo:Serve:Workers"] = "1",
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses")
        {
            Content = Json.Body(new { model = cluster.Model, input = "short lived", max_output_tokens = 200, stream = true }),
        };
        using var response = await cluster.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var types = new List<string>();
        JsonNode? last = null;
        var cut = false;
        while (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }

            last = JsonNode.Parse(line["data: ".Length..])!;
            types.Add(last["type"]!.GetValue<string>());
            if (!cut && types.Count(t => t == "response.output_text.delta") == 5)
            {
                cut = true;
                await CutBusyWorkerAsync(cluster);
            }
        }

        Assert.Equal("response.failed", types[^1]);
        Assert.Equal("failed", last!["response"]!["status"]!.GetValue<string>());
        Assert.Equal("worker_failed", last["response"]!["error"]!["code"]!.GetValue<string>());
        Assert.DoesNotContain("response.completed", types);
    }

    private static async Task<StreamResult> StreamTextAsync(TestCluster cluster, object body, int? cutAfterChunks)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json.Body(body) };
        using var response = await cluster.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var text = new StringBuilder();
        var result = new StreamResult();
        var chunks = 0;
        while (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }

            var data = line["data: ".Length..];
            if (data == "[DONE]")
            {
                result.Done = true;
                break;
            }

            var chunk = JsonNode.Parse(data)!;
            if (chunk["error"] is { } error)
            {
                result.Error = error["message"]!.GetValue<string>();
                continue;
            }

            if (chunk["usage"] is { } usage)
            {
                result.CompletionTokens = usage["completion_tokens"]!.GetValue<int>();
            }

            if (chunk["choices"]!.AsArray() is [{ } choice, ..])
            {
                text.Append(choice["text"]!.GetValue<string>());
                if (choice["logprobs"] is { } logprobs)
                {
                    var tokens = logprobs["tokens"]!.AsArray();
                    var values = logprobs["token_logprobs"]!.AsArray();
                    for (var i = 0; i < tokens.Count; i++)
                    {
                        result.LogprobTokens.Add((tokens[i]!.GetValue<string>(), values[i]!.GetValue<double>()));
                    }
                }

                result.FinishReason = choice["finish_reason"]?.GetValue<string>() ?? result.FinishReason;
                if (++chunks == cutAfterChunks)
                {
                    await CutBusyWorkerAsync(cluster);
                }
            }
        }

        result.Text = text.ToString();
        return result;
    }

    /// <summary>Stops the worker that is generating, without letting it finish: its stream ends with no [DONE].</summary>
    private static async Task CutBusyWorkerAsync(TestCluster cluster)
    {
        foreach (var worker in cluster.Cluster.Workers)
        {
            var load = JsonNode.Parse(await cluster.WorkerClient.GetStringAsync(new Uri(worker.Address, "load")))!;
            if (load["running_requests"]!.GetValue<int>() > 0)
            {
                await worker.StopAsync(new CancellationToken(canceled: true));
                return;
            }
        }

        Assert.Fail("no worker was running the request");
    }

    private sealed class StreamResult
    {
        public string Text { get; set; } = "";

        public int CompletionTokens { get; set; }

        public List<(string Token, double Logprob)> LogprobTokens { get; } = [];

        public string? FinishReason { get; set; }

        public string? Error { get; set; }

        public bool Done { get; set; }
    }
}
