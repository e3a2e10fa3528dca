using System.Runtime.CompilerServices;
using Dynamo.Runtime.Events;

namespace Dynamo.Bench.Replay;

/// <summary>
/// An event plane that delivers nothing. The simulation hands KV events to the router's indexer itself, on its
/// one thread, so the index is exactly as current as the simulated workers and the run stays deterministic;
/// this plane only makes the KV router build its event-fed indexer instead of approximate mode.
/// </summary>
internal sealed class SilentEventPlane : IEventPlane
{
    public ValueTask PublishAsync<T>(string subject, T message, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public async IAsyncEnumerable<T> SubscribeAsync<T>(string subject, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        yield break;
    }

    public async IAsyncEnumerable<EventMessage<T>> SubscribeMessagesAsync<T>(string subject, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        yield break;
    }
}
