namespace Dynamo.Contracts.Engine;

/// <summary>
/// Restricts which tokens a sequence may produce (structured outputs: JSON mode, a JSON schema, a tool call's
/// arguments). Stateful, one instance per sequence, used by the engine loop's thread only: before each sampling
/// the engine asks for <see cref="FillAllowed"/> and masks every other token out, and after each token (sampled
/// here or by a remote prefill) it calls <see cref="TryAccept"/>. <see cref="IsComplete"/> tells the engine to end
/// the sequence (finish reason stop) because nothing may follow. Tokens already generated elsewhere (a migrated
/// request) are replayed through <see cref="TryAccept"/> before the engine sees the constraint.
/// </summary>
public interface ITokenConstraint
{
    /// <summary>Size of the vocabulary the constraint knows; ids at or above it are never allowed.</summary>
    int VocabSize { get; }

    /// <summary>True once the output is complete and no further token may follow.</summary>
    bool IsComplete { get; }

    /// <summary>
    /// Sets bit <c>t % 64</c> of word <c>t / 64</c> of <paramref name="allowed"/> for every token <c>t</c> that may come
    /// next (the end-of-sequence tokens only where the output may end there) and clears every other bit.
    /// </summary>
    /// <returns>False when no token is allowed (a vocabulary that cannot spell what must come next).</returns>
    bool FillAllowed(Span<ulong> allowed);

    /// <summary>
    /// <see cref="FillAllowed"/> less the tokens that only extend free string text: what closes a string, structure,
    /// literals. A simulator (the mocker) draws from it part of the time so that its random values end soon, as a
    /// trained model's do. False when that leaves nothing.
    /// </summary>
    bool FillAllowedExceptFreeText(Span<ulong> allowed);

    /// <summary>Advances past <paramref name="token"/>; false, leaving the state as it was, when the token is not allowed.</summary>
    bool TryAccept(int token);
}
