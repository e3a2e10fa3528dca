namespace Dynamo.Router;

/// <summary>
/// How long a worker's engine step takes, for the predicted router cost (<c>Dynamo:Router:Timing</c>). All figures in
/// milliseconds per unit named. The defaults are the mocker's (Llama-3-8B in bf16 on one H100); the replay sets them
/// from its profile. Only ratios between them change routing among equal workers, so an order of magnitude is enough;
/// set them from <c>dynamo profile</c>'s figures for the engine you run.
/// </summary>
public sealed class RouterTiming
{
    /// <summary>Fixed cost of a step, ms (weights read once). Default 5.</summary>
    public double StepBaseMs { get; set; } = 5.0;

    /// <summary>Prefill cost per prompt token, ms. Default 0.03.</summary>
    public double PrefillPerTokenMs { get; set; } = 0.03;

    /// <summary>Attention cost per (new token × context token) of a prefill, ms. Default 1e-6.</summary>
    public double PrefillAttentionMs { get; set; } = 1e-6;

    /// <summary>Cost per running decode in a step, ms. Default 0.03.</summary>
    public double DecodePerSequenceMs { get; set; } = 0.03;

    /// <summary>Cost per context token the step's decodes attend to, ms. Default 5e-5.</summary>
    public double DecodePerKvTokenMs { get; set; } = 5e-5;

    /// <summary>Tokens one engine step takes (decodes one each, the rest prompt chunks). Default 8192.</summary>
    public int MaxBatchedTokens { get; set; } = 8192;

    internal void Validate(List<string> errors, string section)
    {
        (string Name, double Value)[] figures =
        [
            (nameof(StepBaseMs), StepBaseMs),
            (nameof(PrefillPerTokenMs), PrefillPerTokenMs),
            (nameof(PrefillAttentionMs), PrefillAttentionMs),
            (nameof(DecodePerSequenceMs), DecodePerSequenceMs),
            (nameof(DecodePerKvTokenMs), DecodePerKvTokenMs),
        ];
        foreach (var (name, value) in figures)
        {
            if (!double.IsFinite(value) || value < 0)
            {
                errors.Add($"{section}:{name} = '{value}': must be a finite number >= 0 (milliseconds).");
            }
        }

        if (PrefillPerTokenMs <= 0 && StepBaseMs <= 0)
        {
            errors.Add($"{section}:PrefillPerTokenMs = '{PrefillPerTokenMs}': it or StepBaseMs must be above 0, or every worker costs nothing.");
        }

        if (MaxBatchedTokens < 1)
        {
            errors.Add($"{section}:MaxBatchedTokens = '{MaxBatchedTokens}': must be at least 1.");
        }
    }
}
