using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Security;
using Dynamo.Runtime.Tests.Contract;
using Dynamo.Runtime.Tests.Infrastructure;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;
using NATS.Net;

namespace Dynamo.Runtime.Tests.Nats;

/// <summary>
/// Events and transfer metadata on a real nats-server: what a client without the cluster secret publishes (unsigned,
/// or signed with another secret) is dropped and counted; what members publish goes through.
/// </summary>
public sealed class SignedNatsDataTests(NatsServerFixture nats, ITestOutputHelper output) : IClassFixture<NatsServerFixture>
{
    private sealed record Note(string Text);

    [Fact]
    public async Task ForgedEvents_AreDropped_GenuineOnesArrive()
    {
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output));
        var subscriber = await backend.NewRuntimeAsync();
        var publisher = await backend.NewRuntimeAsync();
        await using var attacker = new NatsConnection(new NatsOpts { Url = nats.Server.Url });
        var received = new List<string>();
        using var stop = new CancellationTokenSource();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = Task.Run(async () =>
        {
            var messages = subscriber.Events.SubscribeAsync<Note>("test.notes", stop.Token).GetAsyncEnumerator(stop.Token);
            var first = messages.MoveNextAsync();
            ready.TrySetResult();
            try
            {
                for (var more = await first; more; more = await messages.MoveNextAsync())
                {
                    lock (received)
                    {
                        received.Add(messages.Current.Text);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                await messages.DisposeAsync();
            }
        });
        await ready.Task;
        await subscriber.Connection.PingAsync();

        // The subscription is live once a member's message arrives.
        var subject = $"{backend.Namespace}.test.notes";
        await Wait.UntilAsync(
            async () =>
            {
                await publisher.Events.PublishAsync("test.notes", new Note("hello"));
                lock (received)
                {
                    return received.Count > 0;
                }
            },
            () => "the subscription to deliver a member's message");
        var before = subscriber.Rejections.Count(SignatureRejections.Event);

        await attacker.PublishAsync(subject, """{"text":"unsigned"}"""u8.ToArray(), serializer: NatsRawSerializer<byte[]>.Default);
        var forged = """{"text":"wrong secret"}"""u8.ToArray();
        var headers = new NatsHeaders { [NatsEventPlane.SignatureHeader] = System.Buffers.Text.Base64Url.EncodeToString(ClusterSecret.Generate().Sign("event", subject, forged)) };
        await attacker.PublishAsync(subject, forged, headers, serializer: NatsRawSerializer<byte[]>.Default);
        await publisher.Events.PublishAsync("test.notes", new Note("member"));

        await Wait.UntilAsync(
            () =>
            {
                lock (received)
                {
                    return received.Contains("member");
                }
            },
            "the member's message");
        await Wait.UntilAsync(() => subscriber.Rejections.Count(SignatureRejections.Event) - before >= 2, "both forged messages to be rejected");
        await stop.CancelAsync();
        await reading;
        lock (received)
        {
            Assert.DoesNotContain("unsigned", received);
            Assert.DoesNotContain("wrong secret", received);
        }

        Assert.Contains((SignatureRejections.Event, SignatureRejections.Unsigned), subscriber.Rejections.Snapshot().Select(r => (r.Kind, r.Reason)));
        Assert.Contains((SignatureRejections.Event, SignatureRejections.BadSignature), subscriber.Rejections.Snapshot().Select(r => (r.Kind, r.Reason)));
    }

    [Fact]
    public async Task ForgedTransferMetadata_ReadsAsAbsent()
    {
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output));
        var member = await backend.NewRuntimeAsync();
        await member.Metadata.PutAsync("agent-a", "genuine"u8.ToArray());
        Assert.Equal("genuine"u8.ToArray(), await member.Metadata.GetAsync("agent-a"));
        await using var attacker = new NatsConnection(new NatsOpts { Url = nats.Server.Url });
        var bucket = await attacker.CreateKeyValueStoreContext().GetStoreAsync(backend.Options().TransferBucket());

        // Overwritten with the attacker's own agent, unsigned and then with a signature of another secret.
        await bucket.PutAsync("agent-a", "tcp://10.6.6.6:1"u8.ToArray(), NatsRawSerializer<byte[]>.Default);
        Assert.Null(await member.Metadata.GetAsync("agent-a"));
        var forged = "tcp://10.6.6.6:1"u8.ToArray();
        await bucket.PutAsync("agent-a", [.. ClusterSecret.Generate().Sign("transfer-metadata", "agent-a", forged), .. forged], NatsRawSerializer<byte[]>.Default);
        Assert.Null(await member.Metadata.GetAsync("agent-a"));

        Assert.Equal(2, member.Rejections.Count(SignatureRejections.TransferMetadata));
        await member.Metadata.PutAsync("agent-a", "genuine again"u8.ToArray());
        Assert.Equal("genuine again"u8.ToArray(), await member.Metadata.GetAsync("agent-a"));
    }
}
