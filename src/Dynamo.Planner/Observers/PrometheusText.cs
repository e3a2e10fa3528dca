using System.Globalization;

namespace Dynamo.Planner.Observers;

/// <summary>Reads the Prometheus text exposition format far enough to sum samples by metric name over their labels.</summary>
public static class PrometheusText
{
    /// <summary>
    /// Every sample's value summed by its name (labels dropped): <c>x_count{model="a"} 3</c> and <c>x_count{model="b"} 4</c>
    /// give <c>x_count = 7</c>. Comment lines and values that are not finite numbers are skipped.
    /// </summary>
    public static Dictionary<string, double> SumByName(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var raw in text.AsSpan().EnumerateLines())
        {
            var line = raw.Trim();
            if (line.IsEmpty || line[0] == '#')
            {
                continue;
            }

            var nameEnd = line.IndexOfAny('{', ' ');
            if (nameEnd <= 0)
            {
                continue;
            }

            var name = line[..nameEnd].ToString();
            var rest = line[nameEnd..];
            if (rest[0] == '{')
            {
                var close = LabelsEnd(rest);
                if (close < 0)
                {
                    continue;
                }

                rest = rest[(close + 1)..];
            }

            rest = rest.TrimStart();
            var valueEnd = rest.IndexOf(' ');
            var value = valueEnd < 0 ? rest : rest[..valueEnd];
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
            {
                sums[name] = sums.GetValueOrDefault(name) + number;
            }
        }

        return sums;
    }

    /// <summary>Index of the <c>}</c> closing the label set that <paramref name="text"/> starts with, minding quoted values.</summary>
    private static int LabelsEnd(ReadOnlySpan<char> text)
    {
        var quoted = false;
        for (var i = 1; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == '}')
            {
                return i;
            }
        }

        return -1;
    }
}
