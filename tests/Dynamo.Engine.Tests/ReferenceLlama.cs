using Dynamo.Engine.Model;
using Dynamo.Engine.Safetensors;

namespace Dynamo.Engine.Tests;

/// <summary>
/// A naive Llama forward pass straight from the checkpoint's Hugging Face tensors: no cache, no batching,
/// no fused weights; scalar loops (double) except the projections' dot products. Recomputes the whole sequence for every token.
/// </summary>
internal sealed class ReferenceLlama
{
    private readonly LlamaConfig _c;
    private readonly Dictionary<string, float[]> _w = new();

    public ReferenceLlama(string directory)
    {
        _c = LlamaConfig.Load(directory);
        using var checkpoint = SafetensorsCheckpoint.Open(directory);
        foreach (var name in checkpoint.TensorNames)
        {
            var info = checkpoint.GetInfo(name);
            var values = new float[info.ElementCount];
            checkpoint.ReadAsSingle(name, info.Shape.Select(d => (int)d).ToArray(), values);
            _w[name] = values;
        }
    }

    public int[] Greedy(int[] prompt, int maxTokens)
    {
        var tokens = prompt.ToList();
        var output = new List<int>();
        for (var i = 0; i < maxTokens; i++)
        {
            var logits = LastLogits(tokens);
            var best = 0;
            for (var v = 1; v < logits.Length; v++)
            {
                if (logits[v] > logits[best])
                {
                    best = v;
                }
            }

            output.Add(best);
            tokens.Add(best);
        }

        return output.ToArray();
    }

    public double[] LastLogits(IReadOnlyList<int> tokens)
    {
        var c = _c;
        var n = tokens.Count;
        var hd = c.HeadDim;
        var x = new double[n][];
        for (var t = 0; t < n; t++)
        {
            x[t] = Row(_w["model.embed_tokens.weight"], tokens[t], c.HiddenSize);
        }

        for (var l = 0; l < c.NumHiddenLayers; l++)
        {
            string P(string s) => $"model.layers.{l}.{s}";
            var q = new double[n][];
            var k = new double[n][];
            var v = new double[n][];
            for (var t = 0; t < n; t++)
            {
                var h = Norm(x[t], _w[P("input_layernorm.weight")]);
                q[t] = Linear(h, _w[P("self_attn.q_proj.weight")], c.QDim, _w.GetValueOrDefault(P("self_attn.q_proj.bias")));
                k[t] = Linear(h, _w[P("self_attn.k_proj.weight")], c.KvDim, _w.GetValueOrDefault(P("self_attn.k_proj.bias")));
                v[t] = Linear(h, _w[P("self_attn.v_proj.weight")], c.KvDim, _w.GetValueOrDefault(P("self_attn.v_proj.bias")));
                Rope(q[t], t, c.NumAttentionHeads);
                Rope(k[t], t, c.NumKeyValueHeads);
            }

            for (var t = 0; t < n; t++)
            {
                var attention = new double[c.QDim];
                for (var head = 0; head < c.NumAttentionHeads; head++)
                {
                    var kvHead = head / (c.NumAttentionHeads / c.NumKeyValueHeads);
                    var scores = new double[t + 1];
                    for (var j = 0; j <= t; j++)
                    {
                        double dot = 0;
                        for (var d = 0; d < hd; d++)
                        {
                            dot += q[t][(head * hd) + d] * k[j][(kvHead * hd) + d];
                        }

                        scores[j] = dot / Math.Sqrt(hd);
                    }

                    var max = scores.Max();
                    var sum = 0.0;
                    for (var j = 0; j <= t; j++)
                    {
                        scores[j] = Math.Exp(scores[j] - max);
                        sum += scores[j];
                    }

                    for (var j = 0; j <= t; j++)
                    {
                        for (var d = 0; d < hd; d++)
                        {
                            attention[(head * hd) + d] += scores[j] / sum * v[j][(kvHead * hd) + d];
                        }
                    }
                }

                var o = Linear(attention, _w[P("self_attn.o_proj.weight")], c.HiddenSize, _w.GetValueOrDefault(P("self_attn.o_proj.bias")));
                for (var d = 0; d < c.HiddenSize; d++)
                {
                    x[t][d] += o[d];
                }
            }

            for (var t = 0; t < n; t++)
            {
                var h = Norm(x[t], _w[P("post_attention_layernorm.weight")]);
                var gate = Linear(h, _w[P("mlp.gate_proj.weight")], c.IntermediateSize, null);
                var up = Linear(h, _w[P("mlp.up_proj.weight")], c.IntermediateSize, null);
                for (var i = 0; i < gate.Length; i++)
                {
                    gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
                }

                var down = Linear(gate, _w[P("mlp.down_proj.weight")], c.HiddenSize, null);
                for (var d = 0; d < c.HiddenSize; d++)
                {
                    x[t][d] += down[d];
                }
            }
        }

        var final = Norm(x[n - 1], _w["model.norm.weight"]);
        var lmHead = _w.GetValueOrDefault("lm_head.weight") ?? _w["model.embed_tokens.weight"];
        return Linear(final, lmHead, c.VocabSize, null);
    }

    private static double[] Row(float[] matrix, int row, int width)
    {
        var result = new double[width];
        for (var i = 0; i < width; i++)
        {
            result[i] = matrix[(row * width) + i];
        }

        return result;
    }

    private double[] Norm(double[] x, float[] weight)
    {
        var meanSquare = x.Sum(e => e * e) / x.Length;
        var scale = 1 / Math.Sqrt(meanSquare + _c.RmsNormEps);
        return x.Select((e, i) => e * scale * weight[i]).ToArray();
    }

    /// <summary>x @ W.T (+ b), dot products in float with SIMD: the slow part of a cacheless reference is the vocabulary projection.</summary>
    private static double[] Linear(double[] x, float[] weight, int outputs, float[]? bias)
    {
        var input = x.Select(e => (float)e).ToArray();
        var result = new double[outputs];
        for (var o = 0; o < outputs; o++)
        {
            result[o] = System.Numerics.Tensors.TensorPrimitives.Dot(input, weight.AsSpan(o * x.Length, x.Length)) + (bias?[o] ?? 0);
        }

        return result;
    }

    private void Rope(double[] vector, int position, int heads)
    {
        var hd = _c.HeadDim;
        var half = hd / 2;
        for (var head = 0; head < heads; head++)
        {
            for (var i = 0; i < half; i++)
            {
                var angle = position / Math.Pow(_c.RopeTheta, 2.0 * i / hd);
                var a = vector[(head * hd) + i];
                var b = vector[(head * hd) + i + half];
                vector[(head * hd) + i] = (a * Math.Cos(angle)) - (b * Math.Sin(angle));
                vector[(head * hd) + i + half] = (b * Math.Cos(angle)) + (a * Math.Sin(angle));
            }
        }
    }
}
