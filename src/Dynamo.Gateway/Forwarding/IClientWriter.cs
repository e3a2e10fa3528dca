using System.IO.Pipelines;
using Dynamo.Contracts.OpenAi;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// What the client sees of a request's worker stream, in the shape of the API it called: chat and completions
/// (<see cref="ClientResponseWriter"/>) or the Responses API (<see cref="ResponsesWriter"/>).
/// </summary>
internal interface IClientWriter : IDisposable
{
    /// <summary>Whether the response has begun (headers chosen; a stream's first bytes may be out).</summary>
    bool HasStarted { get; }

    /// <summary>Whether the writer needs each chunk's text decoded (<see cref="WorkerChunk.Text"/>) rather than its JSON literal.</summary>
    bool DecodesText { get; }

    /// <summary>Sends the headers and what a stream opens with.</summary>
    ValueTask StartAsync(CancellationToken cancellationToken);

    /// <summary>One worker chunk: new text for a choice, maybe its finish reason; buffered until <see cref="FlushAsync"/>.</summary>
    void OnChoice(WorkerChunk chunk);

    /// <summary>Sends what a stream has buffered.</summary>
    ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken);

    /// <summary>The end of a served request.</summary>
    ValueTask CompleteAsync(Usage usage, CancellationToken cancellationToken);

    /// <summary>Ends a started stream with <paramref name="error"/> in the API's own form; false when the caller writes the generic error event.</summary>
    ValueTask<bool> TryFailAsync(OpenAiException error, CancellationToken cancellationToken);
}
