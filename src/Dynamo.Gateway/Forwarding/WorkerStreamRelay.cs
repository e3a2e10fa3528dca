using System.Buffers;
using System.IO.Pipelines;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// Reads a worker's SSE stream event by event and hands each chunk to the client writer, watching the tokens
/// go by for time to first token, inter-token latency and usage.
/// </summary>
internal sealed class WorkerStreamRelay
{
    private readonly IClientWriter _writer;
    private readonly TimeProvider _time;
    private readonly WorkerChunk _chunk = new();

    private long _lastTokenAt;
    private bool _sawUsage;
    private bool _firstOfAttempt;

    public WorkerStreamRelay(IClientWriter writer, TimeProvider time, long startTimestamp)
    {
        _writer = writer;
        _time = time;
        StartTimestamp = startTimestamp;
    }

    /// <summary>A new worker takes over the stream: its first token fires <see cref="FirstToken"/> again.</summary>
    public void BeginAttempt(Action onFirstToken)
    {
        FirstToken = onFirstToken;
        _firstOfAttempt = false;
    }

    /// <summary>Called at the first token of each attempt (the router then stops counting the prompt as prefill load).</summary>
    private Action? FirstToken { get; set; }

    public long StartTimestamp { get; }

    public TimeSpan? TimeToFirstToken { get; private set; }

    /// <summary>Seconds between successive token-bearing chunks, divided by the tokens each brought.</summary>
    public List<double> InterTokenSeconds { get; } = [];

    public int GeneratedTokens { get; private set; }

    /// <summary>Token ids streamed so far, in order (all choices interleaved); what a migrated request continues from.</summary>
    public List<int> GeneratedIds { get; } = [];

    /// <summary>Prompt tokens the first worker found in its cache.</summary>
    public int CachedTokens { get; private set; }

    /// <summary>Whether the worker's stream ended with [DONE].</summary>
    public bool Completed { get; private set; }

    public async Task RelayAsync(Stream workerStream, CancellationToken cancellationToken)
    {
        var reader = PipeReader.Create(workerStream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        var done = false;
        var pending = false;
        try
        {
            if (!_writer.HasStarted)
            {
                await _writer.StartAsync(cancellationToken);
            }

            while (!done)
            {
                var result = await reader.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                while (!done && TryReadData(ref buffer, out var payload))
                {
                    if (IsDone(payload))
                    {
                        done = true;
                        break;
                    }

                    _chunk.Parse(payload, decodeText: _writer.DecodesText);
                    if (_chunk.Error is not null)
                    {
                        throw new WorkerStreamException($"The worker failed mid-stream: {_chunk.Error}");
                    }

                    if (_chunk.HasUsage && !_sawUsage)
                    {
                        _sawUsage = true;
                        CachedTokens = _chunk.CachedTokens;
                    }

                    if (!_chunk.HasChoice)
                    {
                        continue;
                    }

                    var tokens = _chunk.TokenIds.Count;
                    if (tokens > 0)
                    {
                        var now = _time.GetTimestamp();
                        if (GeneratedTokens == 0)
                        {
                            TimeToFirstToken = _time.GetElapsedTime(StartTimestamp, now);
                        }
                        else
                        {
                            var perToken = _time.GetElapsedTime(_lastTokenAt, now).TotalSeconds / tokens;
                            for (var i = 0; i < tokens; i++)
                            {
                                InterTokenSeconds.Add(perToken);
                            }
                        }

                        if (!_firstOfAttempt)
                        {
                            _firstOfAttempt = true;
                            FirstToken?.Invoke();
                        }

                        _lastTokenAt = now;
                        GeneratedTokens += tokens;
                        GeneratedIds.AddRange(_chunk.TokenIds);
                    }

                    _writer.OnChoice(_chunk);
                    pending = true;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                if (pending && !done)
                {
                    pending = false;
                    await _writer.FlushAsync(cancellationToken);
                }

                if (result.IsCompleted && !done)
                {
                    throw new WorkerStreamException("The worker closed its stream before [DONE].");
                }
            }

            Completed = true;
        }
        finally
        {
            await reader.CompleteAsync();
        }
    }

    /// <summary>Takes the next complete SSE event off <paramref name="buffer"/> and returns its data field.</summary>
    private static bool TryReadData(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> data)
    {
        while (true)
        {
            var reader = new SequenceReader<byte>(buffer);
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
            {
                data = default;
                return false;
            }

            buffer = buffer.Slice(reader.Position);
            if (line.Length > 0 && line.Slice(line.Length - 1).FirstSpan[0] == (byte)'\r')
            {
                line = line.Slice(0, line.Length - 1);
            }

            // Blank lines end events and comment/event/id lines carry nothing the relay needs.
            if (line.Length < 5 || !StartsWithData(line))
            {
                continue;
            }

            data = line.Slice(5);
            if (data.Length > 0 && data.FirstSpan[0] == (byte)' ')
            {
                data = data.Slice(1);
            }

            return true;
        }
    }

    /// <summary>
    /// Whether the event's data is <c>[DONE]</c>, wherever the pipe's segments split it: a long stream's buffer has the
    /// last event across two segments now and then, and taken for a chunk it failed the stream (and the worker) at its end.
    /// </summary>
    private static bool IsDone(ReadOnlySequence<byte> payload)
    {
        if (payload.Length != 6)
        {
            return false;
        }

        Span<byte> data = stackalloc byte[6];
        payload.CopyTo(data);
        return data.SequenceEqual("[DONE]"u8);
    }

    private static bool StartsWithData(ReadOnlySequence<byte> line)
    {
        Span<byte> head = stackalloc byte[5];
        line.Slice(0, 5).CopyTo(head);
        return head.SequenceEqual("data:"u8);
    }
}

/// <summary>A worker stream that broke: connection lost, error event, or no [DONE].</summary>
internal sealed class WorkerStreamException(string message, Exception? inner = null) : Exception(message, inner);
