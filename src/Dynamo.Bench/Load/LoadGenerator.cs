using System.Diagnostics;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Workload;

namespace Dynamo.Bench.Load;

/// <summary>
/// Issues a workload through a send function: open loop (each request at its arrival time, however many are in
/// flight) or closed loop (a fixed number in flight). Requests started in the warm-up are marked unmeasured.
/// Waits for every started request before returning, so the last ones are counted.
/// </summary>
public sealed class LoadGenerator
{
    /// <summary>Sends a request: (request, seconds since start, measured?, cancellation) → result.</summary>
    public delegate Task<RequestResult> SendFunc(BenchRequest request, double startS, bool measured, CancellationToken cancellationToken);

    private readonly LoadOptions _options;
    private readonly TimeProvider _time;

    public LoadGenerator(LoadOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _time = time ?? TimeProvider.System;
    }

    public async Task<IReadOnlyList<RequestResult>> RunAsync(IEnumerable<BenchRequest> workload, SendFunc send, int? expected, IProgress<BenchProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(send);
        long origin = _time.GetTimestamp();
        double Now() => _time.GetElapsedTime(origin).TotalSeconds;
        double warmup = _options.Warmup.TotalSeconds;
        double stopAt = _options.Duration is { } d ? warmup + d.TotalSeconds : double.PositiveInfinity;
        var results = new List<RequestResult>();
        int completed = 0, failed = 0;

        async Task Issue(BenchRequest request)
        {
            double start = Now();
            RequestResult result;
            try
            {
                result = await send(request, start, start >= warmup, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                result = new RequestResult { Index = request.Index, StartS = start, InputTokens = request.InputLength, Error = ErrorKinds.Cancelled, Measured = start >= warmup };
            }

            lock (results)
            {
                results.Add(result);
                completed++;
                failed += result.Succeeded ? 0 : 1;
                progress?.Report(new BenchProgress(completed, failed, expected, Now()));
            }
        }

        using IEnumerator<BenchRequest> source = workload.GetEnumerator();
        if (_options.Concurrency is int concurrency)
        {
            var workers = new Task[concurrency];
            for (int i = 0; i < concurrency; i++)
            {
                workers[i] = Task.Run(
                    async () =>
                    {
                        while (!cancellationToken.IsCancellationRequested && Now() < stopAt)
                        {
                            BenchRequest next;
                            lock (source)
                            {
                                if (!source.MoveNext())
                                {
                                    return;
                                }

                                next = source.Current;
                            }

                            await Issue(next).ConfigureAwait(false);
                        }
                    },
                    CancellationToken.None);
            }

            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        else
        {
            var inFlight = new List<Task>();
            while (!cancellationToken.IsCancellationRequested && source.MoveNext())
            {
                BenchRequest request = source.Current;
                double at = request.Arrival.TotalSeconds;
                if (at >= stopAt)
                {
                    break;
                }

                double wait = at - Now();
                if (wait > 0.0005)
                {
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(wait), _time, cancellationToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }

                inFlight.Add(Issue(request));
                if (inFlight.Count >= 1024)
                {
                    inFlight.RemoveAll(static t => t.IsCompleted);
                }
            }

            await Task.WhenAll(inFlight).ConfigureAwait(false);
        }

        Debug.Assert(results.Count == completed, "every issued request reports once");
        results.Sort(static (a, b) => a.Index.CompareTo(b.Index));
        return results;
    }
}
