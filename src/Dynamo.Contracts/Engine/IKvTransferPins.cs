namespace Dynamo.Contracts.Engine;

/// <summary>
/// A prefill engine's pins for remote decodes: what they hold, what was declined or refused, and a way to give a
/// request's pins up as soon as nobody will read them (its client went away, the decode failed). The worker exports
/// the figures as metrics and calls <see cref="ReleasePins"/> for the gateway.
/// </summary>
public interface IKvTransferPins
{
    /// <summary>KV blocks held for decode workers right now.</summary>
    int PinnedBlocks { get; }

    /// <summary>Prefills that returned no transfer because pins held their share of the pool already.</summary>
    long DeclinedPins { get; }

    /// <summary>Peer reads and connections this engine's transfer agent refused for want of authorization.</summary>
    long RefusedTransferReads { get; }

    /// <summary>Releases the pins of the engine request <paramref name="requestId"/> (none: nothing). Any thread; returns at once, the pins go at the engine's next step.</summary>
    void ReleasePins(string requestId);
}
