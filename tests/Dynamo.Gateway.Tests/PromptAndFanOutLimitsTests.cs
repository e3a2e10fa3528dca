using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// Issue 12, findings 4 and 5, over real sockets: prompt text is bounded before it is templated or tokenized,
/// tokenizing is fast on whitespace-free text and stops when the client leaves, and a request's sequences
/// (prompts × n) are capped and each holds an admission slot. Runs alone (its tokenizations keep a core busy for
/// seconds, and one test bounds a time).
/// </summary>
[Collection(CpuHeavyCollection.Name)]
public sealed class PromptAndFanOutLimitsTests
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task MegabyteOfLetters_ByDefault_Is400NamingTheLimitWithoutEchoingThePrompt()
    {
        await using var cluster = await TestCluster.StartAsync();
        var letters = Letters(MiB);

        foreach (var (path, body) in new (string, object)[]
        {
            ("v1/completions", new { model = cluster.Model, prompt = letters, max_tokens = 1 }),
            ("v1/chat/completions", new { model = cluster.Model, messages = new[] { new { role = "user", content = letters } }, max_tokens = 1 }),
        })
        {
            var watch = Stopwatch.StartNew();
            using var response = await Json.PostAsync(cluster.Client, path, body);
            var text = await response.Content.ReadAsStringAsync();

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var json = JsonNode.Parse(text)!;
            Json.AssertOpenAiError(json);
            Assert.Equal("prompt_too_long", json["error"]!["code"]!.GetValue<string>());
            var message = json["error"]!["message"]!.GetValue<string>();
            Assert.Contains("524288", message, StringComparison.Ordinal);
            Assert.Contains("Dynamo:Gateway:MaxPromptChars", message, StringComparison.Ordinal);
            Assert.True(text.Length < 1024, $"{path}: the error body is {text.Length} bytes");
            Assert.DoesNotContain(letters[..32], text, StringComparison.Ordinal);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"{path}: the rejection took {watch.Elapsed.TotalSeconds:F1} s");
        }

        Assert.Equal(0, await MetricAsync(cluster, "dynamo_frontend_tokenizing_requests"));
    }

    [Fact]
    public async Task MegabyteOfLetters_LimitRaised_IsTokenizedWithinThirtySeconds()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:MaxPromptChars"] = (2 * MiB).ToString(CultureInfo.InvariantCulture),
        });

        using (var warm = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "warm up", max_tokens = 1 }))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        using var body = Json.Body(new { model = cluster.Model, prompt = Letters(MiB), max_tokens = 1 });
        var watch = Stopwatch.StartNew();
        using var response = await cluster.Client.PostAsync("v1/completions", body);
        watch.Stop();

        // Tokenized in full, then too long for the tiny model: the message counts the prompt's tokens. The tokenizer
        // needs about 1 s of CPU for this (bench/README.md, and the CPU-time bound in TokenEncoderTests); the old
        // quadratic path 77 s. This wall-clock bound is loose because the test boxes are shared and often loaded.
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await Json.ReadAsync(response))["error"]!;
        Assert.Equal("context_length_exceeded", error["code"]!.GetValue<string>());
        Assert.Matches(@"the prompt has \d{6,} tokens", error["message"]!.GetValue<string>());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"1 MiB of letters took {watch.Elapsed.TotalSeconds:F1} s to reject after tokenizing");
    }

    [Fact]
    public async Task ClientLeavesDuringTokenization_TheTokenizerStops()
    {
        // 8 MiB of letters in one word take seconds to tokenize: long enough to leave in the middle.
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:MaxPromptChars"] = (16 * MiB).ToString(CultureInfo.InvariantCulture),
            ["Dynamo:Gateway:MaxRequestBodyBytes"] = (16 * MiB).ToString(CultureInfo.InvariantCulture),
        });
        using var leave = new CancellationTokenSource();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json.Body(new { model = cluster.Model, prompt = Letters(8 * MiB), max_tokens = 1 }),
        };
        var sending = cluster.Client.SendAsync(request, leave.Token);

        await WaitForMetricAsync(cluster, "dynamo_frontend_tokenizing_requests", 1, "the request to be tokenizing");
        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);

        // The product counts a tokenization it stopped part-way; one that runs to its end is not counted.
        await WaitForMetricAsync(cluster, "dynamo_frontend_tokenizations_cancelled_total", 1, "the abandoned tokenization to stop");
        await WaitForMetricAsync(cluster, "dynamo_frontend_tokenizing_requests", 0, "no request to be tokenizing");
    }

    [Fact]
    public async Task FanOutOverTheCap_Is400NamingTheKey()
    {
        await using var cluster = await TestCluster.StartAsync();
        var prompts = Enumerable.Range(0, 128).Select(i => new[] { 1 + i, 2, 3 }).ToArray();

        // The probe's request: 128 token-id prompts × n 16 = 2,048 sequences from about 7 KB.
        using var response = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = prompts, n = 16, max_tokens = 4 });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await Json.ReadAsync(response);
        Json.AssertOpenAiError(body, "n");
        Assert.Equal("too_many_sequences", body["error"]!["code"]!.GetValue<string>());
        var message = body["error"]!["message"]!.GetValue<string>();
        Assert.Contains("2048 sequences", message, StringComparison.Ordinal);
        Assert.Contains("Dynamo:Gateway:MaxSequencesPerRequest", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FanOutAtTheCap_IsAdmittedAndHoldsOneSlotPerSequence()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Gateway:MaxSequencesPerRequest"] = "8",
            ["Dynamo:Gateway:MaxConcurrentRequests"] = "8",
            ["Dynamo:Gateway:MaxQueuedRequests"] = "0",
        });

        using var over = await Json.PostAsync(cluster.Client, "v1/completions",
            new { model = cluster.Model, prompt = new[] { "a", "b", "c" }, n = 3, max_tokens = 2 });
        Assert.Equal(HttpStatusCode.BadRequest, over.StatusCode);

        // 4 prompts × n 2 = 8 sequences: exactly the cap, admitted, and holding all 8 slots while it streams.
        using var wide = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json.Body(new { model = cluster.Model, prompt = new[] { "one", "two", "three", "four" }, n = 2, max_tokens = 500, stream = true, ignore_eos = true }),
        };
        using var streaming = await cluster.Client.SendAsync(wide, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, streaming.StatusCode);
        var reader = new StreamReader(await streaming.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(8, await MetricAsync(cluster, "dynamo_frontend_admitted_sequences"));

        // No slot is left for even a one-sequence request, and the queue is off: 429.
        using var narrow = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "x", max_tokens = 1 });
        Assert.Equal(HttpStatusCode.TooManyRequests, narrow.StatusCode);
        Json.AssertOpenAiError(await Json.ReadAsync(narrow));
    }

    private static string Letters(int length) => string.Create(length, 0, static (span, _) =>
    {
        var random = new Random(7);
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = (char)('a' + random.Next(26));
        }
    });

    /// <summary>An unlabelled gauge or counter from the gateway's <c>/metrics</c>.</summary>
    private static async Task<double> MetricAsync(TestCluster cluster, string name)
    {
        var text = await cluster.Client.GetStringAsync("metrics");
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }

        throw new Xunit.Sdk.XunitException($"{name} is not in /metrics");
    }

    private static async Task WaitForMetricAsync(TestCluster cluster, string name, double value, string what)
    {
        var deadline = Stopwatch.StartNew();
        double last;
        while ((last = await MetricAsync(cluster, name)) != value)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"waited 30 s for {what}: {name} is {last}, expected {value}");
            await Task.Delay(20);
        }
    }
}
