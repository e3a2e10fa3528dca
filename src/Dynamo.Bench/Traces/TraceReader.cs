using System.Globalization;
using System.Text.Json;

namespace Dynamo.Bench.Traces;

/// <summary>
/// Reads request traces: Mooncake JSONL (<c>timestamp</c> ms, <c>input_length</c>, <c>output_length</c>,
/// <c>hash_ids</c>, one per 512 prompt tokens) and Azure LLM inference CSV (<c>TIMESTAMP</c>, <c>ContextTokens</c>,
/// <c>GeneratedTokens</c>; no prefix information). The format follows the extension (.jsonl/.json or .csv).
/// Lines must be in arrival order: a timestamp earlier than the line before it is refused with its line number
/// (it used to be clamped to the start, which turned late lines into one burst at t = 0), unless the caller asks for
/// the trace to be sorted (<c>--sort-trace</c>, <c>workload.sort_trace</c>): then it is sorted by time, ties kept in
/// file order, and a warning says how many lines were out of order and the first of them. docs/traces.md describes
/// both formats field by field.
/// </summary>
public static class TraceReader
{
    /// <summary>The flag that sorts a trace instead of refusing it, named in the refusal.</summary>
    public const string SortFlag = "--sort-trace";

    public static IReadOnlyList<TraceRecord> Read(string path) => Read(path, sort: false, warn: null);

    /// <param name="sort">Sort a trace whose timestamps go backwards instead of refusing it.</param>
    /// <param name="warn">Told when a trace was sorted: the file, how many lines were out of order and the first.</param>
    public static IReadOnlyList<TraceRecord> Read(string path, bool sort, Action<string>? warn)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new TraceFormatException(path, null, "trace file not found.");
        }

        string extension = Path.GetExtension(path).ToLowerInvariant();
        using var reader = new StreamReader(path);
        IReadOnlyList<TraceRecord> records = extension switch
        {
            ".jsonl" or ".json" => ReadMooncake(reader, path, sort, warn),
            ".csv" => ReadAzure(reader, path, sort, warn),
            _ => throw new TraceFormatException(path, null, $"unknown trace format '{extension}': expected .jsonl (Mooncake) or .csv (Azure)."),
        };
        return records.Count > 0 ? records : throw new TraceFormatException(path, null, "the trace has no requests.");
    }

    public static List<TraceRecord> ReadMooncake(TextReader reader, string path, bool sort = false, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var records = new List<TraceRecord>();
        var order = new OrderCheck(path, sort);
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            TraceRecord record = ParseMooncakeLine(line, path, lineNumber);
            order.Next(record.TimestampMs, lineNumber, record.TimestampMs.ToString(CultureInfo.InvariantCulture));
            records.Add(record);
        }

        return order.Finish(records, r => r.TimestampMs, warn);
    }

    public static List<TraceRecord> ReadAzure(TextReader reader, string path, bool sort = false, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        string? header = reader.ReadLine();
        string[] columns = header?.Split(',', StringSplitOptions.TrimEntries) ?? [];
        int time = Array.IndexOf(columns, "TIMESTAMP");
        int context = Array.IndexOf(columns, "ContextTokens");
        int generated = Array.IndexOf(columns, "GeneratedTokens");
        if (time < 0 || context < 0 || generated < 0)
        {
            throw new TraceFormatException(path, 1, $"expected a header with TIMESTAMP, ContextTokens and GeneratedTokens (got '{header}').");
        }

        var rows = new List<(DateTime At, int Input, int Output)>();
        var order = new OrderCheck(path, sort);
        int lineNumber = 1;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            string[] cells = line.Split(',', StringSplitOptions.TrimEntries);
            if (cells.Length != columns.Length)
            {
                throw new TraceFormatException(path, lineNumber, $"expected {columns.Length} columns, got {cells.Length}.");
            }

            if (!DateTime.TryParse(cells[time], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTime at))
            {
                throw new TraceFormatException(path, lineNumber, $"TIMESTAMP '{cells[time]}' is not a date and time.");
            }

            int input = PositiveInt(cells[context], "ContextTokens", path, lineNumber);
            int output = PositiveInt(cells[generated], "GeneratedTokens", path, lineNumber);
            order.Next(at.Ticks, lineNumber, cells[time]);
            rows.Add((at, input, output));
        }

        rows = order.Finish(rows, r => r.At.Ticks, warn);
        DateTime start = rows.Count == 0 ? default : rows[0].At;
        return [.. rows.Select(r => new TraceRecord((r.At - start).TotalMilliseconds, r.Input, r.Output, []))];
    }

    /// <summary>Refuses the first timestamp that goes backwards, or (sorting) counts them and sorts at the end.</summary>
    private sealed class OrderCheck(string path, bool sort)
    {
        private double _previous = double.NegativeInfinity;
        private string _previousText = "";
        private int _previousLine;
        private int _outOfOrder;
        private int _firstLine;

        public void Next(double value, int line, string text)
        {
            if (value < _previous)
            {
                if (!sort)
                {
                    throw new TraceFormatException(path, line, $"timestamp {text} is before the previous one ({_previousText}, line {_previousLine}); sort the trace or pass {SortFlag}.");
                }

                _outOfOrder++;
                if (_firstLine == 0)
                {
                    _firstLine = line;
                }

                return;
            }

            _previous = value;
            _previousText = text;
            _previousLine = line;
        }

        public List<T> Finish<T>(List<T> items, Func<T, double> key, Action<string>? warn)
        {
            if (_outOfOrder == 0)
            {
                return items;
            }

            warn?.Invoke($"{path}: {_outOfOrder} line(s) had a timestamp before an earlier line's (first at line {_firstLine}); sorted by timestamp ({SortFlag}).");
            return [.. items.OrderBy(key)];
        }
    }

    private static TraceRecord ParseMooncakeLine(string line, string path, int lineNumber)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(line);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new TraceFormatException(path, lineNumber, "expected a JSON object.");
            }

            double timestamp = Number(root, "timestamp", path, lineNumber);
            int input = (int)Number(root, "input_length", path, lineNumber);
            int output = (int)Number(root, "output_length", path, lineNumber);
            if (timestamp < 0 || input < 1 || output < 1)
            {
                throw new TraceFormatException(path, lineNumber, $"timestamp must be >= 0 and lengths >= 1 (got timestamp {timestamp}, input_length {input}, output_length {output}).");
            }

            long[] hashIds = [];
            if (root.TryGetProperty("hash_ids", out JsonElement ids))
            {
                if (ids.ValueKind != JsonValueKind.Array)
                {
                    throw new TraceFormatException(path, lineNumber, "hash_ids must be an array of integers.");
                }

                hashIds = new long[ids.GetArrayLength()];
                int i = 0;
                foreach (JsonElement id in ids.EnumerateArray())
                {
                    if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt64(out hashIds[i++]))
                    {
                        throw new TraceFormatException(path, lineNumber, $"hash_ids[{i - 1}] is not an integer.");
                    }
                }

                int expected = (input + 511) / 512;
                if (hashIds.Length != expected)
                {
                    throw new TraceFormatException(path, lineNumber, $"input_length {input} needs {expected} hash_ids (one per 512 tokens), got {hashIds.Length}.");
                }
            }

            return new TraceRecord(timestamp, input, output, hashIds);
        }
        catch (JsonException error)
        {
            throw new TraceFormatException(path, lineNumber, $"not valid JSON ({error.Message}).", error);
        }
    }

    private static double Number(JsonElement root, string name, string path, int lineNumber)
    {
        if (!root.TryGetProperty(name, out JsonElement value) || value.ValueKind != JsonValueKind.Number)
        {
            throw new TraceFormatException(path, lineNumber, $"missing or non-numeric \"{name}\".");
        }

        return value.GetDouble();
    }

    private static int PositiveInt(string text, string column, string path, int lineNumber) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= 1
            ? value
            : throw new TraceFormatException(path, lineNumber, $"{column} '{text}' is not a positive integer.");
}
