namespace Dynamo.Engine.Model;

/// <summary>Hugging Face tensor names and shapes of a Llama-family checkpoint.</summary>
internal static class LlamaTensorNames
{
    public const string Embed = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string Layer(int layer, string suffix) => $"model.layers.{layer}.{suffix}";

    /// <summary>Every tensor of the checkpoint with its shape, in the order the writer stores them.</summary>
    public static IEnumerable<(string Name, int[] Shape)> All(LlamaConfig c)
    {
        yield return (Embed, [c.VocabSize, c.HiddenSize]);
        for (var i = 0; i < c.NumHiddenLayers; i++)
        {
            yield return (Layer(i, "input_layernorm.weight"), [c.HiddenSize]);
            yield return (Layer(i, "self_attn.q_proj.weight"), [c.QDim, c.HiddenSize]);
            yield return (Layer(i, "self_attn.k_proj.weight"), [c.KvDim, c.HiddenSize]);
            yield return (Layer(i, "self_attn.v_proj.weight"), [c.KvDim, c.HiddenSize]);
            if (c.QkvBias)
            {
                yield return (Layer(i, "self_attn.q_proj.bias"), [c.QDim]);
                yield return (Layer(i, "self_attn.k_proj.bias"), [c.KvDim]);
                yield return (Layer(i, "self_attn.v_proj.bias"), [c.KvDim]);
            }

            yield return (Layer(i, "self_attn.o_proj.weight"), [c.HiddenSize, c.QDim]);
            if (c.OutputBias)
            {
                yield return (Layer(i, "self_attn.o_proj.bias"), [c.HiddenSize]);
            }

            yield return (Layer(i, "post_attention_layernorm.weight"), [c.HiddenSize]);
            yield return (Layer(i, "mlp.gate_proj.weight"), [c.IntermediateSize, c.HiddenSize]);
            yield return (Layer(i, "mlp.up_proj.weight"), [c.IntermediateSize, c.HiddenSize]);
            yield return (Layer(i, "mlp.down_proj.weight"), [c.HiddenSize, c.IntermediateSize]);
        }

        yield return (FinalNorm, [c.HiddenSize]);
        if (!c.TieWordEmbeddings)
        {
            yield return (LmHead, [c.VocabSize, c.HiddenSize]);
        }
    }
}
