using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Serialization;
using System.Threading.Channels;

namespace Dynamo.Bench.Proxy;

/// <summary>
/// An open-loop load generator: requests are due on a fixed schedule (request i at start + i / rate) whatever the
/// target's answers, and each latency is measured from the request's due time, not from when it was written. A
/// response that comes late therefore counts against every request due behind it (no coordinated omission, as in
/// wrk2), where a closed-loop tool such as wrk simply sends less while the target stalls.
/// </summary>
/// <remarks>
/// It shares two cores with the proxies it measures, so it is kept cheap: a fixed set of keep-alive HTTP/1.1
/// connections on raw sockets, one pre-encoded request (no HttpClient, no per-request header or body building), a
/// response parser that only finds the status code and the end of the body (Content-Length or chunked), and the
/// latencies in one preallocated array. Due requests go through one queue that any idle connection takes from, so a
/// request waits only while every connection is busy, and that wait is part of its latency.
/// </remarks>
internal static class OpenLoopLoad
{
    /// <summary>
    /// Sends <paramref name="request"/> (a complete HTTP/1.1 request with a body) to <paramref name="target"/> at
    /// <paramref name="rate"/> requests/s for <paramref name="duration"/> over <paramref name="connections"/>
    /// connections. Throws <see cref="BenchFailure"/> on a non-2xx answer, a closed connection or a malformed response.
    /// </summary>
    public static async Task<OpenLoopResult> RunAsync(IPEndPoint target, byte[] request, double rate, TimeSpan duration, int connections, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(connections);
        var total = (int)Math.Max(1, Math.Round(rate * duration.TotalSeconds));
        var latencies = new long[total];
        var completed = 0;
        var due = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = false });
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        var open = new List<Connection>(connections);
        try
        {
            for (var i = 0; i < connections; i++)
            {
                open.Add(await Connection.OpenAsync(target, cancellationToken));
            }

            var senders = open.Select(connection => Task.Run(async () =>
            {
                try
                {
                    await foreach (var dueAt in due.Reader.ReadAllAsync(failed.Token))
                    {
                        await connection.ExchangeAsync(request, failed.Token);
                        latencies[Interlocked.Increment(ref completed) - 1] = Stopwatch.GetTimestamp() - dueAt;
                    }
                }
                catch (Exception) when (!failed.IsCancellationRequested)
                {
                    // The first failure stops the run: every other connection and the scheduler see the cancellation.
                    await failed.CancelAsync();
                    throw;
                }
            })).ToList();

            var ticksPerRequest = Stopwatch.Frequency / rate;
            var start = Stopwatch.GetTimestamp();
            var clock = Stopwatch.StartNew();
            try
            {
                for (var next = 0; next < total;)
                {
                    // Everything due by now goes out at once; then sleep until the next one is due. The timer's
                    // granularity (about 1 ms) delays a send, and that delay is measured, the same for every target.
                    var now = Stopwatch.GetTimestamp();
                    for (; next < total && start + (long)(next * ticksPerRequest) <= now; next++)
                    {
                        due.Writer.TryWrite(start + (long)(next * ticksPerRequest));
                    }

                    if (next < total)
                    {
                        var wait = Stopwatch.GetElapsedTime(now, start + (long)(next * ticksPerRequest));
                        await Task.Delay(wait > TimeSpan.FromMilliseconds(1) ? wait : TimeSpan.FromMilliseconds(1), failed.Token);
                    }
                }
            }
            catch (OperationCanceledException) when (failed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // A sender failed; its exception is the one to report (below).
            }
            finally
            {
                due.Writer.TryComplete();
            }

            try
            {
                await Task.WhenAll(senders);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The senders cancelled by the failing one; WhenAll reports the first fault below.
            }

            if (senders.FirstOrDefault(s => s.IsFaulted)?.Exception?.InnerException is { } failure)
            {
                throw failure is BenchFailure ? failure : new BenchFailure($"{target}: {failure.Message}");
            }

            return OpenLoopResult.From(latencies.AsSpan(0, completed).ToArray(), clock.Elapsed);
        }
        finally
        {
            foreach (var connection in open)
            {
                connection.Dispose();
            }
        }
    }

    /// <summary>The HTTP/1.1 request the generator sends: <paramref name="body"/> as JSON, with the given extra headers.</summary>
    public static byte[] Request(Uri target, string path, string body, params (string Name, string Value)[] headers)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var text = new StringBuilder()
            .Append("POST ").Append(path).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(target.Authority).Append("\r\n")
            .Append("Content-Type: application/json\r\n")
            .Append("Content-Length: ").Append(bytes.Length).Append("\r\n");
        foreach (var (name, value) in headers)
        {
            text.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        return [.. Encoding.ASCII.GetBytes(text.Append("\r\n").ToString()), .. bytes];
    }

    /// <summary>One keep-alive connection: write a request, read its whole response, check it was 2xx.</summary>
    internal sealed class Connection : IDisposable
    {
        private readonly Socket _socket;
        private readonly string _target;
        private byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;

        private Connection(Socket socket, string target)
        {
            _socket = socket;
            _target = target;
        }

        public static async Task<Connection> OpenAsync(IPEndPoint target, CancellationToken cancellationToken)
        {
            var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(target, cancellationToken);
                return new Connection(socket, target.ToString());
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        public async Task ExchangeAsync(ReadOnlyMemory<byte> request, CancellationToken cancellationToken)
        {
            for (var sent = 0; sent < request.Length;)
            {
                sent += await _socket.SendAsync(request[sent..], SocketFlags.None, cancellationToken);
            }

            var headerEnd = await FillUntilAsync(static (b, s, e) => b.AsSpan(s, e - s).IndexOf("\r\n\r\n"u8), cancellationToken);
            ReadOnlySpan<byte> head = _buffer.AsSpan(_start, headerEnd);
            // "HTTP/1.1 200 OK": the status code is bytes 9-11.
            if (head.Length < 12 || !head.StartsWith("HTTP/1."u8) || !Utf8Parser.TryParse(head.Slice(9, 3), out int status, out _))
            {
                throw new BenchFailure($"{_target}: not an HTTP/1.x response: '{Encoding.ASCII.GetString(head[..Math.Min(head.Length, 80)])}'");
            }

            var contentLength = -1L;
            var chunked = false;
            var close = false;
            foreach (var range in head.Split("\r\n"u8))
            {
                var line = head[range];
                var colon = line.IndexOf((byte)':');
                if (colon <= 0)
                {
                    continue;
                }

                var name = line[..colon];
                var value = line[(colon + 1)..].Trim((byte)' ');
                if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
                {
                    Utf8Parser.TryParse(value, out contentLength, out _);
                }
                else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
                {
                    chunked = Ascii.EqualsIgnoreCase(value, "chunked"u8);
                }
                else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
                {
                    close = Ascii.EqualsIgnoreCase(value, "close"u8);
                }
            }

            _start += headerEnd + 4;
            var failure = status is < 200 or > 299
                ? $"{_target} answered {status}: {Encoding.ASCII.GetString(head)}\r\n\r\n{Encoding.UTF8.GetString(_buffer, _start, Math.Min(_end - _start, 500))}"
                : null;
            if (chunked)
            {
                await SkipChunkedAsync(cancellationToken);
            }
            else if (contentLength >= 0)
            {
                await SkipAsync(contentLength, cancellationToken);
            }
            else
            {
                throw new BenchFailure($"{_target}: a response with neither Content-Length nor chunked encoding (status {status}).");
            }

            if (failure is not null)
            {
                throw new BenchFailure(failure);
            }

            if (close)
            {
                throw new BenchFailure($"{_target} closed the keep-alive connection (Connection: close) after a {status}.");
            }
        }

        private async Task SkipChunkedAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var lineEnd = await FillUntilAsync(static (b, s, e) => b.AsSpan(s, e - s).IndexOf("\r\n"u8), cancellationToken);
                var sizeText = _buffer.AsSpan(_start, lineEnd);
                var extension = sizeText.IndexOf((byte)';');
                if (!Utf8Parser.TryParse(extension < 0 ? sizeText : sizeText[..extension], out long size, out _, 'x'))
                {
                    throw new BenchFailure($"{_target}: bad chunk size '{Encoding.ASCII.GetString(sizeText)}'.");
                }

                _start += lineEnd + 2;
                if (size == 0)
                {
                    // Trailers (none expected), then the empty line that ends the message.
                    while (true)
                    {
                        var trailerEnd = await FillUntilAsync(static (b, s, e) => b.AsSpan(s, e - s).IndexOf("\r\n"u8), cancellationToken);
                        _start += trailerEnd + 2;
                        if (trailerEnd == 0)
                        {
                            return;
                        }
                    }
                }

                await SkipAsync(size + 2, cancellationToken);
            }
        }

        private async Task SkipAsync(long count, CancellationToken cancellationToken)
        {
            while (true)
            {
                var available = _end - _start;
                if (available >= count)
                {
                    _start += (int)count;
                    return;
                }

                count -= available;
                _start = _end = 0;
                await ReadMoreAsync(cancellationToken);
            }
        }

        /// <summary>Reads until <paramref name="find"/> finds its delimiter in the unread bytes; returns its offset from the start.</summary>
        private async Task<int> FillUntilAsync(Func<byte[], int, int, int> find, CancellationToken cancellationToken)
        {
            while (true)
            {
                var at = find(_buffer, _start, _end);
                if (at >= 0)
                {
                    return at;
                }

                await ReadMoreAsync(cancellationToken);
            }
        }

        private async Task ReadMoreAsync(CancellationToken cancellationToken)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                throw new BenchFailure($"{_target} closed the connection in the middle of a response.");
            }

            _end += read;
        }

        public void Dispose() => _socket.Dispose();
    }
}

/// <summary>One open-loop run (or several pooled): achieved rate, and latency from each request's due time.</summary>
internal sealed record OpenLoopResult(double RequestsPerSecond, int Requests, double Seconds, double P50Ms, double P99Ms, double MaxMs)
{
    /// <summary>
    /// CPU time the measured processes (this one: generator, gateway and worker; and nginx's) spent during the run, as
    /// the caller measured it; per request, less the direct-to-worker run's, it is what a proxy path costs in CPU,
    /// a figure the box's other load disturbs far less than latency or throughput.
    /// </summary>
    public double CpuSeconds { get; init; }

    /// <summary><see cref="CpuSeconds"/> per request, in µs.</summary>
    public double CpuMicrosecondsPerRequest => Requests == 0 ? 0 : CpuSeconds * 1e6 / Requests;

    /// <summary>The latencies in <see cref="Stopwatch"/> ticks, sorted; kept to pool rounds, not reported.</summary>
    [JsonIgnore]
    public long[] Latencies { get; private init; } = [];

    public static OpenLoopResult From(long[] latencies, TimeSpan elapsed)
    {
        Array.Sort(latencies);
        return new OpenLoopResult(
            RequestsPerSecond: latencies.Length / elapsed.TotalSeconds,
            Requests: latencies.Length,
            Seconds: elapsed.TotalSeconds,
            P50Ms: Percentile(latencies, 0.50),
            P99Ms: Percentile(latencies, 0.99),
            MaxMs: latencies.Length == 0 ? 0 : Milliseconds(latencies[^1])) { Latencies = latencies };
    }

    /// <summary>The rounds' latencies as one sample (percentiles of all requests, not a median of per-round percentiles).</summary>
    public static OpenLoopResult Pool(IReadOnlyList<OpenLoopResult> rounds) =>
        From([.. rounds.SelectMany(r => r.Latencies)], TimeSpan.FromSeconds(rounds.Sum(r => r.Seconds))) with { CpuSeconds = rounds.Sum(r => r.CpuSeconds) };

    /// <summary>Nearest-rank percentile of sorted latencies, in ms.</summary>
    internal static double Percentile(long[] sorted, double quantile) =>
        sorted.Length == 0 ? 0 : Milliseconds(sorted[Math.Clamp((int)Math.Ceiling(quantile * sorted.Length) - 1, 0, sorted.Length - 1)]);

    private static double Milliseconds(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
