using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Dynamo.Runtime.Tests.Infrastructure;

namespace Dynamo.Cli.Tests;

/// <summary>
/// The user's path: <c>dynamo serve</c> as a process, a streaming request, a stop signal while it streams. The child
/// starts with the signal dispositions each case is about (<see cref="DynamoProcess"/> sets them), not with those of
/// whatever launched the test run.
/// </summary>
public sealed class ServeProcessTests : IDisposable
{
    /// <summary>
    /// About 10 s of stream at the mocker's default pace (about 12 ms a token): far longer than a stop takes to begin,
    /// and than the 5 s a disposal without a drain would give it.
    /// </summary>
    private const int StreamTokens = 800;

    /// <summary>Chunks that must still arrive after the process said it was stopping: over a second of the stream.</summary>
    private const int ChunksAfterStopAtLeast = 100;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly string _cache = Directory.CreateTempSubdirectory("dynamo-serve-").FullName;

    public void Dispose() => Directory.Delete(_cache, recursive: true);

    [Fact]
    public async Task Serve_CtrlC_LetsTheInFlightStreamFinishThenExits0()
    {
        await using var serve = StartServe();

        await StopWhileStreamingAsync(serve, serve.Interrupt);
    }

    [Fact]
    public async Task Serve_SigTerm_DrainsEvenWhenStartedWithSigIntAndSigTermIgnored()
    {
        // As `trap '' TERM; dynamo serve &` in a script would start it: SIGINT stays ignored (the shell's convention
        // for background jobs, and the process says so); SIGTERM, the orchestrators' stop signal, still drains.
        await using var serve = StartServe(PosixSignal.SIGINT, PosixSignal.SIGTERM);
        await serve.WaitForLineAsync(@"SIGINT is ignored.*SIGTERM \(kill \d+\) stops it", StartTimeout);

        await StopWhileStreamingAsync(serve, serve.Terminate);
    }

    [Fact]
    public async Task Serve_BadFlag_ExitsWithMessageNamingKeyAndValue()
    {
        await using var serve = DynamoProcess.Start(["serve", "--port", "eighty"], new Dictionary<string, string>());

        Assert.Equal(1, await serve.WaitForExitAsync(StartTimeout));
        Assert.Contains("Dynamo:Gateway:Port", serve.Output);
        Assert.Contains("eighty", serve.Output);
    }

    private DynamoProcess StartServe(params PosixSignal[] ignoring) => DynamoProcess.Start(
        ["serve", "--engine", "mocker", "--port", "0"],
        new Dictionary<string, string>
        {
            ["DYNAMO_CACHE_DIR"] = _cache,
            ["DYNAMO__MOCKER__ZERODELAY"] = "false",

            // Long enough that a drain cut by the timeout cannot pass for a finished stream.
            ["DYNAMO__SERVE__SHUTDOWNTIMEOUT"] = "00:02:00",
        },
        ignoring);

    /// <summary>
    /// Starts a long stream, stops the process with <paramref name="stop"/> once tokens flow, and checks the drain:
    /// the process said it was stopping while the stream was still open, the stream then ran to its last token and
    /// its finish chunk, and the process exited 0 after it.
    /// </summary>
    private static async Task StopWhileStreamingAsync(DynamoProcess serve, Action stop)
    {
        var url = (await serve.WaitForLineAsync(@"serving model '\S+' at (http://\S+/v1)", StartTimeout)).Groups[1].Value;
        using var client = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Post, "completions")
        {
            Content = new StringContent(
                $$$"""{"model":"tiny","prompt":"a story","max_tokens":{{{StreamTokens}}},"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}""", Encoding.UTF8, "application/json"),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(StartTimeout);
        Assert.True(response.IsSuccessStatusCode, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var stream = new StreamTally(reader);

        Assert.Equal(5, await stream.ReadChunksAsync(5).WaitAsync(TimeSpan.FromSeconds(30)));
        stop();
        await serve.WaitForLineAsync("Stopping: in-flight requests get up to", TimeSpan.FromSeconds(30));
        var beforeStop = stream.Chunks;
        Assert.False(stream.Done, $"the stream ended before the stop began:\n{serve.Output}");

        await stream.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(stream.Done, $"the stream was cut after {stream.Chunks} chunks, without data: [DONE]:\n{serve.Output}");
        Assert.Equal("length", stream.FinishReason);
        Assert.Equal(StreamTokens, stream.CompletionTokens);
        Assert.True(stream.Chunks - beforeStop >= ChunksAfterStopAtLeast,
            $"only {stream.Chunks - beforeStop} chunks came after the process said it was stopping; the stream was not in flight");
        Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    /// <summary>Reads an OpenAI completions stream, counting its chunks; the usage chunk gives the tokens.</summary>
    private sealed class StreamTally(StreamReader reader)
    {
        public int Chunks { get; private set; }

        public string? FinishReason { get; private set; }

        public int? CompletionTokens { get; private set; }

        public bool Done { get; private set; }

        public async Task<int> ReadChunksAsync(int count)
        {
            while (Chunks < count && await ReadOneAsync())
            {
            }

            return Chunks;
        }

        public async Task ReadToEndAsync()
        {
            while (await ReadOneAsync())
            {
            }
        }

        private async Task<bool> ReadOneAsync()
        {
            if (Done || await reader.ReadLineAsync() is not { } line)
            {
                return false;
            }

            if (line == "data: [DONE]")
            {
                Done = true;
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                var chunk = JsonNode.Parse(line["data: ".Length..])!;
                if (chunk["choices"]!.AsArray() is [{ } choice, ..])
                {
                    Chunks++;
                    FinishReason = choice["finish_reason"]?.GetValue<string>() ?? FinishReason;
                }

                CompletionTokens = chunk["usage"]?["completion_tokens"]?.GetValue<int>() ?? CompletionTokens;
            }

            return true;
        }
    }
}
