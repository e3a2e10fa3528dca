using System.Globalization;

namespace Dynamo.Engine.Mocker.Profiles;

/// <summary>
/// Fits a <see cref="PerformanceModel"/> to a measured table, so the mocker can stand in for any engine, this
/// project's CPU engine included. The table is CSV with the header <c>kind,tokens,batch,context_tokens,ms</c>:
/// <c>prefill</c> rows give uncached prompt tokens and the TTFT; <c>decode</c> rows give the batch (sequences
/// decoding together), their context tokens in all, and the ITL. <c>dynamo bench --profile-table FILE</c> writes one.
/// Lines starting with <c>#</c> may set <c>total_kv_blocks</c>, <c>block_size</c>, <c>max_num_seqs</c>,
/// <c>max_context_length</c> as <c># key=value</c>.
/// Prefill is fitted as <c>a + b·n + c·n²</c> (the mocker's base, per-token and attention terms for one chunk), decode as
/// <c>d + e·batch + f·context</c>, by least squares; a term that comes out negative is dropped and the rest refitted.
/// </summary>
public static class ProfileFitter
{
    public const string Header = "kind,tokens,batch,context_tokens,ms";

    public static PerformanceProfile FitFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new ArgumentException($"Profile table not found: {path}");
        }

        var prefill = new List<(double Tokens, double Ms)>();
        var decode = new List<(double Batch, double Context, double Ms)>();
        var meta = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        int lineNumber = 0;
        foreach (string raw in File.ReadLines(path))
        {
            lineNumber++;
            string line = raw.Trim();
            if (line.Length == 0 || line == Header)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                string[] kv = line.TrimStart('#').Trim().Split('=', 2, StringSplitOptions.TrimEntries);
                if (kv.Length == 2 && int.TryParse(kv[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
                {
                    meta[kv[0]] = v;
                }

                continue;
            }

            string[] cells = line.Split(',', StringSplitOptions.TrimEntries);
            double Cell(int i) => cells.Length > i && double.TryParse(cells[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
                ? d
                : throw new ArgumentException($"{path}:{lineNumber}: column {i + 1} of '{line}' is not a number.");
            switch (cells[0])
            {
                case "prefill":
                    prefill.Add((Cell(1), Cell(4)));
                    break;
                case "decode":
                    decode.Add((Cell(2), Cell(3), Cell(4)));
                    break;
                default:
                    throw new ArgumentException($"{path}:{lineNumber}: kind must be prefill or decode (got '{cells[0]}').");
            }
        }

        if (prefill.Count < 2 || decode.Count < 2)
        {
            throw new ArgumentException($"{path}: need at least two prefill and two decode rows to fit (got {prefill.Count} and {decode.Count}).");
        }

        PerformanceModel model = Fit(prefill, decode);
        var defaults = new MockerOptions();
        return new PerformanceProfile
        {
            Name = "fit:" + Path.GetFileName(path),
            Description = $"fitted to {prefill.Count} prefill and {decode.Count} decode measurements in {path}",
            Performance = model,
            BlockSize = meta.GetValueOrDefault("block_size", defaults.BlockSize),
            TotalKvBlocks = meta.GetValueOrDefault("total_kv_blocks", defaults.TotalKvBlocks),
            MaxNumSeqs = meta.GetValueOrDefault("max_num_seqs", defaults.MaxNumSeqs),
            MaxContextLength = meta.GetValueOrDefault("max_context_length", defaults.MaxContextLength),
        };
    }

    public static PerformanceModel Fit(IReadOnlyList<(double Tokens, double Ms)> prefill, IReadOnlyList<(double Batch, double Context, double Ms)> decode)
    {
        ArgumentNullException.ThrowIfNull(prefill);
        ArgumentNullException.ThrowIfNull(decode);
        double[] p = NonNegativeFit(prefill.Select(r => (new[] { 1.0, r.Tokens, r.Tokens * r.Tokens }, r.Ms)).ToList());
        double[] d = NonNegativeFit(decode.Select(r => (new[] { 1.0, r.Batch, r.Context }, r.Ms)).ToList());
        return new PerformanceModel
        {
            PrefillBaseMs = p[0],
            PrefillPerTokenMs = p[1],
            PrefillQuadraticMs = p[2],
            DecodeBaseMs = d[0],
            DecodePerSeqMs = d[1],
            DecodePerKvTokenMs = d[2],
        };
    }

    /// <summary>Least squares with every coefficient ≥ 0: drop the most negative term and refit until none is negative.</summary>
    internal static double[] NonNegativeFit(IReadOnlyList<(double[] X, double Y)> rows)
    {
        int n = rows[0].X.Length;
        var active = Enumerable.Range(0, n).ToList();
        while (true)
        {
            double[] solved = Solve(rows, active);
            var full = new double[n];
            int worst = -1;
            for (int i = 0; i < active.Count; i++)
            {
                full[active[i]] = solved[i];
                if (solved[i] < 0 && (worst < 0 || solved[i] < solved[worst]))
                {
                    worst = i;
                }
            }

            if (worst < 0)
            {
                return full;
            }

            active.RemoveAt(worst);
            if (active.Count == 0)
            {
                return new double[n];
            }
        }
    }

    private static double[] Solve(IReadOnlyList<(double[] X, double Y)> rows, List<int> columns)
    {
        int k = columns.Count;
        // Scale columns so n² terms do not swamp the normal equations.
        var scale = new double[k];
        for (int j = 0; j < k; j++)
        {
            scale[j] = Math.Max(1e-12, rows.Max(r => Math.Abs(r.X[columns[j]])));
        }

        var a = new double[k, k + 1];
        foreach ((double[] x, double y) in rows)
        {
            for (int i = 0; i < k; i++)
            {
                double xi = x[columns[i]] / scale[i];
                for (int j = 0; j < k; j++)
                {
                    a[i, j] += xi * x[columns[j]] / scale[j];
                }

                a[i, k] += xi * y;
            }
        }

        // Gaussian elimination with partial pivoting; a tiny ridge keeps singular tables solvable.
        for (int i = 0; i < k; i++)
        {
            a[i, i] += 1e-9;
        }

        for (int col = 0; col < k; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < k; r++)
            {
                if (Math.Abs(a[r, col]) > Math.Abs(a[pivot, col]))
                {
                    pivot = r;
                }
            }

            for (int c = 0; c <= k; c++)
            {
                (a[col, c], a[pivot, c]) = (a[pivot, c], a[col, c]);
            }

            for (int r = 0; r < k; r++)
            {
                if (r == col || a[col, col] == 0)
                {
                    continue;
                }

                double f = a[r, col] / a[col, col];
                for (int c = col; c <= k; c++)
                {
                    a[r, c] -= f * a[col, c];
                }
            }
        }

        var result = new double[k];
        for (int i = 0; i < k; i++)
        {
            result[i] = a[i, i] == 0 ? 0 : a[i, k] / a[i, i] / scale[i];
        }

        return result;
    }
}
