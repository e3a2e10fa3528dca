namespace Dynamo.Cli.Configuration;

/// <summary>Options bound from <c>Dynamo:Serve</c>: the shape of the embedded cluster.</summary>
public sealed class ServeOptions
{
    public const string SectionName = "Dynamo:Serve";

    /// <summary>Engine of every worker: <c>dotnet</c> (the real transformer) or <c>mocker</c> (simulated timing). Default dotnet.</summary>
    public string Engine { get; set; } = "dotnet";

    /// <summary>A Hugging Face model folder, or a preset name (tiny, small, 100m) generated once into the cache. Default tiny.</summary>
    public string Model { get; set; } = "tiny";

    /// <summary>Name clients use in <c>"model"</c>; default: the preset or folder name.</summary>
    public string? ServedModelName { get; set; }

    /// <summary>
    /// <c>disagg</c> (a prefill pool and a decode pool; long uncached prompts are prefilled in the first and their KV
    /// moves to the second) or <c>agg</c> (each worker prefills and decodes). Default disagg.
    /// </summary>
    public string Mode { get; set; } = "disagg";

    /// <summary>Aggregated workers (<c>--mode agg</c> only). Default 2.</summary>
    public int Workers { get; set; } = 2;

    /// <summary>Prefill workers in disaggregated mode. Default 1.</summary>
    public int PrefillWorkers { get; set; } = 1;

    /// <summary>Decode workers in disaggregated mode. Default 1.</summary>
    public int DecodeWorkers { get; set; } = 1;

    /// <summary>Seed of generated preset weights. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>How long Ctrl-C waits for in-flight requests before cancelling them. Default 30 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
