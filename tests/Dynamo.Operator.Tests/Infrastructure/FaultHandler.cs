namespace Dynamo.Operator.Tests.Infrastructure;

/// <summary>
/// Sits in the operator's HTTP pipeline: runs a hook before chosen requests (to make the real server answer 409 by
/// changing the object first) and can hold watch requests (so the server's history moves past the watcher: 410).
/// </summary>
internal sealed class FaultHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private TaskCompletionSource _gate = Open();
    private int _heldWatches;

    /// <summary>Runs before a request it matches (once, then it is cleared).</summary>
    public Func<HttpRequestMessage, bool>? Match { get; set; }

    public Func<Task>? BeforeMatched { get; set; }

    public int HeldWatches => Volatile.Read(ref _heldWatches);

    public void HoldWatches() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ReleaseWatches() => _gate.TrySetResult();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri!.OriginalString.Contains("watch=true", StringComparison.Ordinal) && !_gate.Task.IsCompleted)
        {
            Interlocked.Increment(ref _heldWatches);
            await _gate.Task.WaitAsync(cancellationToken);
        }

        if (Match is { } match && match(request) && BeforeMatched is { } hook)
        {
            Match = null;
            await hook();
        }

        return await base.SendAsync(request, cancellationToken);
    }

    private static TaskCompletionSource Open()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }
}
