using System.Globalization;
using System.Text;
using Dynamo.Bench.Workload;

namespace Dynamo.Bench.Traces;

/// <summary>
/// Writes a workload as a Mooncake JSONL trace (<c>--export-trace FILE</c>): one line a request,
/// <c>{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}</c>, in arrival order, so
/// <c>--trace FILE</c>, <c>bench/p4_cache_bounds.py</c> and other tools read the same requests and prefix blocks.
/// Timestamps are the arrival offsets in milliseconds, to the microsecond.
/// </summary>
public static class TraceWriter
{
    public static string Line(BenchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var line = new StringBuilder(64 + (request.HashIds.Count * 17));
        line.Append(CultureInfo.InvariantCulture, $"{{\"timestamp\": {Math.Round(request.Arrival.TotalMilliseconds, 3):0.###}, \"input_length\": {request.InputLength}, \"output_length\": {request.OutputLength}, \"hash_ids\": [");
        for (int i = 0; i < request.HashIds.Count; i++)
        {
            line.Append(i == 0 ? "" : ", ").Append(request.HashIds[i].ToString(CultureInfo.InvariantCulture));
        }

        return line.Append("]}").ToString();
    }

    /// <summary>Writes every request of <paramref name="workload"/> (which must end) to <paramref name="path"/>; returns how many.</summary>
    public static int Write(string path, IEnumerable<BenchRequest> workload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(workload);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        int count = 0;
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        foreach (BenchRequest request in workload)
        {
            cancellationToken.ThrowIfCancellationRequested();
            writer.WriteLine(Line(request));
            count++;
        }

        return count;
    }
}
