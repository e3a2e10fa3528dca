using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.KServe.Protocol;
using Dynamo.Llm.Protocol;
using Google.Protobuf;

namespace Dynamo.Gateway.KServe;

/// <summary>
/// The text mapping of KServe's v2 inference protocol onto a completion (the mapping NVIDIA Dynamo's KServe frontend
/// uses): the BYTES input <c>text_input</c> is the prompt, the optional BOOL input <c>streaming</c> asks for one
/// response per new piece of text; sampling values come as scalar inputs or request parameters of the same names
/// (<c>max_tokens</c>, <c>temperature</c>, <c>top_p</c>, <c>top_k</c>, <c>seed</c>, <c>ignore_eos</c>; <c>stop</c> as
/// BYTES). Outputs: <c>text_output</c> and <c>finish_reason</c>, BYTES. Anything else is refused by name: an input or
/// parameter this mapping does not know would otherwise be silently dropped.
/// </summary>
internal static class KServeRequest
{
    /// <summary>The inputs the mapping takes, with their KServe datatypes (for <c>ModelMetadata</c> too).</summary>
    public static readonly (string Name, string Datatype, long[] Shape)[] Inputs =
    [
        ("text_input", "BYTES", [1]),
        ("streaming", "BOOL", [1]),
        ("max_tokens", "INT32", [1]),
        ("temperature", "FP32", [1]),
        ("top_p", "FP32", [1]),
        ("top_k", "INT32", [1]),
        ("seed", "INT64", [1]),
        ("ignore_eos", "BOOL", [1]),
        ("stop", "BYTES", [-1]),
    ];

    /// <summary>The outputs a response carries.</summary>
    public static readonly (string Name, string Datatype, long[] Shape)[] Outputs =
    [
        ("text_output", "BYTES", [1]),
        ("finish_reason", "BYTES", [1]),
    ];

    /// <summary>The completion request <paramref name="request"/> asks for, validated as <c>/v1/completions</c> validates its body.</summary>
    /// <exception cref="OpenAiException">A 400 naming the input or parameter at fault.</exception>
    public static (ParsedRequest Request, bool Streaming, HashSet<string>? WantedOutputs) Parse(ModelInferRequest request, RequestLimits limits)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ModelVersion is not ("" or "1"))
        {
            throw OpenAiException.BadRequest($"Model version '{OpenAiException.Shorten(request.ModelVersion)}' does not exist; models here have version 1 (or send none).", "model_version");
        }

        if (request.RawInputContents.Count > 0 && request.RawInputContents.Count != request.Inputs.Count)
        {
            throw OpenAiException.BadRequest($"raw_input_contents has {request.RawInputContents.Count} entries for {request.Inputs.Count} inputs; send one per input or none.", "raw_input_contents");
        }

        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        for (var i = 0; i < request.Inputs.Count; i++)
        {
            var input = request.Inputs[i];
            var raw = request.RawInputContents.Count > 0 ? request.RawInputContents[i] : null;
            if (!values.TryAdd(input.Name, ReadInput(input, raw)))
            {
                throw OpenAiException.BadRequest($"Input '{OpenAiException.Shorten(input.Name)}' is given twice.", input.Name);
            }
        }

        foreach (var (name, parameter) in request.Parameters)
        {
            if (!values.TryAdd(name, ReadParameter(name, parameter)))
            {
                throw OpenAiException.BadRequest($"'{OpenAiException.Shorten(name)}' is given both as an input and as a parameter.", name);
            }
        }

        if (!values.TryGetValue("text_input", out var prompt))
        {
            throw OpenAiException.BadRequest("Missing required input 'text_input' (BYTES, shape [1]): the prompt.", "text_input");
        }

        var streaming = values.TryGetValue("streaming", out var s) && (bool)s;
        HashSet<string>? wanted = null;
        foreach (var output in request.Outputs)
        {
            if (!Outputs.Any(o => o.Name == output.Name))
            {
                throw OpenAiException.BadRequest(
                    $"Output '{OpenAiException.Shorten(output.Name)}' does not exist; this model has {string.Join(" and ", Outputs.Select(o => $"'{o.Name}'"))}.", "outputs");
            }

            (wanted ??= new HashSet<string>(StringComparer.Ordinal)).Add(output.Name);
        }

        // The completion body, validated by the same parser as /v1/completions (bounds, types, limits).
        var body = new MemoryStream();
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, request.ModelName);
            foreach (var (name, value) in values)
            {
                switch (name)
                {
                    case "text_input":
                        json.WriteString("prompt"u8, (string)((string[])value)[0]);
                        break;
                    case "streaming":
                        json.WriteBoolean("stream"u8, (bool)value);
                        break;
                    case "stop":
                        json.WriteStartArray("stop"u8);
                        foreach (var stop in (string[])value)
                        {
                            json.WriteStringValue(stop);
                        }

                        json.WriteEndArray();
                        break;
                    default:
                        json.WritePropertyName(name);
                        switch (value)
                        {
                            case bool b:
                                json.WriteBooleanValue(b);
                                break;
                            case long l:
                                json.WriteNumberValue(l);
                                break;
                            case ulong u:
                                json.WriteNumberValue(u);
                                break;
                            case double d:
                                json.WriteNumberValue(d);
                                break;
                            default:
                                throw OpenAiException.BadRequest($"'{name}' must be a number or a boolean.", name);
                        }

                        break;
                }
            }

            json.WriteEndObject();
        }

        try
        {
            return (OpenAiRequestParser.Parse(RequestKind.Completion, body.ToArray(), limits), streaming, wanted);
        }
        catch (OpenAiException error) when (error.Param is "prompt" or "stream")
        {
            var input = error.Param == "prompt" ? "text_input" : "streaming";
            throw new OpenAiException(error.StatusCode, error.Message.Replace($"'{error.Param}'", $"'{input}'", StringComparison.Ordinal), error.Type, input, error.Code);
        }
    }

    private static object ReadInput(ModelInferRequest.Types.InferInputTensor input, ByteString? raw)
    {
        var name = input.Name;
        var spec = Inputs.FirstOrDefault(i => i.Name == name);
        if (spec.Name is null)
        {
            throw OpenAiException.BadRequest(
                $"Input '{OpenAiException.Shorten(name)}' is not supported; the inputs are {string.Join(", ", Inputs.Select(i => $"'{i.Name}'"))}.", name, "unsupported_parameter");
        }

        if (input.Parameters.Count > 0)
        {
            throw OpenAiException.BadRequest($"Input '{name}' has parameters; tensor parameters are not supported.", name, "unsupported_parameter");
        }

        var count = input.Shape.Aggregate(1L, (a, d) => a * d);
        if (input.Shape.Count == 0 || input.Shape.Any(d => d < 0) || (spec.Shape[0] == 1 && count != 1) || count is < 1 or > 16)
        {
            throw OpenAiException.BadRequest($"Input '{name}' has shape [{string.Join(", ", input.Shape)}]; expected [{string.Join(", ", spec.Shape.Select(d => d < 0 ? "n" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}].", name);
        }

        var contents = input.Contents ?? new InferTensorContents();
        switch (input.Datatype)
        {
            case "BYTES" when spec.Datatype == "BYTES":
                var strings = raw is not null ? SplitBytes(raw, name) : contents.BytesContents.Select(b => b.ToByteArray()).ToArray();
                if (strings.Length != count)
                {
                    throw OpenAiException.BadRequest($"Input '{name}' has {strings.Length} elements; its shape says {count}.", name);
                }

                return strings.Select(b => Utf8(b, name)).ToArray();
            case "BOOL" when spec.Datatype == "BOOL":
                return raw is not null ? Single(raw, 1, name)[0] != 0 : Single(contents.BoolContents, name);
            case "INT32" or "INT64" or "UINT32" or "UINT64" when spec.Datatype is "INT32" or "INT64":
                return raw is not null ? RawInteger(raw, input.Datatype, name) : input.Datatype switch
                {
                    "INT32" => (long)Single(contents.IntContents, name),
                    "INT64" => Single(contents.Int64Contents, name),
                    "UINT32" => (long)Single(contents.UintContents, name),
                    _ => (object)Single(contents.Uint64Contents, name),
                };
            case "FP32" or "FP64" when spec.Datatype == "FP32":
                return raw is not null
                    ? (input.Datatype == "FP32" ? (double)BinaryPrimitives.ReadSingleLittleEndian(Single(raw, 4, name)) : BinaryPrimitives.ReadDoubleLittleEndian(Single(raw, 8, name)))
                    : input.Datatype == "FP32" ? (double)Single(contents.Fp32Contents, name) : Single(contents.Fp64Contents, name);
            default:
                throw OpenAiException.BadRequest($"Input '{name}' has datatype {OpenAiException.Shorten(input.Datatype)}; expected {spec.Datatype}.", name);
        }
    }

    private static object ReadParameter(string name, InferParameter parameter)
    {
        if (!Inputs.Any(i => i.Name == name) || name == "text_input")
        {
            throw OpenAiException.BadRequest(
                $"Parameter '{OpenAiException.Shorten(name)}' is not supported; sampling values may be sent as parameters named {string.Join(", ", Inputs.Where(i => i.Name != "text_input").Select(i => $"'{i.Name}'"))}.",
                name, "unsupported_parameter");
        }

        return parameter.ParameterChoiceCase switch
        {
            InferParameter.ParameterChoiceOneofCase.BoolParam => parameter.BoolParam,
            InferParameter.ParameterChoiceOneofCase.Int64Param => parameter.Int64Param,
            InferParameter.ParameterChoiceOneofCase.Uint64Param => parameter.Uint64Param,
            InferParameter.ParameterChoiceOneofCase.DoubleParam => parameter.DoubleParam,
            InferParameter.ParameterChoiceOneofCase.StringParam when name == "stop" => new[] { parameter.StringParam },
            _ => throw OpenAiException.BadRequest($"Parameter '{name}' has no value of a usable type.", name),
        };
    }

    private static T Single<T>(Google.Protobuf.Collections.RepeatedField<T> values, string name) =>
        values.Count == 1 ? values[0] : throw OpenAiException.BadRequest($"Input '{name}' must hold exactly one value (got {values.Count}).", name);

    private static byte[] Single(ByteString raw, int size, string name) =>
        raw.Length == size ? raw.ToByteArray() : throw OpenAiException.BadRequest($"Input '{name}' must hold exactly one {size}-byte value in raw_input_contents (got {raw.Length} bytes).", name);

    private static object RawInteger(ByteString raw, string datatype, string name) => datatype switch
    {
        "INT32" => (long)BinaryPrimitives.ReadInt32LittleEndian(Single(raw, 4, name)),
        "INT64" => BinaryPrimitives.ReadInt64LittleEndian(Single(raw, 8, name)),
        "UINT32" => (long)BinaryPrimitives.ReadUInt32LittleEndian(Single(raw, 4, name)),
        _ => BinaryPrimitives.ReadUInt64LittleEndian(Single(raw, 8, name)),
    };

    /// <summary>A raw BYTES tensor: elements of a 4-byte little-endian length and that many bytes.</summary>
    private static byte[][] SplitBytes(ByteString raw, string name)
    {
        var span = raw.Span;
        var items = new List<byte[]>();
        while (span.Length > 0)
        {
            if (span.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(span) is var length && length > span.Length - 4)
            {
                throw OpenAiException.BadRequest($"Input '{name}': raw BYTES contents are cut short (each element is a 4-byte little-endian length, then its bytes).", name);
            }

            items.Add(span.Slice(4, (int)length).ToArray());
            span = span[(4 + (int)length)..];
        }

        return [.. items];
    }

    private static string Utf8(byte[] bytes, string name)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw OpenAiException.BadRequest($"Input '{name}' is not valid UTF-8 text.", name);
        }
    }

    /// <summary>One BYTES element as raw contents: its 4-byte little-endian length, then its UTF-8 bytes.</summary>
    public static ByteString RawBytes(string text)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        var buffer = new byte[4 + utf8.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)utf8.Length);
        utf8.CopyTo(buffer, 4);
        return ByteString.CopyFrom(buffer);
    }
}
