using System.Text.Json;
using Dynamo.Contracts.Engine;

namespace Dynamo.Worker;

/// <summary>
/// The worker's wire form of <c>kv_transfer_params</c> (names after vLLM's NIXL connector). A prefill request sends
/// <c>{"do_remote_decode": true}</c>; its response carries <c>{"do_remote_prefill": true, "remote_agent", "transfer_id",
/// "transfer_token", "remote_region", "remote_block_ids", "block_size", "block_bytes", "prompt_tokens", "first_token", "first_logprobs"}</c> (the last when the request asked for log-probabilities),
/// which the gateway passes unchanged to the decode request, or <c>{"do_remote_prefill": false, "declined": "pin_limit"}</c>
/// when the prefill's pins hold their share of the pool. Anything else is ignored: a request with unusable parameters
/// is served whole, never refused.
/// </summary>
internal static class KvTransferParams
{
    /// <summary>What the request asks of the engine, or null (no parameters, or none this worker can act on).</summary>
    public static KvTransferRequest? Parse(JsonElement? element, out string? problem)
    {
        problem = null;
        if (element is not { ValueKind: JsonValueKind.Object } e)
        {
            return null;
        }

        try
        {
            if (e.TryGetProperty("do_remote_prefill", out var remotePrefill) && remotePrefill.ValueKind == JsonValueKind.True)
            {
                return new KvTransferRequest
                {
                    RemotePrefill = new RemoteKvBlocks
                    {
                        AgentName = e.GetProperty("remote_agent").GetString() ?? throw new FormatException("remote_agent is null"),
                        TransferId = e.GetProperty("transfer_id").GetString() ?? throw new FormatException("transfer_id is null"),
                        TransferToken = e.GetProperty("transfer_token").GetString() ?? throw new FormatException("transfer_token is null"),
                        RegionId = e.GetProperty("remote_region").GetInt32(),
                        BlockIds = [.. e.GetProperty("remote_block_ids").EnumerateArray().Select(b => b.GetInt32())],
                        BlockSize = e.GetProperty("block_size").GetInt32(),
                        BlockBytes = e.GetProperty("block_bytes").GetInt64(),
                        PromptTokens = e.GetProperty("prompt_tokens").GetInt32(),
                        FirstToken = e.GetProperty("first_token").GetInt32(),
                        FirstLogprobs = ReadLogprobs(e),
                    },
                };
            }

            if (e.TryGetProperty("do_remote_decode", out var remoteDecode) && remoteDecode.ValueKind == JsonValueKind.True)
            {
                return new KvTransferRequest { DoRemoteDecode = true };
            }
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException)
        {
            problem = ex.Message;
        }

        return null;
    }

    /// <summary>The response's <c>kv_transfer_params</c> for a prefill's handed-off blocks.</summary>
    public static JsonElement Write(RemoteKvBlocks blocks)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteBoolean("do_remote_prefill", true);
            w.WriteString("remote_agent", blocks.AgentName);
            w.WriteString("transfer_id", blocks.TransferId);
            w.WriteString("transfer_token", blocks.TransferToken);
            w.WriteNumber("remote_region", blocks.RegionId);
            w.WriteStartArray("remote_block_ids");
            foreach (var id in blocks.BlockIds)
            {
                w.WriteNumberValue(id);
            }

            w.WriteEndArray();
            w.WriteNumber("block_size", blocks.BlockSize);
            w.WriteNumber("block_bytes", blocks.BlockBytes);
            w.WriteNumber("prompt_tokens", blocks.PromptTokens);
            w.WriteNumber("first_token", blocks.FirstToken);
            if (blocks.FirstLogprobs is { } logprobs)
            {
                // The first token's log-probabilities travel with it: [logprob, [[id, logprob], ...]].
                w.WriteStartArray("first_logprobs");
                w.WriteNumberValue(logprobs.Logprob);
                w.WriteStartArray();
                foreach (var top in logprobs.Top)
                {
                    w.WriteStartArray();
                    w.WriteNumberValue(top.TokenId);
                    w.WriteNumberValue(top.Logprob);
                    w.WriteEndArray();
                }

                w.WriteEndArray();
                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        return JsonDocument.Parse(buffer.ToArray()).RootElement.Clone();
    }

    private static TokenLogprobs? ReadLogprobs(JsonElement e)
    {
        if (!e.TryGetProperty("first_logprobs", out var value) || value.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var top = value[1].EnumerateArray().Select(t => new TokenLogprob(t[0].GetInt32(), t[1].GetSingle())).ToArray();
        return new TokenLogprobs(value[0].GetSingle(), top);
    }

    /// <summary>The response's <c>kv_transfer_params</c> when the prefill declined to pin (the decode worker computes the prompt).</summary>
    public static JsonElement Declined { get; } = JsonDocument.Parse("""{"do_remote_prefill":false,"declined":"pin_limit"}""").RootElement.Clone();
}
