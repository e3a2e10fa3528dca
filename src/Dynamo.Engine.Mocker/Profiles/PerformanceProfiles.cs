namespace Dynamo.Engine.Mocker.Profiles;

/// <summary>
/// Named profiles: roofline presets for H100 and H200 with Llama-3.1 8B (one GPU a worker) and 70B (tensor
/// parallel: 4 H100s or 2 H200s a worker, the fewest that hold the weights with room for KV), the mocker's own
/// defaults, and measured tables (<c>fit:FILE</c>, see <see cref="ProfileFitter"/>).
/// </summary>
public static class PerformanceProfiles
{
    public static IReadOnlyList<string> Names { get; } = ["h100-8b", "h200-8b", "h100-70b", "h200-70b", "mocker-default"];

    /// <exception cref="ArgumentException">Unknown name (the message lists the known ones), or an unreadable table.</exception>
    public static PerformanceProfile Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = name.Trim().ToLowerInvariant();
        if (key.StartsWith("fit:", StringComparison.Ordinal))
        {
            return ProfileFitter.FitFile(name.Trim()[4..]);
        }

        return key switch
        {
            "h100-8b" => RooflineProfile.Build(HardwareSpec.H100, ModelSpec.Llama8B, 1, name: "h100-8b"),
            "h200-8b" => RooflineProfile.Build(HardwareSpec.H200, ModelSpec.Llama8B, 1, name: "h200-8b"),
            "h100-70b" => RooflineProfile.Build(HardwareSpec.H100, ModelSpec.Llama70B, 4, name: "h100-70b"),
            "h200-70b" => RooflineProfile.Build(HardwareSpec.H200, ModelSpec.Llama70B, 2, name: "h200-70b"),
            "mocker-default" => MockerDefault(),
            _ => throw new ArgumentException($"Unknown profile '{name}': expected {string.Join(", ", Names)} or fit:FILE (a measured table)."),
        };
    }

    /// <summary>What <c>serve --engine mocker</c> runs with no settings: the defaults of <see cref="MockerOptions"/>.</summary>
    public static PerformanceProfile MockerDefault()
    {
        var defaults = new MockerOptions();
        return new PerformanceProfile
        {
            Name = "mocker-default",
            Description = "MockerOptions defaults (serve --engine mocker)",
            Performance = defaults.Performance,
            BlockSize = defaults.BlockSize,
            TotalKvBlocks = defaults.TotalKvBlocks,
            MaxNumSeqs = defaults.MaxNumSeqs,
            MaxNumBatchedTokens = defaults.MaxNumBatchedTokens,
            MaxContextLength = defaults.MaxContextLength,
        };
    }
}
