using Dynamo.Bench.Metrics;
using Dynamo.Bench.Replay;
using Dynamo.Contracts;
using ScottPlot;

namespace Dynamo.Bench.Reports;

/// <summary>
/// <c>timeline.png</c> of a replay: three panels sharing the time axis: the offered load (requests/s by arrival), the
/// workers of each pool (asked for, and serving), and TTFT and ITL p90 of the requests arriving in each bucket with
/// the SLA's targets. Latency goes on a log axis when it spans more than two decades; counts and rates start at zero.
/// </summary>
public static class TimelinePlot
{
    public static string Write(ReplayRun run, string path, string title, double? ttftTargetMs, double? itlTargetMs)
    {
        ArgumentNullException.ThrowIfNull(run);
        double end = Math.Max(1, run.EndS);
        double width = Math.Max(10, Math.Ceiling(end / 200));
        int buckets = Math.Max(1, (int)Math.Ceiling(end / width));
        double[] xs = [.. Enumerable.Range(0, buckets).Select(b => (b + 0.5) * width)];

        var multiplot = new Multiplot();
        multiplot.AddPlots(3);
        Plot load = multiplot.GetPlot(0);
        Plot workers = multiplot.GetPlot(1);
        Plot latency = multiplot.GetPlot(2);

        var arrivals = new double[buckets];
        var ttft = new List<double>[buckets];
        var itl = new List<double>[buckets];
        for (int b = 0; b < buckets; b++)
        {
            ttft[b] = [];
            itl[b] = [];
        }

        foreach (RequestResult r in run.Results.Where(r => r.Measured))
        {
            int b = Math.Clamp((int)(r.StartS / width), 0, buckets - 1);
            arrivals[b]++;
            if (r.Succeeded && r.TtftMs is { } t)
            {
                ttft[b].Add(t);
            }

            if (r.Succeeded && r.ItlMs is { } i)
            {
                itl[b].Add(i);
            }
        }

        var offered = load.Add.ScatterLine(xs, arrivals.Select(a => a / width).ToArray());
        offered.LegendText = "requests/s arriving";
        offered.LineWidth = 2;
        load.Title($"{title}\nload, workers per pool and latency over time");
        load.Axes.Title.Label.FontSize = 13;
        load.YLabel("requests/s");
        load.Axes.SetLimitsY(0, Math.Max(1, arrivals.Max() / width) * 1.1);
        load.ShowLegend(Alignment.UpperRight);

        double top = 1;
        foreach (WorkerRole role in run.Scaling.SelectMany(s => s.Workers.Keys).Distinct())
        {
            string name = role.ToString().ToLowerInvariant();
            var asked = run.Scaling.Select(s => (s.TimeS, (double)s.Workers[role])).Append((end, run.Scaling[^1].Workers[role])).ToList();
            var desired = workers.Add.Scatter(asked.Select(a => a.Item1).ToArray(), asked.Select(a => a.Item2).ToArray());
            desired.ConnectStyle = ConnectStyle.StepHorizontal;
            desired.MarkerSize = 0;
            desired.LinePattern = LinePattern.Dashed;
            desired.LegendText = $"{name}: asked for";
            var samples = run.PoolSamples.Where(p => p.Role == role).ToList();
            if (samples.Count > 0)
            {
                var serving = workers.Add.Scatter(samples.Select(p => p.TimeS).ToArray(), samples.Select(p => (double)p.Ready).ToArray());
                serving.ConnectStyle = ConnectStyle.StepHorizontal;
                serving.MarkerSize = 0;
                serving.LineWidth = 2;
                serving.Color = desired.Color;
                serving.LegendText = $"{name}: serving";
                top = Math.Max(top, samples.Max(p => p.Ready + p.Starting + p.Draining));
            }

            top = Math.Max(top, asked.Max(a => a.Item2));
        }

        workers.YLabel("workers");
        workers.Axes.SetLimitsY(0, top * 1.15);
        workers.ShowLegend(Alignment.UpperRight);

        double[] ttftP90 = [.. ttft.Select(P90)];
        double[] itlP90 = [.. itl.Select(P90)];
        var values = ttftP90.Concat(itlP90).Where(v => v > 0).Concat(new[] { ttftTargetMs ?? 0, itlTargetMs ?? 0 }.Where(v => v > 0)).ToList();
        bool log = values.Count > 0 && values.Max() / values.Min() > 100;
        double Y(double v) => log ? Math.Log10(v) : v;
        void Series(double[] ys, string label)
        {
            var points = xs.Zip(ys).Where(p => p.Second > 0).ToList();
            if (points.Count == 0)
            {
                return;
            }

            var line = latency.Add.ScatterLine(points.Select(p => p.First).ToArray(), points.Select(p => Y(p.Second)).ToArray());
            line.LegendText = label;
            line.LineWidth = 2;
        }

        Series(ttftP90, "TTFT p90");
        Series(itlP90, "ITL p90 (request mean gap)");
        foreach ((double? target, string label) in new[] { (ttftTargetMs, "TTFT target"), (itlTargetMs, "ITL target") })
        {
            if (target is { } t && t > 0)
            {
                var line = latency.Add.HorizontalLine(Y(t));
                line.LinePattern = LinePattern.Dotted;
                line.LegendText = $"{label} {t:0.#} ms";
            }
        }

        if (log)
        {
            latency.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = y => $"{Math.Pow(10, y):N0}",
            };
            latency.Axes.SetLimitsY(Math.Floor(Math.Log10(values.Min())), Math.Ceiling(Math.Log10(values.Max())));
        }
        else
        {
            latency.Axes.SetLimitsY(0, (values.Count == 0 ? 1 : values.Max()) * 1.15);
        }

        latency.YLabel(log ? "ms, p90 per bucket (log)" : "ms, p90 per bucket");
        latency.XLabel($"simulated time (s), {width:0} s buckets");
        latency.ShowLegend(Alignment.UpperRight);
        foreach (Plot plot in new[] { load, workers, latency })
        {
            plot.Axes.SetLimitsX(0, end);
        }

        multiplot.SharedAxes.ShareX([load, workers, latency]);
        multiplot.SavePng(path, PlotReport.Width, PlotReport.Height * 2);
        return path;
    }

    private static double P90(List<double> values)
    {
        if (values.Count == 0)
        {
            return 0;
        }

        values.Sort();
        return values[Math.Min(values.Count - 1, (int)Math.Ceiling(0.9 * values.Count) - 1)];
    }
}
