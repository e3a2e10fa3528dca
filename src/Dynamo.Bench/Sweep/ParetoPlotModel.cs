using System.Globalization;
using Dynamo.Bench.Reports;
using ScottPlot;

namespace Dynamo.Bench.Sweep;

/// <summary>
/// What a sweep's Pareto plot shows, decided before anything is drawn (so the decisions can be tested without
/// decoding a PNG): output tokens/s per GPU (y, from 0) against a latency (x, log when it spans more than two decades,
/// <see cref="AxisScale"/>), one named series per mode and eligibility, the Pareto front, the target as a vertical
/// line, and the recommended point marked and labelled with its configuration and rate.
/// </summary>
public sealed record ParetoPlotModel(
    string Title,
    string XLabel,
    string YLabel,
    bool XLog,
    (double Min, double Max) XLimits,
    (double Min, double Max) YLimits,
    IReadOnlyList<ParetoPlotModel.Series> AllSeries,
    double? Target,
    ParetoPlotModel.Marker? Recommended)
{
    /// <summary>Points (or a line) in data units; drawn at <see cref="AxisScale.Coordinate"/> of x.</summary>
    public sealed record Series(string Name, IReadOnlyList<double> Xs, IReadOnlyList<double> Ys, bool Line, bool Hollow);

    public sealed record Marker(double X, double Y, string Label);

    public static ParetoPlotModel Build(IReadOnlyList<SweepRow> rows, IReadOnlyCollection<SweepRow> front, Func<SweepRow, double> latency, string label, double? target, SweepRow? recommended)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(front);
        ArgumentNullException.ThrowIfNull(latency);
        var drawn = rows.Where(r => latency(r) > 0).ToList();
        var series = new List<Series>();
        foreach (var group in drawn.GroupBy(r => (r.Point.Mode, r.Eligible)).OrderBy(g => g.Key.Mode, StringComparer.Ordinal).ThenByDescending(g => g.Key.Eligible))
        {
            string name = $"{group.Key.Mode}, {(group.Key.Eligible ? "eligible" : "not eligible (hollow)")}";
            series.Add(new Series(name, [.. group.Select(latency)], [.. group.Select(r => r.ThroughputPerGpu)], Line: false, Hollow: !group.Key.Eligible));
        }

        var ordered = front.Where(r => latency(r) > 0).OrderBy(latency).ToList();
        if (ordered.Count > 0)
        {
            series.Add(new Series("Pareto front (all points)", [.. ordered.Select(latency)], [.. ordered.Select(r => r.ThroughputPerGpu)], Line: true, Hollow: false));
        }

        var xs = drawn.Select(latency).Concat(target is { } t && t > 0 ? [t] : []).ToList();
        bool log = AxisScale.UseLog(xs);
        double yMax = drawn.Count == 0 ? 1 : Math.Max(drawn.Max(r => r.ThroughputPerGpu), 1e-9) * 1.15;
        Marker? marker = recommended is { } best && latency(best) > 0
            ? new Marker(latency(best), best.ThroughputPerGpu, string.Create(CultureInfo.InvariantCulture, $"recommended: {SweepRunner.Describe(best.Point)} at {best.Point.Rate} req/s"))
            : null;
        return new ParetoPlotModel(
            $"dynamo sweep: output tokens/s per GPU against {label}",
            log ? label + ", log scale" : label,
            "output tokens/s per GPU",
            log,
            AxisScale.Limits(xs, log),
            (0, yMax),
            series,
            target is { } goal && goal > 0 ? goal : null,
            marker);
    }

    public void Render(string path)
    {
        var plot = new Plot();
        var colors = new Dictionary<string, Color>(StringComparer.Ordinal);
        var palette = new ScottPlot.Palettes.Category10();
        foreach (Series s in AllSeries)
        {
            double[] xs = [.. s.Xs.Select(x => AxisScale.Coordinate(x, XLog))];
            if (s.Line)
            {
                var line = plot.Add.ScatterLine(xs, [.. s.Ys]);
                line.LegendText = s.Name;
                line.LineWidth = 2;
                line.Color = Colors.Gray;
                continue;
            }

            string mode = s.Name.Split(',')[0];
            if (!colors.TryGetValue(mode, out Color color))
            {
                color = palette.GetColor(colors.Count);
                colors[mode] = color;
            }

            var points = plot.Add.ScatterPoints(xs, [.. s.Ys]);
            points.LegendText = s.Name;
            points.Color = color;
            points.MarkerSize = 8;
            points.MarkerShape = s.Hollow ? MarkerShape.OpenCircle : MarkerShape.FilledCircle;
        }

        if (Target is { } target)
        {
            var v = plot.Add.VerticalLine(AxisScale.Coordinate(target, XLog));
            v.LegendText = string.Create(CultureInfo.InvariantCulture, $"target {target:0.#} ms");
            v.LinePattern = LinePattern.Dashed;
            v.Color = Colors.Red;
            v.LineWidth = 2;
        }

        if (Recommended is { } best)
        {
            double x = AxisScale.Coordinate(best.X, XLog);
            var marker = plot.Add.Marker(x, best.Y, MarkerShape.OpenDiamond, 18);
            marker.Color = Colors.Black;
            marker.LegendText = "recommended (labelled)";
            var text = plot.Add.Text(best.Label, x, best.Y);
            text.LabelFontSize = 13;
            text.LabelBold = true;
            text.LabelAlignment = x > (XLimits.Min + XLimits.Max) / 2 ? Alignment.LowerRight : Alignment.LowerLeft;
            text.OffsetY = -10;
        }

        if (XLog)
        {
            AxisScale.ApplyLogTicks(plot.Axes.Bottom);
        }

        plot.Axes.SetLimitsX(XLimits.Min, XLimits.Max);
        plot.Axes.SetLimitsY(YLimits.Min, YLimits.Max);
        plot.ShowLegend(Edge.Bottom);
        plot.Title(Title);
        plot.XLabel(XLabel);
        plot.YLabel(YLabel);
        plot.SavePng(path, PlotReport.Width, PlotReport.Height + 140);
    }
}
