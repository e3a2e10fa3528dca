using System.Net;
using System.Text.Json;
using Dynamo.Worker.Tests.Infrastructure;

namespace Dynamo.Worker.Tests;

/// <summary>
/// The router's control calls over real HTTP on a mocker worker: <c>GET /v1/kv/events?from=&amp;to=</c> (replay of a
/// missed range, or "unavailable" when the range fell out of the replay buffer) and <c>GET /v1/kv/dump</c>.
/// </summary>
public sealed class KvEventEndpointTests
{
    private static string Prompt(int salt, int length = 64) =>
        "[" + string.Join(",", Enumerable.Range(0, length).Select(i => 1 + ((i * 131) + (salt * 7919)) % 30000)) + "]";

    private static async Task<JsonElement> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static long[] EventIds(JsonElement answer) =>
        [.. answer.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("event_id").GetInt64())];

    private static HashSet<ulong> StoredHashes(JsonElement answer) =>
    [
        .. answer.GetProperty("events").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "stored")
            .SelectMany(e => e.GetProperty("blocks").EnumerateArray().Select(b => b.GetProperty("seq_hash").GetUInt64())),
    ];

    [Fact]
    public async Task Events_Range_AnswersThoseEventsInOrder_AndDumpHoldsEveryStoredBlock()
    {
        await using var worker = await TestWorker.StartAsync();
        await worker.PostJsonAsync("/v1/completions", $$"""{"model":"{{TestModel.Name}}","prompt":{{Prompt(1)}},"max_tokens":1}""");
        await worker.PostJsonAsync("/v1/completions", $$"""{"model":"{{TestModel.Name}}","prompt":{{Prompt(2)}},"max_tokens":1}""");

        var all = await GetJsonAsync(worker.Client, "/v1/kv/events");
        var last = all.GetProperty("last_event_id").GetInt64();
        Assert.True(all.GetProperty("available").GetBoolean());
        Assert.True(last >= 2, $"two prompts of four blocks each should have stored blocks: {all}");
        Assert.Equal(1, all.GetProperty("oldest_event_id").GetInt64());
        Assert.Equal(Enumerable.Range(1, (int)last).Select(i => (long)i), EventIds(all));
        Assert.Single(all.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("worker_id").GetString()).Distinct());

        var middle = await GetJsonAsync(worker.Client, $"/v1/kv/events?from=2&to={last}");
        Assert.Equal(Enumerable.Range(2, (int)last - 1).Select(i => (long)i), EventIds(middle));
        var one = await GetJsonAsync(worker.Client, "/v1/kv/events?from=1&to=1");
        Assert.Equal([1L], EventIds(one));
        Assert.Equal(all.GetProperty("events")[0].GetRawText(), one.GetProperty("events")[0].GetRawText());
        var beyond = await GetJsonAsync(worker.Client, $"/v1/kv/events?from={last + 1}&to={last + 10}");
        Assert.True(beyond.GetProperty("available").GetBoolean());
        Assert.Empty(EventIds(beyond));

        // Nothing was evicted (1024 blocks), so the dump holds exactly the blocks the events stored.
        var dump = await GetJsonAsync(worker.Client, "/v1/kv/dump");
        Assert.Equal(last, dump.GetProperty("last_event_id").GetInt64());
        Assert.Equal(StoredHashes(all), StoredHashes(dump));
        Assert.Equal(8, StoredHashes(dump).Count);
    }

    [Fact]
    public async Task Events_RangeOlderThanTheReplayBuffer_AnswersUnavailable_WithTheOldestIdStillHeld()
    {
        await using var worker = await TestWorker.StartAsync(m => m.ReplayBufferSize = 2);
        for (var salt = 0; salt < 3; salt++)
        {
            await worker.PostJsonAsync("/v1/completions", $$"""{"model":"{{TestModel.Name}}","prompt":{{Prompt(salt)}},"max_tokens":1}""");
        }

        var gap = await GetJsonAsync(worker.Client, "/v1/kv/events?from=1&to=3");
        var last = gap.GetProperty("last_event_id").GetInt64();
        var oldest = gap.GetProperty("oldest_event_id").GetInt64();
        Assert.False(gap.GetProperty("available").GetBoolean(), gap.ToString());
        Assert.Empty(EventIds(gap));
        Assert.Equal(last - 1, oldest);

        // What the buffer still holds is answered; a router that got "unavailable" falls back to the dump.
        var held = await GetJsonAsync(worker.Client, $"/v1/kv/events?from={oldest}");
        Assert.True(held.GetProperty("available").GetBoolean());
        Assert.Equal([oldest, last], EventIds(held));
        var dump = await GetJsonAsync(worker.Client, "/v1/kv/dump");
        Assert.Equal(last, dump.GetProperty("last_event_id").GetInt64());
        Assert.Equal(12, StoredHashes(dump).Count);
    }

    [Theory]
    [InlineData("from=abc", "from", "'abc'")]
    [InlineData("from=-1", "from", "'-1'")]
    [InlineData("from=1&to=2.5", "to", "'2.5'")]
    [InlineData("to=99999999999999999999", "to", "'99999999999999999999'")]
    [InlineData("from=%201", "from", "' 1'")]
    public async Task Events_BadRange_Answers400NamingTheParamAndValue(string query, string param, string mention)
    {
        await using var worker = await TestWorker.StartAsync();

        using var response = await worker.Client.GetAsync("/v1/kv/events?" + query);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(("invalid_request_error", param), (error.GetProperty("type").GetString(), error.GetProperty("param").GetString()));
        Assert.Contains(mention, error.GetProperty("message").GetString());
    }
}
