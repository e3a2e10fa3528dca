using Dynamo.Bench.Traces;
using Dynamo.Bench.Workload;

namespace Dynamo.Bench.Tests;

public sealed class TraceReaderTests
{
    private static string Temp(string name, string text)
    {
        string dir = Path.Combine(Path.GetTempPath(), "dynamo-bench-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Mooncake_ReadsTimestampsLengthsAndHashIds()
    {
        string path = Temp("t.jsonl", """
            {"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [1, 2]}

            {"timestamp": 250, "input_length": 512, "output_length": 7, "hash_ids": [1]}
            """);
        var records = TraceReader.Read(path);
        Assert.Equal(2, records.Count);
        Assert.Equal(250, records[1].TimestampMs);
        Assert.Equal([1L, 2L], records[0].HashIds);
        Assert.Equal(7, records[1].OutputLength);
    }

    [Fact]
    public void Mooncake_MalformedLine_NamesFileAndLine()
    {
        string path = Temp("bad.jsonl", "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 1, \"hash_ids\": [1]}\n{\"timestamp\": 1, \"input_length\": \n");
        var error = Assert.Throws<TraceFormatException>(() => TraceReader.Read(path));
        Assert.Equal(2, error.Line);
        Assert.Contains("bad.jsonl:2:", error.Message);
    }

    [Fact]
    public void Mooncake_HashIdCountNotMatchingLength_IsRejected()
    {
        string path = Temp("count.jsonl", "{\"timestamp\": 0, \"input_length\": 1500, \"output_length\": 1, \"hash_ids\": [1]}\n");
        var error = Assert.Throws<TraceFormatException>(() => TraceReader.Read(path));
        Assert.Contains("needs 3 hash_ids", error.Message);
    }

    [Fact]
    public void MissingFile_SaysNotFound()
    {
        var error = Assert.Throws<TraceFormatException>(() => TraceReader.Read("/nonexistent/trace.jsonl"));
        Assert.Contains("not found", error.Message);
    }

    [Fact]
    public void Azure_ReadsRelativeTimestamps()
    {
        string path = Temp("a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n");
        var records = TraceReader.Read(path);
        Assert.Equal(0, records[0].TimestampMs);
        Assert.Equal(4314.579, records[1].TimestampMs, 3);
        Assert.Equal(396, records[1].InputLength);
        Assert.Empty(records[1].HashIds);
    }

    [Fact]
    public void Azure_BadNumber_NamesLine()
    {
        string path = Temp("b.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:47.00,x,1\n");
        var error = Assert.Throws<TraceFormatException>(() => TraceReader.Read(path));
        Assert.Equal(3, error.Line);
        Assert.Contains("ContextTokens", error.Message);
    }

    [Fact]
    public void ShippedTrace_HasTheDocumentedShape()
    {
        string path = Path.Combine(ShippedTraces.Folder, "mooncake_synthetic_trace.jsonl");
        Assert.True(File.Exists(path), $"{path} is missing: bench/traces ships it");

        var records = TraceReader.Read(path);
        Assert.Equal(3993, records.Count);
        Assert.All(records, r => Assert.Equal((r.InputLength + 511) / 512, r.HashIds.Length));
    }

    [Fact]
    public void ShippedAzureTrace_ReadsWhole_InTimeOrder()
    {
        string path = Path.Combine(ShippedTraces.Folder, "AzureLLMInferenceTrace_conv.csv");
        Assert.True(File.Exists(path), $"{path} is missing: bench/traces ships it");

        var records = TraceReader.Read(path);
        Assert.Equal(19366, records.Count); // every line but the header (the replays of bench/README count 19,366)
        Assert.Equal(0, records[0].TimestampMs);
        Assert.Equal((374, 44), (records[0].InputLength, records[0].OutputLength));
        Assert.All(records.Zip(records.Skip(1)), p => Assert.True(p.First.TimestampMs <= p.Second.TimestampMs));
    }

    [Fact]
    public void Prompts_EqualHashIdsGiveEqualBlocks_AndLastBlockIsCut()
    {
        var synth = new PromptSynthesizer();
        int[] a = synth.Tokens(new BenchRequest(0, TimeSpan.Zero, 700, 1, [5, 6]));
        int[] b = synth.Tokens(new BenchRequest(1, TimeSpan.Zero, 1024, 1, [5, 7]));
        Assert.Equal(700, a.Length);
        Assert.Equal(a[..512], b[..512]);
        Assert.NotEqual(a[512..700], b[512..700]);
        Assert.All(a, t => Assert.InRange(t, PromptSynthesizer.FirstTokenId, 31999));
    }

    [Fact]
    public void Mooncake_TimestampGoingBackwards_IsRefusedWithItsLine()
    {
        string path = Temp("back.jsonl", """
            {"timestamp": 0, "input_length": 10, "output_length": 1}
            {"timestamp": 500, "input_length": 10, "output_length": 1}

            {"timestamp": 200, "input_length": 10, "output_length": 1}
            """);
        var error = Assert.Throws<TraceFormatException>(() => TraceReader.Read(path));
        Assert.Equal(4, error.Line);
        Assert.Contains("back.jsonl:4:", error.Message);
        Assert.Contains("line 2", error.Message);
        Assert.Contains("back.jsonl:4: timestamp 200 is before the previous one (500, line 2); sort the trace or pass --sort-trace", error.Message);
    }

    [Fact]
    public void Mooncake_SortFlag_SortsOutOfOrderLinesAndWarnsOnce()
    {
        string path = Temp("sorted.jsonl", """
            {"timestamp": 0, "input_length": 10, "output_length": 1}
            {"timestamp": 500, "input_length": 11, "output_length": 1}
            {"timestamp": 200, "input_length": 12, "output_length": 1}
            {"timestamp": 100, "input_length": 13, "output_length": 1}
            """);
        var warnings = new List<string>();
        var records = TraceReader.Read(path, sort: true, warnings.Add);
        Assert.Equal([0.0, 100, 200, 500], records.Select(r => r.TimestampMs));
        Assert.Equal([10, 13, 12, 11], records.Select(r => r.InputLength));
        string warning = Assert.Single(warnings);
        Assert.Contains("2 line(s)", warning);
        Assert.Contains("first at line 3", warning);
    }

    [Fact]
    public void Azure_SortFlag_MeasuresFromTheEarliestTimestamp()
    {
        string path = Temp("sorted.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.00,374,44\n2023-11-16 18:15:45.00,396,109\n");
        var warnings = new List<string>();
        var records = TraceReader.Read(path, sort: true, warnings.Add);
        Assert.Equal([0.0, 1000], records.Select(r => r.TimestampMs));
        Assert.Equal([396, 374], records.Select(r => r.InputLength));
        Assert.Single(warnings);
    }

    [Fact]
    public void Azure_TimestampGoingBackwards_IsRefusedWithItsLine()
    {
        string path = Temp("back.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:50.99,396,109\n2023-11-16 18:15:49.00,10,5\n");
        var error = Assert.Throws<TraceFormatException>(() => TraceReader.Read(path));
        Assert.Equal(4, error.Line);
        Assert.Contains("line 3", error.Message);
    }

    [Fact]
    public void EqualTimestamps_AreAccepted()
    {
        string path = Temp("same.jsonl", "{\"timestamp\": 7, \"input_length\": 10, \"output_length\": 1}\n{\"timestamp\": 7, \"input_length\": 10, \"output_length\": 1}\n");
        Assert.Equal(2, TraceReader.Read(path).Count);
    }
}
