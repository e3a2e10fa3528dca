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

    /// <summary>
    /// How the model writes tool calls, which decides how the frontend reads them from its answers: <c>hermes</c>
    /// (<c>&lt;tool_call&gt;{...}&lt;/tool_call&gt;</c>: Hermes, Qwen2.5, Qwen3, generated models), <c>llama3_json</c>
    /// (Llama 3.1+), <c>mistral</c> (<c>[TOOL_CALLS][...]</c>), <c>none</c> (requests with tools are refused), or
    /// <c>auto</c>: detected from the chat template's markers (none when it has none). Default auto.
    /// </summary>
    public string ToolCallParser { get; set; } = "auto";

    /// <summary>Seed of generated preset weights. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>
    /// Before reporting ready, send a few requests (chat and completions, streamed and whole) through private copies of
    /// the serving path over the real engines, so the first user request does not pay for compiling it (<c>dynamo serve</c>:
    /// gateway, router and workers; <c>dynamo worker</c>: the worker; <c>dynamo frontend</c>: the gateway and router over a
    /// private zero-delay mocker worker, as it has no engine). They are not counted in metrics nor left as router
    /// load; the prefix cache may keep their few blocks. Takes 1-2 s on the tiny model on 2 busy cores (logged: "Warm-up
    /// took"). Default true.
    /// </summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>How long Ctrl-C waits for in-flight requests before cancelling them. Default 30 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
