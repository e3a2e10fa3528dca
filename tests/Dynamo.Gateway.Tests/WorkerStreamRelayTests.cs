using System.IO.Pipelines;
using System.Text;
using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Forwarding;

namespace Dynamo.Gateway.Tests;

/// <summary>The relay reads the worker's SSE events however the reads and the pipe's segments cut them.</summary>
public sealed class WorkerStreamRelayTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    public async Task DoneSplitAcrossSegments_EndsTheStream(int doneBytesInFirstRead)
    {
        // A token chunk, then SSE comments up to 1,000 bytes short of the pipe's 16 KiB segment (too little room for its
        // next read, which takes a new segment), then "[DONE]" cut after doneBytesInFirstRead of its bytes.
        var head = new StringBuilder("data: {\"id\":\"cmpl-1\",\"choices\":[{\"index\":0,\"text\":\"Hi\",\"token_ids\":[42],\"finish_reason\":\"length\"}]}\n\n");
        var tail = "data: [DONE]\n\n";
        var cut = "data: ".Length + doneBytesInFirstRead;
        while (head.Length + cut < (16 * 1024) - 1000)
        {
            head.Append(": keep-alive\n");
        }

        head.Append(tail[..cut]);
        var writer = new Writer();
        var relay = new WorkerStreamRelay(writer, TimeProvider.System, TimeProvider.System.GetTimestamp());

        await relay.RelayAsync(new ReadByRead([Encoding.UTF8.GetBytes(head.ToString()), Encoding.UTF8.GetBytes(tail[cut..])]), CancellationToken.None);

        Assert.True(relay.Completed);
        Assert.Equal(1, relay.GeneratedTokens);
        Assert.Equal(1, writer.Choices);
    }

    /// <summary>Returns each of its parts as one read, then the end of the stream.</summary>
    private sealed class ReadByRead(byte[][] parts) : Stream
    {
        private int _next;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_next == parts.Length)
            {
                return 0;
            }

            var part = parts[_next++];
            Assert.True(part.Length <= buffer.Length, $"a read of {buffer.Length} bytes for a part of {part.Length}");
            part.CopyTo(buffer);
            return part.Length;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Counts the choices it is handed.</summary>
    private sealed class Writer : IClientWriter
    {
        public int Choices { get; private set; }

        public bool HasStarted { get; private set; }

        public bool DecodesText => false;

        public ValueTask StartAsync(CancellationToken cancellationToken)
        {
            HasStarted = true;
            return ValueTask.CompletedTask;
        }

        public void OnChoice(WorkerChunk chunk) => Choices++;

        public ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken) => ValueTask.FromResult(default(FlushResult));

        public ValueTask CompleteAsync(Usage usage, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask<bool> TryFailAsync(OpenAiException error, CancellationToken cancellationToken) => ValueTask.FromResult(false);

        public void Dispose()
        {
        }
    }
}
