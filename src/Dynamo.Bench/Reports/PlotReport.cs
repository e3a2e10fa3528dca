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

    /// <summary>
    /// Writes ttft_cdf.png, itl_cdf.png (each request's mean gap and every token gap), e2e_cdf.png and throughput.png
    /// into <paramref name="dir"/>, with the targets of <paramref name="slo"/> drawn; returns their paths.
    /// </summary>
    public static IReadOnlyList<string> WriteAll(IReadOnlyList<RequestResult> results, string dir, string title, SloTargets? slo = null)
    {
        ArgumentNullException.ThrowIfNull(results);
        Directory.CreateDirectory(dir);
        slo ??= new SloTargets();
        var ok = results.Where(r => r.Measured && r.Succeeded).ToList();
        var paths = new List<string>
        {
            Cdf([("TTFT", ok.Where(r => r.TtftMs is not null).Select(r => r.TtftMs!.Value))], slo.TtftMs, Path.Combine(dir, "ttft_cdf.png"), $"{title}: time to first token", "TTFT (ms)"),
            Cdf(
                [("each request's mean gap", ok.Where(r => r.ItlMs is not null).Select(r => r.ItlMs!.Value)), ("every token gap", ok.SelectMany(r => r.TokenGapsMs ?? []).Select(g => (double)g))],
                slo.ItlMs,
                Path.Combine(dir, "itl_cdf.png"),
                $"{title}: inter-token latency",
                $"ITL (ms; target judged on {slo.ItlMetric})"),
            Cdf([("end-to-end", ok.Select(r => r.E2eMs))], slo.E2eMs, Path.Combine(dir, "e2e_cdf.png"), $"{title}: end-to-end latency", "latency (ms)"),
            Throughput(ok, Path.Combine(dir, "throughput.png"), $"{title}: output throughput"),
        };
        return paths;
    }

    /// <summary>CDFs of one or more series on one x axis (log when they span more than two decades), with the target as a dashed line.</summary>
    public static string Cdf(IReadOnlyList<(string Name, IEnumerable<double> Values)> series, double? target, string path, string title, string xLabel)
    {
        ArgumentNullException.ThrowIfNull(series);
        var sorted = series.Select(s => (s.Name, Values: s.Values.Where(v => v >= 0).Order().ToArray())).Where(s => s.Values.Length > 0).ToList();
        var all = sorted.SelectMany(s => s.Values).Concat(target is { } t ? [t] : []).ToList();
        bool log = AxisScale.UseLog(all);
        var plot = new Plot();
        foreach (var (name, values) in sorted)
        {
            double[] ys = [.. Enumerable.Range(1, values.Length).Select(i => 100.0 * i / values.Length)];
            var line = plot.Add.ScatterLine(values.Select(v => AxisScale.Coordinate(v, log)).ToArray(), ys);
            line.LineWidth = 2;
            line.LegendText = name;
        }

        if (target is { } goal && goal > 0)
        {
            var line = plot.Add.VerticalLine(AxisScale.Coordinate(goal, log));
            line.LinePattern = LinePattern.Dashed;
            line.LegendText = $"target {goal:0.#} ms";
        }

        if (log)
        {
            AxisScale.ApplyLogTicks(plot.Axes.Bottom);
        }

        var (low, high) = AxisScale.Limits(all, log);
        plot.Axes.SetLimitsX(low, high);
        plot.ShowLegend(Alignment.LowerRight);
        plot.Title(title);
        plot.XLabel(log ? xLabel + ", log scale" : xLabel);
        plot.YLabel(sorted.Count > 1 ? "share of requests or gaps (%)" : "requests (%)");
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
        plot.Axes.SetLimitsY(0, Math.Max(1, ys.Max()) * 1.1);
        plot.Title(title);
        plot.XLabel("time (s)");
        plot.YLabel("output tokens/s");
        plot.SavePng(path, Width, Height);
        return path;
    }
}
