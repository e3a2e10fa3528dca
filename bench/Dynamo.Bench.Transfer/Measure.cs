using System.Diagnostics;
using Dynamo.Transfer;
using Dynamo.Transfer.Memory;

namespace Dynamo.Bench.Transfer;

internal readonly record struct Point(double GBs, double P50Us, double P99Us, int Count);

internal static class Measure
{
    /// <summary>
    /// One transfer at a time, for at least <paramref name="seconds"/> and 5 transfers, after a short warm-up. With
    /// <paramref name="granter"/> (the remote agent), each READ is granted, presented and revoked as a KV read is.
    /// </summary>
    public static async Task<Point> TransfersAsync(TransferAgent agent, TransferOperation op, DescriptorList local, DescriptorList remote, string peer, double seconds,
        TransferAgent? granter = null)
    {
        var bytes = (long)local.TotalBytes;
        for (var i = 0; i < 3; i++)
        {
            await RunOneAsync(agent, op, local, remote, peer, granter);
        }

        var latencies = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds || latencies.Count < 5)
        {
            var started = Stopwatch.GetTimestamp();
            await RunOneAsync(agent, op, local, remote, peer, granter);
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }

        var elapsed = total.Elapsed.TotalSeconds;
        latencies.Sort();
        return new Point(bytes * (double)latencies.Count / elapsed / 1e9, Percentile(latencies, 0.50), Percentile(latencies, 0.99), latencies.Count);
    }

    private static readonly byte[] Binding = new byte[32];

    private static async Task RunOneAsync(TransferAgent agent, TransferOperation op, DescriptorList local, DescriptorList remote, string peer, TransferAgent? granter)
    {
        var grant = granter?.IssueGrant(remote, Binding);
        var result = await agent.PostTransfer(op, local, remote, peer, grant?.CredentialFor(Binding)).Completion;
        if (grant is not null)
        {
            granter!.RevokeGrant(grant.Token.Span);
        }

        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"benchmark transfer failed: {result}");
        }
    }

    /// <summary>GB/s of copying the same blocks with <see cref="Buffer.MemoryCopy"/> on one thread (bytes copied, not read + written).</summary>
    public static unsafe double Memcpy(Native source, Native destination, long size, int batch, double seconds)
    {
        void CopyAll()
        {
            for (var i = 0; i < batch; i++)
            {
                var offset = 2L * i * size;
                Buffer.MemoryCopy((byte*)source.Address + offset, (byte*)destination.Address + offset, size, size);
            }
        }

        CopyAll();
        var count = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed.TotalSeconds < seconds || count < 5)
        {
            CopyAll();
            count++;
        }

        return size * (double)batch * count / watch.Elapsed.TotalSeconds / 1e9;
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
}
