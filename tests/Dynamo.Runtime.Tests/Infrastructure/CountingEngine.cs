using System.Runtime.CompilerServices;
using Dynamo.Contracts.Engine;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>An engine that counts the sequences it was given, so a test can tell which worker served what.</summary>
internal sealed class CountingEngine(IEngine inner) : IEngine
{
    private int _requests;

    public int Requests => Volatile.Read(ref _requests);

    public EngineInfo Info => inner.Info;

    public EngineLoad GetLoad() => inner.GetLoad();

    public async IAsyncEnumerable<EngineOutput> GenerateAsync(EngineRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _requests);
        await foreach (var output in inner.GenerateAsync(request, cancellationToken))
        {
            yield return output;
        }
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
