namespace Dynamo.Engine.Mocker.Profiles;

/// <summary>
/// Named profiles: roofline presets for H100 and H200 with Llama-3.1 8B (one GPU a worker) and 70B (tensor
/// parallel: 4 H100s or 2 H200s a worker in BF16, 2 H100s or 1 H200 in FP8: the fewest that hold the weights with
/// room for KV), in BF16 and FP8 (<c>-fp8</c>: FP8 weights and matmuls, BF16 KV), the mocker's own defaults, and
/// measured tables (<c>fit:FILE</c>, see <see cref="ProfileFitter"/>). A roofline preset can be built at another
/// tensor-parallel degree (<see cref="Get(string, int?)"/>), which is how replay and sweep size each role's workers.
/// </summary>
public static class PerformanceProfiles
{
    private static readonly (string Name, HardwareSpec Hardware, ModelSpec Model, int Tp)[] Presets =
    [
        ("h100-8b", HardwareSpec.H100, ModelSpec.Llama8B, 1),
        ("h200-8b", HardwareSpec.H200, ModelSpec.Llama8B, 1),
        ("h100-70b", HardwareSpec.H100, ModelSpec.Llama70B, 4),
        ("h200-70b", HardwareSpec.H200, ModelSpec.Llama70B, 2),
        ("h100-8b-fp8", HardwareSpec.H100, ModelSpec.Llama8B.Fp8(), 1),
        ("h200-8b-fp8", HardwareSpec.H200, ModelSpec.Llama8B.Fp8(), 1),
        ("h100-70b-fp8", HardwareSpec.H100, ModelSpec.Llama70B.Fp8(), 2),
        ("h200-70b-fp8", HardwareSpec.H200, ModelSpec.Llama70B.Fp8(), 1),
    ];

    public static IReadOnlyList<string> Names { get; } = [.. Presets.Select(p => p.Name), "mocker-default"];

    /// <exception cref="ArgumentException">Unknown name (the message lists the known ones), or an unreadable table.</exception>
    public static PerformanceProfile Get(string name) => Get(name, tensorParallel: null);

    /// <summary>
    /// The profile <paramref name="name"/>; a roofline preset at <paramref name="tensorParallel"/> GPUs a worker when
    /// given (its name then ends in <c>-tpN</c> unless N is the preset's own degree).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown name, an unreadable table, a degree given for a profile that is not a
    /// roofline preset, or a degree the model cannot run at (the message names the value and the fix).</exception>
    public static PerformanceProfile Get(string name, int? tensorParallel)
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = name.Trim().ToLowerInvariant();
        bool roofline = Array.FindIndex(Presets, p => p.Name == key) is int found && found >= 0;
        if (tensorParallel is { } degree && !roofline)
        {
            throw new ArgumentException($"a tensor-parallel degree ({degree}) applies to the roofline presets ({string.Join(", ", Presets.Select(p => p.Name))}), not to '{name}': a measured table or the mocker's defaults time one worker as it was; drop the degree or pick a preset.");
        }

        if (key.StartsWith("fit:", StringComparison.Ordinal))
        {
            return ProfileFitter.FitFile(name.Trim()[4..]);
        }

        if (key == "mocker-default")
        {
            return MockerDefault();
        }

        if (!roofline)
        {
            throw new ArgumentException($"Unknown profile '{name}': expected {string.Join(", ", Names)} or fit:FILE (a measured table).");
        }

        var preset = Presets[found];
        int t = tensorParallel ?? preset.Tp;
        return RooflineProfile.Build(preset.Hardware, preset.Model, t, name: t == preset.Tp ? preset.Name : $"{preset.Name}-tp{t}");
    }

    /// <summary>Whether <paramref name="name"/> is a roofline preset (one that <see cref="Get(string, int?)"/> builds at any degree).</summary>
    public static bool IsRoofline(string name) => Array.Exists(Presets, p => p.Name == name.Trim().ToLowerInvariant());

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
