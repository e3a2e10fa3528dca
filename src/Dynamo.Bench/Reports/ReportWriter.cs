using System.Text.Json.Nodes;
using Dynamo.Bench.Metrics;

namespace Dynamo.Bench.Reports;

/// <summary>Writes a run's files into an output folder: summary.json, summary.csv, requests.csv and the PNG plots.</summary>
public static class ReportWriter
{
    public static async Task<IReadOnlyList<string>> WriteAsync(string dir, string title, JsonNode summaryJson, BenchSummary summary, IReadOnlyList<RequestResult> results, bool plots, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(summaryJson);
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        string json = Path.Combine(dir, "summary.json");
        await JsonReport.WriteAsync(summaryJson, json, cancellationToken).ConfigureAwait(false);
        files.Add(json);
        string summaryCsv = Path.Combine(dir, "summary.csv");
        await File.WriteAllTextAsync(summaryCsv, CsvReport.Summary(summary), cancellationToken).ConfigureAwait(false);
        files.Add(summaryCsv);
        string requestsCsv = Path.Combine(dir, "requests.csv");
        await File.WriteAllTextAsync(requestsCsv, CsvReport.Requests(results), cancellationToken).ConfigureAwait(false);
        files.Add(requestsCsv);
        if (plots)
        {
            files.AddRange(PlotReport.WriteAll(results, dir, title, summary.Slo));
        }

        return files;
    }
}
