namespace Dynamo.Engine.Model;

/// <summary>Sizes of generated Llama-family models for <c>dynamo model init</c>.</summary>
public enum ModelPreset
{
    /// <summary>hidden 64, 2 layers, 4 heads (2 KV heads), GPT-2 vocabulary, untied: about 6.5M parameters, loads in tens of milliseconds.</summary>
    Tiny,

    /// <summary>hidden 256, 4 layers, 8 heads (4 KV heads), untied: about 29M parameters.</summary>
    Small,

    /// <summary>hidden 768, 10 layers, 12 heads (4 KV heads), intermediate 2048, tied embeddings: about 101M parameters, for benchmarks.</summary>
    Params100M,
}
