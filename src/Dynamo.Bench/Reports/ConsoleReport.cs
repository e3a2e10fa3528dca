using System.Globalization;
using Dynamo.Bench.Metrics;
using Spectre.Console;

namespace Dynamo.Bench.Reports;

/// <summary>The terminal table (Spectre.Console).</summary>
public static class ConsoleReport
{
    /// <summary>A console on standard error, for when standard output carries JSON (<c>--json -</c>).</summary>
    public static IAnsiConsole StandardError() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    public static Table Table(BenchSummary s, string title, IEnumerable<(string Name, string Value)>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        var table = new Table().Title(Markup.Escape(title)).Border(TableBorder.Rounded);
        table.AddColumn("metric");
        table.AddColumn(new TableColumn("p50").RightAligned());
        table.AddColumn(new TableColumn("p90").RightAligned());
        table.AddColumn(new TableColumn("p99").RightAligned());
        table.AddColumn(new TableColumn("mean").RightAligned());
        AddLatency(table, "TTFT (ms)", s.TtftMs);
        AddLatency(table, "ITL (ms, request mean)", s.ItlMs);
        if (s.ItlTokenMs.Count > 0)
        {
            AddLatency(table, "ITL (ms, token gaps)", s.ItlTokenMs);
        }

        AddLatency(table, "end-to-end (ms)", s.E2eMs);
        table.AddEmptyRow();
        AddValue(table, "requests ok / errors", $"{s.Requests} / {s.Errors}");
        AddValue(table, "duration (s)", F(s.DurationS));
        AddValue(table, "requests/s", F(s.RequestsPerS));
        AddValue(table, "output tokens/s", F(s.OutputTokensPerS));
        if (s.Stability is { } stability)
        {
            AddValue(table, "served / offered req/s", $"{F(stability.ServedRequestsPerS)} / {F(stability.OfferedRequestsPerS)} ({(stability.Stable ? "stable" : "unstable")}{(stability.Reason.Length > 0 ? ": " + stability.Reason : "")})");
        }

        string slo = string.Join(", ", new[] { s.Slo.TtftMs is { } t ? $"TTFT≤{F(t)}ms" : null, s.Slo.ItlMs is { } i ? $"ITL {s.Slo.ItlMetric}≤{F(i)}ms" : null, s.Slo.E2eMs is { } e ? $"e2e≤{F(e)}ms" : null }.OfType<string>());
        AddValue(table, slo.Length > 0 ? $"goodput req/s ({slo})" : "goodput req/s (no targets)", F(s.GoodputRequestsPerS));
        AddValue(table, "KV hit rate", s.KvHitRate is { } h ? h.ToString("P1", CultureInfo.InvariantCulture) : "n/a");
        foreach (var (kind, count) in s.ErrorsByKind)
        {
            AddValue(table, $"errors: {kind}", count.ToString(CultureInfo.InvariantCulture));
        }

        foreach (var (name, value) in extra ?? [])
        {
            AddValue(table, name, value);
        }

        return table;
    }

    public static string F(double value) => value.ToString(value >= 100 ? "0.0" : "0.00", CultureInfo.InvariantCulture);

    private static void AddLatency(Table table, string name, LatencySummary l) =>
        table.AddRow(Markup.Escape(name), F(l.P50), F(l.P90), F(l.P99), F(l.Mean));

    private static void AddValue(Table table, string name, string value) =>
        table.AddRow(Markup.Escape(name), Markup.Escape(value), "", "", "");
}
