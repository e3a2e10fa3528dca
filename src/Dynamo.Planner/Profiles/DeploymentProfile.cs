using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Dynamo.Planner.Profiles;

/// <summary>
/// A deployment's performance profile: how fast one prefill worker and one decode worker of a given model on given
/// hardware are, and how much KV a worker holds. The planner turns predicted load into worker counts with it.
/// Stored as <c>profile.json</c> (format version 1):
/// <code>
/// {
///   "format_version": 1,
///   "model": "llama-3.1-70b",            // label
///   "hardware": "4x H100-SXM",           // label
///   "source": "simulated",               // simulated | measured
///   "description": "...",                // optional: how it was made
///   "prefill": {
///     "gpus_per_worker": 4,
///     "isl": [128, 512, ...],            // prompt tokens, strictly increasing
///     "ttft_ms": [...],                  // lone request on an idle worker
///     "tokens_per_s_per_gpu": [...]      // prompt tokens/s per GPU, worker saturated
///   },
///   "decode": {
///     "gpus_per_worker": 4,
///     "concurrency": [1, 8, 32, ...],    // sequences decoding at once on one worker, strictly increasing, from 1
///     "context_length": [512, 2048, ...],// tokens per sequence, strictly increasing
///     "itl_ms": [[...], ...],            // one row per concurrency, one column per context length
///     "tokens_per_s_per_gpu": [[...]]    // output tokens/s per GPU, same shape
///   },
///   "kv": { "block_size": 16, "blocks_per_worker": 52000 }
/// }
/// </code>
/// </summary>
public sealed partial record DeploymentProfile
{
    public const int CurrentFormatVersion = 1;

    public const string FileName = "profile.json";

    public int FormatVersion { get; init; } = CurrentFormatVersion;

    public required string Model { get; init; }

    public required string Hardware { get; init; }

    public required ProfileSource Source { get; init; }

    public string Description { get; init; } = "";

    public required PrefillProfile Prefill { get; init; }

    public required DecodeProfile Decode { get; init; }

    public required KvCapacity Kv { get; init; }

    /// <summary>GPUs one worker of <paramref name="role"/> takes; an aggregated worker is sized like a decode worker.</summary>
    public int GpusPerWorker(Dynamo.Contracts.WorkerRole role) => role == Dynamo.Contracts.WorkerRole.Prefill ? Prefill.GpusPerWorker : Decode.GpusPerWorker;

    /// <summary>Reads and checks a profile; <paramref name="path"/> is a profile.json or the folder holding one.</summary>
    /// <exception cref="ProfileException">Missing or unreadable file, bad JSON, or a missing or bad field (named in the message).</exception>
    public static DeploymentProfile Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string file = Directory.Exists(path) ? Path.Combine(path, FileName) : path;
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ProfileException(file, null, ex is FileNotFoundException or DirectoryNotFoundException ? "the file does not exist (make one with 'dynamo profile')." : $"cannot be read: {ex.Message}", ex);
        }

        return Parse(text, file);
    }

    /// <summary>Checks and reads the JSON text of a profile; <paramref name="file"/> names it in errors.</summary>
    /// <exception cref="ProfileException">Bad JSON, or a missing or bad field.</exception>
    public static DeploymentProfile Parse(string json, string file)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new ProfileException(file, null, $"not valid JSON (line {(ex.LineNumber ?? 0) + 1}): {ex.Message}", ex);
        }

        using (document)
        {
            var r = new Reader(file);
            JsonElement root = r.Object(document.RootElement, "(root)");
            int version = r.Int(root, "format_version", 1);
            if (version != CurrentFormatVersion)
            {
                throw new ProfileException(file, "format_version", $"version {version} is not supported (this build reads {CurrentFormatVersion}).");
            }

            string sourceText = r.String(root, "source");
            ProfileSource source = sourceText switch
            {
                "simulated" => ProfileSource.Simulated,
                "measured" => ProfileSource.Measured,
                _ => throw new ProfileException(file, "source", $"expected simulated or measured (got '{sourceText}')."),
            };

            JsonElement p = r.Object(root, "prefill");
            int prefillGpus = r.Int(p, "prefill.gpus_per_worker", 1);
            double[] isl = r.Axis(p, "prefill.isl");
            double[] ttft = r.Series(p, "prefill.ttft_ms", isl.Length);
            double[] prefillThroughput = r.Series(p, "prefill.tokens_per_s_per_gpu", isl.Length);

            JsonElement d = r.Object(root, "decode");
            int decodeGpus = r.Int(d, "decode.gpus_per_worker", 1);
            double[] concurrency = r.Axis(d, "decode.concurrency");
            if (concurrency[0] < 1)
            {
                throw new ProfileException(file, "decode.concurrency[0]", $"concurrency starts at 1 sequence or more (got {concurrency[0]}).");
            }

            double[] context = r.Axis(d, "decode.context_length");
            double[][] itl = r.Table(d, "decode.itl_ms", concurrency.Length, context.Length);
            double[][] decodeThroughput = r.Table(d, "decode.tokens_per_s_per_gpu", concurrency.Length, context.Length);

            JsonElement kv = r.Object(root, "kv");
            int blockSize = r.Int(kv, "kv.block_size", 1);
            long blocks = r.Long(kv, "kv.blocks_per_worker", 1);

            return new DeploymentProfile
            {
                FormatVersion = version,
                Model = r.String(root, "model"),
                Hardware = r.String(root, "hardware"),
                Source = source,
                Description = root.TryGetProperty("description", out JsonElement description) && description.ValueKind == JsonValueKind.String ? description.GetString()! : "",
                Prefill = new PrefillProfile(prefillGpus, isl, ttft, prefillThroughput),
                Decode = new DecodeProfile(decodeGpus, concurrency, context, itl, decodeThroughput),
                Kv = new KvCapacity(blockSize, blocks),
            };
        }
    }

    /// <summary>The profile as profile.json text (indented, numbers rounded to 6 significant digits).</summary>
    public string ToJson()
    {
        static JsonArray Array(IEnumerable<double> values) => [.. values.Select(v => (JsonNode)Round(v))];
        var json = new JsonObject
        {
            ["format_version"] = FormatVersion,
            ["model"] = Model,
            ["hardware"] = Hardware,
            ["source"] = Source == ProfileSource.Simulated ? "simulated" : "measured",
            ["description"] = Description,
            ["prefill"] = new JsonObject
            {
                ["gpus_per_worker"] = Prefill.GpusPerWorker,
                ["isl"] = Array(Prefill.Isl),
                ["ttft_ms"] = Array(Prefill.TtftMsGrid),
                ["tokens_per_s_per_gpu"] = Array(Prefill.TokensPerSecondPerGpuGrid),
            },
            ["decode"] = new JsonObject
            {
                ["gpus_per_worker"] = Decode.GpusPerWorker,
                ["concurrency"] = Array(Decode.Concurrency),
                ["context_length"] = Array(Decode.ContextLength),
                ["itl_ms"] = new JsonArray([.. Decode.ItlMsGrid.Select(row => (JsonNode)Array(row))]),
                ["tokens_per_s_per_gpu"] = new JsonArray([.. Decode.TokensPerSecondPerGpuGrid.Select(row => (JsonNode)Array(row))]),
            },
            ["kv"] = new JsonObject
            {
                ["block_size"] = Kv.BlockSize,
                ["blocks_per_worker"] = Kv.BlocksPerWorker,
            },
        };
        // Indented, with each list of numbers on one line: a grid reads as a table.
        string text = json.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        return NumberList().Replace(text, m => "[" + string.Join(", ", m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries)) + "]");
    }

    [GeneratedRegex(@"\[\s*([-+0-9.eE]+(?:\s*,\s*[-+0-9.eE]+)*)\s*\]")]
    private static partial Regex NumberList();

    /// <summary>Writes <see cref="FileName"/> into <paramref name="directory"/> (created if missing); returns the file's path.</summary>
    public async Task<string> SaveAsync(string directory, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        string file = Path.Combine(directory, FileName);
        await File.WriteAllTextAsync(file, ToJson() + "\n", cancellationToken).ConfigureAwait(false);
        return file;
    }

    private static double Round(double value) => value == 0 || !double.IsFinite(value)
        ? value
        : Math.Round(value, Math.Clamp(5 - (int)Math.Floor(Math.Log10(Math.Abs(value))), 0, 12));

    /// <summary>Reads fields, naming the file and the field in every error.</summary>
    private sealed class Reader(string file)
    {
        public JsonElement Object(JsonElement parent, string name)
        {
            JsonElement element = name == "(root)" ? parent : Property(parent, name, name);
            if (element.ValueKind != JsonValueKind.Object)
            {
                throw new ProfileException(file, name, $"expected an object (got {Kind(element)}).");
            }

            return element;
        }

        public string String(JsonElement parent, string name)
        {
            JsonElement element = Property(parent, Leaf(name), name);
            if (element.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(element.GetString()))
            {
                throw new ProfileException(file, name, $"expected a non-empty string (got {Kind(element)}).");
            }

            return element.GetString()!;
        }

        public int Int(JsonElement parent, string name, int min) => (int)Long(parent, name, min, int.MaxValue);

        public long Long(JsonElement parent, string name, long min, long max = long.MaxValue)
        {
            JsonElement element = Property(parent, Leaf(name), name);
            if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long value) || value < min || value > max)
            {
                throw new ProfileException(file, name, $"expected a whole number >= {min} (got {Text(element)}).");
            }

            return value;
        }

        /// <summary>A grid axis: a non-empty array of positive numbers, strictly increasing.</summary>
        public double[] Axis(JsonElement parent, string name)
        {
            double[] values = Numbers(Property(parent, Leaf(name), name), name);
            if (values.Length == 0)
            {
                throw new ProfileException(file, name, "expected at least one grid point.");
            }

            for (int i = 0; i < values.Length; i++)
            {
                if (!(values[i] > 0))
                {
                    throw new ProfileException(file, $"{name}[{i}]", $"grid points must be > 0 (got {values[i]}).");
                }

                if (i > 0 && values[i] <= values[i - 1])
                {
                    throw new ProfileException(file, $"{name}[{i}]", $"grid points must increase strictly ({values[i]} after {values[i - 1]}).");
                }
            }

            return values;
        }

        /// <summary>Positive values, one per grid point.</summary>
        public double[] Series(JsonElement parent, string name, int length)
        {
            double[] values = Numbers(Property(parent, Leaf(name), name), name);
            if (values.Length != length)
            {
                throw new ProfileException(file, name, $"expected {length} values, one per grid point (got {values.Length}).");
            }

            for (int i = 0; i < values.Length; i++)
            {
                if (!(values[i] > 0))
                {
                    throw new ProfileException(file, $"{name}[{i}]", $"must be > 0 (got {values[i]}).");
                }
            }

            return values;
        }

        public double[][] Table(JsonElement parent, string name, int rows, int columns)
        {
            JsonElement element = Property(parent, Leaf(name), name);
            if (element.ValueKind != JsonValueKind.Array || element.GetArrayLength() != rows)
            {
                throw new ProfileException(file, name, $"expected an array of {rows} rows, one per concurrency point (got {Kind(element)}{(element.ValueKind == JsonValueKind.Array ? $" of {element.GetArrayLength()}" : "")}).");
            }

            var table = new double[rows][];
            int i = 0;
            foreach (JsonElement row in element.EnumerateArray())
            {
                string rowName = $"{name}[{i}]";
                double[] values = Numbers(row, rowName);
                if (values.Length != columns)
                {
                    throw new ProfileException(file, rowName, $"expected {columns} values, one per context_length point (got {values.Length}).");
                }

                for (int j = 0; j < columns; j++)
                {
                    if (!(values[j] > 0))
                    {
                        throw new ProfileException(file, $"{rowName}[{j}]", $"must be > 0 (got {values[j]}).");
                    }
                }

                table[i++] = values;
            }

            return table;
        }

        private double[] Numbers(JsonElement element, string name)
        {
            if (element.ValueKind != JsonValueKind.Array)
            {
                throw new ProfileException(file, name, $"expected an array of numbers (got {Kind(element)}).");
            }

            var values = new double[element.GetArrayLength()];
            int i = 0;
            foreach (JsonElement item in element.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetDouble(out values[i]) || !double.IsFinite(values[i]))
                {
                    throw new ProfileException(file, $"{name}[{i}]", $"expected a number (got {Text(item)}).");
                }

                i++;
            }

            return values;
        }

        private JsonElement Property(JsonElement parent, string leaf, string name)
        {
            if (!parent.TryGetProperty(leaf, out JsonElement element) || element.ValueKind == JsonValueKind.Null)
            {
                throw new ProfileException(file, name, "missing.");
            }

            return element;
        }

        private static string Leaf(string name) => name[(name.LastIndexOf('.') + 1)..];

        private static string Kind(JsonElement element) => element.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.String => $"the string \"{element.GetString()}\"",
            JsonValueKind.Number => $"the number {element.GetRawText()}",
            JsonValueKind.True or JsonValueKind.False => element.GetRawText(),
            _ => "null",
        };

        private static string Text(JsonElement element) => element.ValueKind == JsonValueKind.Number ? element.GetRawText() : Kind(element);
    }
}
