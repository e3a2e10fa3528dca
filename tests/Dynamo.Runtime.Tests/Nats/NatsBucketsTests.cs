using System.Reflection;
using Dynamo.Runtime.Nats;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Dynamo.Runtime.Tests.Nats;

/// <summary>
/// Bucket setup against a JetStream that does not answer in time: a few unanswered API requests are asked again,
/// a server that never answers is reported by name. (A busy nats-server once made a worker exit at start-up over
/// one unanswered request.)
/// </summary>
public class NatsBucketsTests
{
    private static readonly NatsOptions Options = new() { Url = "nats://127.0.0.1:4222", Namespace = "t" };

    [Fact]
    public async Task UnansweredApiRequests_AreAskedAgain_ThenTheBucketIsReturned()
    {
        var kv = SilentKv.Create(unanswered: NatsBuckets.ApiAttempts - 1, out var fake);

        var store = await NatsBuckets.EnsureAsync(kv, "b", Options, TimeSpan.Zero, CancellationToken.None);

        Assert.Same(fake.Store, store);
        Assert.Equal(NatsBuckets.ApiAttempts, fake.Calls);
    }

    [Fact]
    public async Task AServerThatNeverAnswers_IsReportedWithTheBucketAndTheAttempts()
    {
        var kv = SilentKv.Create(unanswered: int.MaxValue, out var fake);

        var ex = await Assert.ThrowsAsync<NatsException>(() => NatsBuckets.EnsureAsync(kv, "b", Options, TimeSpan.Zero, CancellationToken.None).AsTask());

        Assert.Contains("did not answer JetStream requests for bucket b", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"{NatsBuckets.ApiAttempts} attempts", ex.Message, StringComparison.Ordinal);
        Assert.Equal(NatsBuckets.ApiAttempts, fake.Calls);
    }

    /// <summary>A KV context whose GetStoreAsync goes unanswered a given number of times, then finds the bucket.</summary>
    public class SilentKv : DispatchProxy
    {
        private int _unanswered;

        public int Calls { get; private set; }

        public INatsKVStore Store { get; } = DispatchProxy.Create<INatsKVStore, Unused>();

        public static INatsKVContext Create(int unanswered, out SilentKv fake)
        {
            var proxy = DispatchProxy.Create<INatsKVContext, SilentKv>();
            fake = (SilentKv)(object)proxy;
            fake._unanswered = unanswered;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod?.Name != nameof(INatsKVContext.GetStoreAsync))
            {
                throw new NotSupportedException(targetMethod?.Name);
            }

            Calls++;
            return Calls <= _unanswered
                ? ValueTask.FromException<INatsKVStore>(new NatsJSApiNoResponseException())
                : ValueTask.FromResult(Store);
        }
    }

    public class Unused : DispatchProxy
    {
        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => throw new NotSupportedException(targetMethod?.Name);
    }
}
