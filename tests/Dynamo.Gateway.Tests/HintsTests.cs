using System.Net;
using System.Text;
using Dynamo.Contracts.OpenAi;
using Dynamo.Contracts.Routing;
using Dynamo.Gateway.Forwarding;
using Dynamo.Gateway.Tests.Infrastructure;
using Dynamo.Llm.Protocol;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// <c>nvext</c> through HTTP: a session sticks to one worker (round-robin would spread its turns), survives that
/// worker's removal by moving to another and sticking there; nonsense hints are a 400 naming the field; the priority
/// goes on to the worker.
/// </summary>
public sealed class HintsTests
{
    [Fact]
    public async Task Session_SticksToOneWorker_AndSurvivesItsRemoval()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Serve:Workers"] = "3",
            ["Dynamo:Router:Mode"] = "round-robin",
        });

        async Task<string> TurnAsync(string? session, int turn, string path = "v1/chat/completions")
        {
            object nvext = session is null ? new { priority = 3 } : new { session_id = session, expected_output_tokens = 2, priority = 3 };
            using var response = path.Contains("chat", StringComparison.Ordinal)
                ? await Json.PostAsync(cluster.Client, path, new { model = cluster.Model, messages = new[] { new { role = "user", content = $"turn {turn}" } }, max_tokens = 2, nvext })
                : await Json.PostAsync(cluster.Client, path, new { model = cluster.Model, prompt = $"turn {turn}", max_tokens = 2, stream = true, nvext });
            await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return Assert.Single(response.Headers.GetValues(ResponseHeaders.Worker));
        }

        // Without a session, round-robin spreads the requests over the three workers.
        var spread = new HashSet<string>();
        for (var i = 0; i < 3; i++)
        {
            spread.Add(await TurnAsync(null, i));
        }

        Assert.Equal(3, spread.Count);

        var home = await TurnAsync("chat-42", 0);
        for (var turn = 1; turn < 6; turn++)
        {
            Assert.Equal(home, await TurnAsync("chat-42", turn, turn % 2 == 0 ? "v1/chat/completions" : "v1/completions"));
        }

        // The session's worker leaves: the session moves to another worker and sticks there.
        await cluster.Cluster.DrainWorkerAsync(cluster.Cluster.Workers.Single(w => w.Instance.InstanceId == home), CancellationToken.None);
        var rehomed = await TurnAsync("chat-42", 6);
        Assert.NotEqual(home, rehomed);
        for (var turn = 7; turn < 11; turn++)
        {
            Assert.Equal(rehomed, await TurnAsync("chat-42", turn));
        }

        var metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_component_router_session_decisions_total{outcome=\"hit\"} 9", metrics, StringComparison.Ordinal);
        Assert.Contains("dynamo_component_router_session_decisions_total{outcome=\"new\"}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NonsenseHints_Are400_NamingTheField_OnEveryEndpoint()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Serve:Workers"] = "1" });
        var cases = new (string Path, object Body, string Param)[]
        {
            ("v1/chat/completions", new { model = cluster.Model, messages = new[] { new { role = "user", content = "hi" } }, nvext = new { priority = 1000 } }, "nvext.priority"),
            ("v1/completions", new { model = cluster.Model, prompt = "hi", nvext = new { session_id = "" } }, "nvext.session_id"),
            ("v1/completions", new { model = cluster.Model, prompt = "hi", nvext = new { osl = 5 } }, "nvext.osl"),
            ("v1/responses", new { model = cluster.Model, input = "hi", nvext = new { expected_output_tokens = "many" } }, "nvext.expected_output_tokens"),

            // More output than the tiny model's context leaves after the prompt.
            ("v1/completions", new { model = cluster.Model, prompt = "hi", nvext = new { expected_output_tokens = 1_000_000 } }, "nvext.expected_output_tokens"),
        };
        foreach (var (path, body, param) in cases)
        {
            using var response = await Json.PostAsync(cluster.Client, path, body);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Json.AssertOpenAiError(await Json.ReadAsync(response), param);
        }

        using var ok = await Json.PostAsync(cluster.Client, "v1/responses", new { model = cluster.Model, input = "hi", max_output_tokens = 2, nvext = new { session_id = "r1", priority = -4 } });
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public void WorkerBody_CarriesThePriority_WhichTheWorkerParsesBack()
    {
        var request = OpenAiRequestParser.Parse(RequestKind.Chat,
            """{"model":"m","messages":[{"role":"user","content":"hi"}],"nvext":{"session_id":"s","expected_output_tokens":5,"priority":-7}}"""u8, RequestLimits.Default);
        var body = WorkerRequestWriter.Write(request, [[1, 2, 3]], 8);
        Assert.Contains("\"nvext\":{\"priority\":-7}", Encoding.UTF8.GetString(body), StringComparison.Ordinal);
        Assert.Equal(new RequestHints(null, null, -7), OpenAiRequestParser.Parse(RequestKind.Completion, body, RequestLimits.Default).Hints);

        // Priority 0 is the default: nothing to send.
        var plain = OpenAiRequestParser.Parse(RequestKind.Chat, """{"model":"m","messages":[{"role":"user","content":"hi"}],"nvext":{"session_id":"s"}}"""u8, RequestLimits.Default);
        Assert.DoesNotContain("nvext", Encoding.UTF8.GetString(WorkerRequestWriter.Write(plain, [[1, 2, 3]], 8)), StringComparison.Ordinal);
    }
}
