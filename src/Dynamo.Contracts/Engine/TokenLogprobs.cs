namespace Dynamo.Contracts.Engine;

/// <summary>One token and its log-probability (natural log).</summary>
public readonly record struct TokenLogprob(int TokenId, float Logprob);

/// <summary>
/// The log-probabilities of one generated token: the chosen token's own (<see cref="Logprob"/>) and the most likely
/// tokens of the same distribution (<see cref="Top"/>, most likely first; it may or may not contain the chosen token).
/// The distribution is the one the token was drawn from, after penalties, structured-output masks, temperature and
/// top-k/top-p truncation (see the README's field table).
/// </summary>
public sealed record TokenLogprobs(float Logprob, TokenLogprob[] Top)
{
    /// <summary>No alternatives: only the chosen token's log-probability.</summary>
    public static TokenLogprobs Only(float logprob) => new(logprob, []);
}
