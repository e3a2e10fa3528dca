using Dynamo.Bench.Metrics;
using ScottPlot;

namespace Dynamo.Bench.Reports;

/// <summary>
/// PNG plots made with ScottPlot (SkiaSharp underneath, so they render headless): latency CDFs and output
/// throughput over time.
/// </summary>
public static class PlotReport
{
    public const int Width = 900;
    public const int Height = 560;

    /// <summary>Writes ttft_cdf.png, itl_cdf.png, e2e_cdf.png and throughput.png into <paramref name="dir"/>; returns their paths.</summary>
    public static IReadOnlyList<string> WriteAll(IReadOnlyList<RequestResult> results, string dir, string title)
    {
        ArgumentNullException.ThrowIfNull(results);
        Directory.CreateDirectory(dir);
        var ok = results.Where(r => r.Measured && r.Succeeded).ToList();
        var paths = new List<string>
        {
            Cdf(ok.Where(r => r.TtftMs is not null).Select(r => r.TtftMs!.Value), Path.Combine(dir, "ttft_cdf.png"), $"{title}: time to first token", "TTFT (ms)"),
            Cdf(ok.Where(r => r.ItlMs is not null).Select(r => r.ItlMs!.Value), Path.Combine(dir, "itl_cdf.png"), $"{title}: inter-token latency", "ITL (ms, per-request mean)"),
            Cdf(ok.Select(r => r.E2eMs), Path.Combine(dir, "e2e_cdf.png"), $"{title}: end-to-end latency", "latency (ms)"),
            Throughput(ok, Path.Combine(dir, "throughput.png"), $"{title}: output throughput"),
        };
        return paths;
    }

    public static string Cdf(IEnumerable<double> values, string path, string title, string xLabel)
    {
        double[] sorted = [.. values.Order()];
        var plot = new Plot();
        if (sorted.Length > 0)
        {
            double[] ys = [.. Enumerable.Range(1, sorted.Length).Select(i => 100.0 * i / sorted.Length)];
            var line = plot.Add.ScatterLine(sorted, ys);
            line.LineWidth = 2;
        }

        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel("requests (%)");
        plot.Axes.SetLimitsY(0, 100);
        plot.SavePng(path, Width, Height);
        return path;
    }

    /// <summary>Output tokens per second in one-second buckets; a request's tokens are spread evenly from its first token to its end.</summary>
    public static string Throughput(IReadOnlyList<RequestResult> results, string path, string title)
    {
        ArgumentNullException.ThrowIfNull(results);
        double end = results.Count == 0 ? 1 : results.Max(r => r.StartS + (r.E2eMs / 1000));
        int buckets = Math.Max(1, (int)Math.Ceiling(end));
        double width = 1.0;
        if (buckets > 2000)
        {
            width = end / 2000;
            buckets = 2000;
        }

        var tokens = new double[buckets];
        foreach (RequestResult r in results)
        {
            double first = r.StartS + ((r.TtftMs ?? r.E2eMs) / 1000);
            double last = r.StartS + (r.E2eMs / 1000);
            if (r.OutputTokens <= 1 || last <= first)
            {
                tokens[Math.Min(buckets - 1, (int)(last / width))] += r.OutputTokens;
                continue;
            }

            tokens[Math.Min(buckets - 1, (int)(first / width))] += 1;
            double perSecond = (r.OutputTokens - 1) / (last - first);
            for (int b = (int)(first / width); b < buckets && b * width < last; b++)
            {
                double overlap = Math.Min(last, (b + 1) * width) - Math.Max(first, b * width);
                tokens[b] += Math.Max(0, overlap) * perSecond;
            }
        }

        double[] xs = [.. Enumerable.Range(0, buckets).Select(b => b * width)];
        double[] ys = [.. tokens.Select(t => t / width)];
        var plot = new Plot();
        var line = plot.Add.ScatterLine(xs, ys);
        line.LineWidth = 2;
        plot.Title(title);
        plot.XLabel("time (s)");
        plot.YLabel("output tokens/s");
        plot.SavePng(path, Width, Height);
        return path;
    }
}
