using System.Buffers;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// The body the gateway sends to a worker: the worker contract is OpenAI completions with token-id prompts,
/// streamed with usage so the gateway sees every token (a remote prefill, whose answer is one token and the
/// prompt's <c>kv_transfer_params</c>, is the one unary call).
/// </summary>
internal static class WorkerRequestWriter
{
    /// <param name="generatedPromptTokens">A migrated request: how many of the prompt's last tokens are output already
    /// generated, for the worker to replay through the <c>response_format</c> constraint.</param>
    public static byte[] Write(ParsedRequest request, int[][] prompts, int? maxTokens, bool stream = true, int generatedPromptTokens = 0)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + (prompts.Length == 1 ? prompts[0].Length * 6 : 1024));
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true }))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, request.Model);
            json.WritePropertyName("prompt"u8);
            if (prompts.Length == 1)
            {
                WriteIds(json, prompts[0]);
            }
            else
            {
                json.WriteStartArray();
                foreach (var prompt in prompts)
                {
                    WriteIds(json, prompt);
                }

                json.WriteEndArray();
            }

            if (maxTokens is { } max)
            {
                json.WriteNumber("max_tokens"u8, max);
            }

            var sampling = request.Sampling;
            json.WriteNumber("temperature"u8, sampling.Temperature);
            json.WriteNumber("top_p"u8, sampling.TopP);
            if (sampling.TopK > 0)
            {
                json.WriteNumber("top_k"u8, sampling.TopK);
            }

            if (sampling.Seed is { } seed)
            {
                json.WriteNumber("seed"u8, seed);
            }

            if (sampling.PresencePenalty != 0)
            {
                json.WriteNumber("presence_penalty"u8, sampling.PresencePenalty);
            }

            if (sampling.FrequencyPenalty != 0)
            {
                json.WriteNumber("frequency_penalty"u8, sampling.FrequencyPenalty);
            }

            if (request.Stop.Count > 0)
            {
                json.WriteStartArray("stop"u8);
                foreach (var stop in request.Stop)
                {
                    json.WriteStringValue(stop);
                }

                json.WriteEndArray();
            }

            if (request.StopTokenIds.Count > 0)
            {
                json.WriteStartArray("stop_token_ids"u8);
                foreach (var id in request.StopTokenIds)
                {
                    json.WriteNumberValue(id);
                }

                json.WriteEndArray();
            }

            if (request.Logprobs is { } logprobs)
            {
                // Chat's top_logprobs too: the worker contract is completions. Tokens come back as ids, which the
                // gateway turns into text and bytes with its own tokenizer. (echo is the gateway's: never sent.)
                json.WriteNumber("logprobs"u8, logprobs);
                json.WriteBoolean("return_tokens_as_token_ids"u8, true);
                if (request.EchoesLogprobs && generatedPromptTokens == 0)
                {
                    // Echo with logprobs: the prompt's own numbers, once. A migrated attempt (its prompt ends with
                    // output already streamed) had them from the first worker, with its first token.
                    json.WriteNumber("prompt_logprobs"u8, logprobs);
                }
            }

            json.WriteNumber("n"u8, request.N);
            if (request.IgnoreEos)
            {
                json.WriteBoolean("ignore_eos"u8, true);
            }

            json.WriteBoolean("stream"u8, stream);
            if (stream)
            {
                json.WriteStartObject("stream_options"u8);
                json.WriteBoolean("include_usage"u8, true);
                json.WriteEndObject();
            }

            if (request.ResponseFormat is { } format)
            {
                json.WritePropertyName("response_format"u8);
                format.Raw.WriteTo(json);
                if (generatedPromptTokens > 0)
                {
                    json.WriteNumber("generated_prompt_tokens"u8, generatedPromptTokens);
                }
            }

            if (request.Hints is { Priority: not 0 } hints)
            {
                // The worker's engine orders its waiting queue by it; the session and expected length are the router's.
                json.WriteStartObject("nvext"u8);
                json.WriteNumber("priority"u8, hints.Priority);
                json.WriteEndObject();
            }

            if (request.KvTransferParams is { } kv)
            {
                json.WritePropertyName("kv_transfer_params"u8);
                kv.WriteTo(json);
            }

            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteIds(Utf8JsonWriter json, int[] ids)
    {
        json.WriteStartArray();
        foreach (var id in ids)
        {
            json.WriteNumberValue(id);
        }

        json.WriteEndArray();
    }
}
