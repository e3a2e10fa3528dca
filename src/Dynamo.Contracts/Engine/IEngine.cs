namespace Dynamo.Contracts.Engine;

/// <summary>
/// What a worker hosts: the real .NET transformer engine or the mocker. Both schedule many sequences
/// in one continuous batch; each call to <see cref="GenerateAsync"/> is one sequence.
/// </summary>
public interface IEngine : IAsyncDisposable
{
    EngineInfo Info { get; }

    /// <summary>
    /// Queues the sequence and yields its tokens as the batch produces them. Cancelling the token (or
    /// abandoning the enumeration) removes the sequence from the batch and frees its KV blocks.
    /// </summary>
    IAsyncEnumerable<EngineOutput> GenerateAsync(EngineRequest request, CancellationToken cancellationToken = default);

    EngineLoad GetLoad();
}
