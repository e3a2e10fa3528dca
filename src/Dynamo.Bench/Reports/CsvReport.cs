using System.Globalization;
using System.Text;
using Dynamo.Bench.Metrics;

namespace Dynamo.Bench.Reports;

/// <summary>CSV files: one row per request, and the summary flattened into one row (for spreadsheets and sweeps).</summary>
public static class CsvReport
{
    public const string RequestHeader = "index,start_s,measured,input_tokens,output_tokens,cached_tokens,ttft_ms,itl_ms,e2e_ms,worker,error";

    public static string Requests(IEnumerable<RequestResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var text = new StringBuilder(RequestHeader).Append('\n');
        foreach (RequestResult r in results)
        {
            text.Append(CultureInfo.InvariantCulture, $"{r.Index},{r.StartS:0.######},{(r.Measured ? 1 : 0)},{r.InputTokens},{r.OutputTokens},{r.CachedTokens},{Num(r.TtftMs)},{Num(r.ItlMs)},{Num(r.E2eMs)},{r.Worker},{r.Error}\n");
        }

        return text.ToString();
    }

    /// <summary>Column names of <see cref="SummaryRow"/>.</summary>
    public static IReadOnlyList<string> SummaryColumns { get; } =
    [
        "requests", "errors", "duration_s",
        "ttft_p50_ms", "ttft_p90_ms", "ttft_p99_ms", "ttft_mean_ms",
        "itl_p50_ms", "itl_p90_ms", "itl_p99_ms", "itl_mean_ms",
        "e2e_p50_ms", "e2e_p90_ms", "e2e_p99_ms", "e2e_mean_ms",
        "output_tokens_per_s", "requests_per_s", "goodput_requests_per_s", "kv_hit_rate",
    ];

    public static IReadOnlyList<string> SummaryRow(BenchSummary s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return
        [
            s.Requests.ToString(CultureInfo.InvariantCulture), s.Errors.ToString(CultureInfo.InvariantCulture), Num(s.DurationS),
            Num(s.TtftMs.P50), Num(s.TtftMs.P90), Num(s.TtftMs.P99), Num(s.TtftMs.Mean),
            Num(s.ItlMs.P50), Num(s.ItlMs.P90), Num(s.ItlMs.P99), Num(s.ItlMs.Mean),
            Num(s.E2eMs.P50), Num(s.E2eMs.P90), Num(s.E2eMs.P99), Num(s.E2eMs.Mean),
            Num(s.OutputTokensPerS), Num(s.RequestsPerS), Num(s.GoodputRequestsPerS), Num(s.KvHitRate),
        ];
    }

    public static string Summary(BenchSummary summary) =>
        string.Join(',', SummaryColumns) + "\n" + string.Join(',', SummaryRow(summary)) + "\n";

    public static string Num(double? value) => value is { } v ? v.ToString("0.####", CultureInfo.InvariantCulture) : "";

    /// <summary>Quotes a cell that holds a comma, quote or newline.</summary>
    public static string Cell(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.AsSpan().IndexOfAny(",\"\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
