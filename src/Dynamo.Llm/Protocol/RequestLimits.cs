namespace Dynamo.Llm.Protocol;

/// <summary>
/// Bounds applied while parsing an OpenAI request body, shared by the gateway and the workers. The defaults are
/// OpenAI's where OpenAI has one; the rest are picked to reject hostile bodies long before they cost memory.
/// </summary>
public sealed record RequestLimits
{
    /// <summary>The defaults below.</summary>
    public static RequestLimits Default { get; } = new();

    /// <summary>Chat's <c>top_logprobs</c> at most (OpenAI's limit), and the most any request may ask for.</summary>
    public const int MaxTopLogprobs = 20;

    /// <summary>
    /// Largest <c>nvext.expected_output_tokens</c> when <see cref="MaxTokensCap"/> is not set (it is the bound when
    /// set); the gateway also refuses a value the model's context leaves no room for.
    /// </summary>
    public const int MaxExpectedOutputTokens = 1 << 20;

    /// <summary>Deepest JSON nesting accepted. Default 32: real requests nest at most 4-5 deep.</summary>
    public int MaxJsonDepth { get; init; } = 32;

    /// <summary>Largest <c>n</c> (choices per prompt). Default 16.</summary>
    public int MaxN { get; init; } = 16;

    /// <summary>Largest <c>max_tokens</c> accepted; null (the default) means only the model's context bounds it.</summary>
    public int? MaxTokensCap { get; init; }

    /// <summary>Most stop strings in <c>stop</c>. Default 4, as OpenAI.</summary>
    public int MaxStopSequences { get; init; } = 4;

    /// <summary>
    /// Completions' <c>logprobs</c> at most (OpenAI's limit, 5). Workers take up to 20: the gateway sends a chat
    /// request's <c>top_logprobs</c> (0..20) through the completions contract.
    /// </summary>
    public int MaxCompletionLogprobs { get; init; } = 5;

    /// <summary>
    /// Completions read vLLM's <c>prompt_logprobs</c> (0..<see cref="MaxCompletionLogprobs"/>) instead of refusing it:
    /// the worker contract's field, which workers accept and the gateway refuses (its clients ask with <c>echo</c> and
    /// <c>logprobs</c>). Default false.
    /// </summary>
    public bool AcceptPromptLogprobs { get; init; }

    /// <summary>Most prompts in one completions request (OpenAI's prompt batch). Default 128.</summary>
    public int MaxPrompts { get; init; } = 128;

    /// <summary>
    /// Size of the model's vocabulary: token ids in <c>prompt</c> and <c>stop_token_ids</c> must be below it.
    /// Null (the default) checks only that ids are not negative.
    /// </summary>
    public int? VocabSize { get; init; }

    /// <summary>
    /// Most characters of prompt text in one request (text prompts, or message contents, together), checked before
    /// the chat template and the tokenizer; over it, 400 (<see cref="RequestSize.CheckPromptChars"/>). Default 524,288
    /// (512 Ki), as the gateway's <c>MaxPromptChars</c>.
    /// </summary>
    public int MaxPromptChars { get; init; } = 512 * 1024;

    /// <summary>Largest request body in bytes; hosts answer 413 above it. Default 8 MiB.</summary>
    public long MaxBodyBytes { get; init; } = 8L * 1024 * 1024;

    /// <summary>Every invalid setting as a message naming the key (under <paramref name="section"/>) and its value.</summary>
    public IReadOnlyList<string> Validate(string section = "RequestLimits")
    {
        var errors = new List<string>();
        if (MaxJsonDepth is < 4 or > 1024)
        {
            errors.Add($"{section}:MaxJsonDepth must be between 4 and 1024, got {MaxJsonDepth}.");
        }

        if (MaxN < 1)
        {
            errors.Add($"{section}:MaxN must be at least 1, got {MaxN}.");
        }

        if (MaxTokensCap is < 1)
        {
            errors.Add($"{section}:MaxTokensCap must be at least 1 when set, got {MaxTokensCap}.");
        }

        if (MaxStopSequences < 0)
        {
            errors.Add($"{section}:MaxStopSequences must not be negative, got {MaxStopSequences}.");
        }

        if (MaxCompletionLogprobs is < 0 or > MaxTopLogprobs)
        {
            errors.Add($"{section}:MaxCompletionLogprobs must be between 0 and {MaxTopLogprobs}, got {MaxCompletionLogprobs}.");
        }

        if (MaxPrompts < 1)
        {
            errors.Add($"{section}:MaxPrompts must be at least 1, got {MaxPrompts}.");
        }

        if (VocabSize is < 1)
        {
            errors.Add($"{section}:VocabSize must be at least 1 when set, got {VocabSize}.");
        }

        if (MaxPromptChars < 1)
        {
            errors.Add($"{section}:MaxPromptChars must be at least 1, got {MaxPromptChars}.");
        }

        if (MaxBodyBytes < 1)
        {
            errors.Add($"{section}:MaxBodyBytes must be at least 1, got {MaxBodyBytes}.");
        }

        return errors;
    }
}
