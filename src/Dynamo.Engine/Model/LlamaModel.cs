using System.Diagnostics;
using Dynamo.Engine.Compute;
using Dynamo.Engine.Safetensors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Engine.Model;

/// <summary>
/// A Llama-family decoder (RMSNorm, rotary embeddings, grouped-query attention, SwiGLU MLP, optional tied
/// embeddings, optional Qwen2 q/k/v biases) loaded from a Hugging Face folder. <see cref="Forward"/> runs one
/// engine step: every token of the batch through the linear layers as one matrix, attention through the
/// paged KV cache. Not thread-safe: the engine's loop thread owns it. The backend is the caller's to dispose.
/// </summary>
public sealed class LlamaModel
{
    private readonly IComputeBackend _backend;
    private readonly LlamaLayerWeights[] _layers;
    private readonly float[] _embed;
    private readonly float[] _finalNorm;
    private readonly float[] _lmHead;
    private readonly RopeTable _rope;
    private readonly int _qkvDim;

    private float[] _x = [];
    private float[] _h = [];
    private float[] _qkv = [];
    private float[] _attention = [];
    private float[] _gateUp = [];
    private float[] _activation = [];
    private float[] _selected = [];
    private float[] _projected = [];
    private int _capacity;
    private long _matMulTicks;
    private long _attentionTicks;
    private long _otherTicks;

    private LlamaModel(LlamaConfig config, IComputeBackend backend, LlamaLayerWeights[] layers, float[] embed, float[] finalNorm, float[] lmHead,
        SafetensorsDType storedDType)
    {
        Config = config;
        _backend = backend;
        _layers = layers;
        _embed = embed;
        _finalNorm = finalNorm;
        _lmHead = lmHead;
        StoredDType = storedDType;
        _qkvDim = config.QDim + (2 * config.KvDim);
        _rope = new RopeTable(config.MaxPositionEmbeddings, config.HeadDim, config.RopeTheta);
    }

    public LlamaConfig Config { get; }

    public IComputeBackend Backend => _backend;

    /// <summary>Where forward time went since start (stopwatch ticks summed per kind of operation).</summary>
    public ForwardTimings Timings => new(
        TimeSpan.FromSeconds(_matMulTicks / (double)Stopwatch.Frequency),
        TimeSpan.FromSeconds(_attentionTicks / (double)Stopwatch.Frequency),
        TimeSpan.FromSeconds(_otherTicks / (double)Stopwatch.Frequency));

    /// <summary>The dtype of the checkpoint's weights (the engine computes in fp32 whatever it was).</summary>
    public SafetensorsDType StoredDType { get; }

    /// <summary>Bytes of weights one forward step reads: every matrix and the norms (not the embedding rows it gathers).</summary>
    public long WeightBytesPerStep
    {
        get
        {
            long total = ((long)_lmHead.Length + _finalNorm.Length) * sizeof(float);
            foreach (var layer in _layers)
            {
                total += ((long)layer.InputNorm.Length + layer.Qkv.Length + (layer.QkvBias?.Length ?? 0) + layer.Output.Length
                    + (layer.OutputBias?.Length ?? 0) + layer.PostAttentionNorm.Length + layer.GateUp.Length + layer.Down.Length) * sizeof(float);
            }

            return total;
        }
    }

    /// <summary>Loads <c>config.json</c> and the safetensors weights of <paramref name="directory"/>, checking every shape.</summary>
    public static LlamaModel Load(string directory, IComputeBackend backend, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        var stopwatch = Stopwatch.StartNew();
        var config = LlamaConfig.Load(directory);
        using var checkpoint = SafetensorsCheckpoint.Open(directory);
        var c = config;
        var embed = Read(checkpoint, LlamaTensorNames.Embed, [c.VocabSize, c.HiddenSize]);
        var layers = new LlamaLayerWeights[c.NumHiddenLayers];
        for (var i = 0; i < layers.Length; i++)
        {
            var qkv = Pinned((long)(c.QDim + (2 * c.KvDim)) * c.HiddenSize);
            var qSize = c.QDim * c.HiddenSize;
            var kvSize = c.KvDim * c.HiddenSize;
            checkpoint.ReadAsSingle(LlamaTensorNames.Layer(i, "self_attn.q_proj.weight"), [c.QDim, c.HiddenSize], qkv.AsSpan(0, qSize));
            checkpoint.ReadAsSingle(LlamaTensorNames.Layer(i, "self_attn.k_proj.weight"), [c.KvDim, c.HiddenSize], qkv.AsSpan(qSize, kvSize));
            checkpoint.ReadAsSingle(LlamaTensorNames.Layer(i, "self_attn.v_proj.weight"), [c.KvDim, c.HiddenSize], qkv.AsSpan(qSize + kvSize, kvSize));
            float[]? qkvBias = null;
            if (c.QkvBias)
            {
                qkvBias = Pinned(c.QDim + (2 * c.KvDim));
                checkpoint.ReadAsSingle(LlamaTensorNames.Layer(i, "self_attn.q_proj.bias"), [c.QDim], qkvBias.AsSpan(0, c.QDim));
                checkpoint.ReadAsSingle(LlamaTensorNames.Layer(i, "self_attn.k_proj.bias"), [c.KvDim], qkvBias.AsSpan(c.QDim, c.KvDim));
                checkpoint.ReadAsSingle(LlamaTensorNames.Layer(i, "self_attn.v_proj.bias"), [c.KvDim], qkvBias.AsSpan(c.QDim + c.KvDim, c.KvDim));
            }

            var gateUp = Pinned(2L * c.IntermediateSize * c.HiddenSize);
            var half = c.IntermediateSize * c.HiddenSize;
            checkpoint.ReadAsSingle(LlamaTensorNames.Layer(i, "mlp.gate_proj.weight"), [c.IntermediateSize, c.HiddenSize], gateUp.AsSpan(0, half));
            checkpoint.ReadAsSingle(LlamaTensorNames.Layer(i, "mlp.up_proj.weight"), [c.IntermediateSize, c.HiddenSize], gateUp.AsSpan(half, half));
            layers[i] = new LlamaLayerWeights
            {
                InputNorm = Read(checkpoint, LlamaTensorNames.Layer(i, "input_layernorm.weight"), [c.HiddenSize]),
                Qkv = qkv,
                QkvBias = qkvBias,
                Output = Read(checkpoint, LlamaTensorNames.Layer(i, "self_attn.o_proj.weight"), [c.HiddenSize, c.QDim]),
                OutputBias = c.OutputBias ? Read(checkpoint, LlamaTensorNames.Layer(i, "self_attn.o_proj.bias"), [c.HiddenSize]) : null,
                PostAttentionNorm = Read(checkpoint, LlamaTensorNames.Layer(i, "post_attention_layernorm.weight"), [c.HiddenSize]),
                GateUp = gateUp,
                Down = Read(checkpoint, LlamaTensorNames.Layer(i, "mlp.down_proj.weight"), [c.HiddenSize, c.IntermediateSize]),
            };
        }

        var finalNorm = Read(checkpoint, LlamaTensorNames.FinalNorm, [c.HiddenSize]);
        var lmHead = c.TieWordEmbeddings && !checkpoint.Contains(LlamaTensorNames.LmHead)
            ? embed
            : Read(checkpoint, LlamaTensorNames.LmHead, [c.VocabSize, c.HiddenSize]);
        var dtype = checkpoint.GetInfo(LlamaTensorNames.Embed).DType;
        var model = new LlamaModel(config, backend, layers, embed, finalNorm, lmHead, dtype);
        EngineLog.ModelLoaded(logger, Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)), directory, c.NumHiddenLayers, c.HiddenSize,
            c.ParameterCount, dtype.ToString(), stopwatch.ElapsedMilliseconds);
        return model;
    }

    /// <summary>
    /// Runs every token of <paramref name="batch"/> through the model, writing their K/V into
    /// <paramref name="cache"/>, and puts the logits of each sequence that asked for them in its row of
    /// <paramref name="logits"/> ([batch.LogitRows × vocab]).
    /// </summary>
    public void Forward(ForwardBatch batch, PagedKvCache cache, Span<float> logits)
    {
        var c = Config;
        var tokens = batch.TokenCount;
        var hidden = c.HiddenSize;
        if (logits.Length < (long)batch.LogitRows * c.VocabSize)
        {
            throw new ArgumentException($"logits holds {logits.Length} floats; {batch.LogitRows} rows of {c.VocabSize} are needed", nameof(logits));
        }

        foreach (var position in batch.Positions)
        {
            if (position >= c.MaxPositionEmbeddings)
            {
                throw new ArgumentException($"position {position} is beyond max_position_embeddings {c.MaxPositionEmbeddings}", nameof(batch));
            }
        }

        EnsureCapacity(tokens, batch.LogitRows);
        var x = _x.AsSpan(0, tokens * hidden);
        var h = _h.AsSpan(0, tokens * hidden);
        var qkv = _qkv.AsSpan(0, tokens * _qkvDim);
        var attention = _attention.AsSpan(0, tokens * c.QDim);
        var gateUp = _gateUp.AsSpan(0, tokens * 2 * c.IntermediateSize);
        var activation = _activation.AsSpan(0, tokens * c.IntermediateSize);
        var ids = batch.Tokens;
        for (var t = 0; t < tokens; t++)
        {
            var id = ids[t];
            if ((uint)id >= (uint)c.VocabSize)
            {
                throw new ArgumentException($"token id {id} is outside the vocabulary 0..{c.VocabSize - 1}", nameof(batch));
            }

            _embed.AsSpan(id * hidden, hidden).CopyTo(x.Slice(t * hidden, hidden));
        }

        for (var l = 0; l < _layers.Length; l++)
        {
            var layer = _layers[l];
            var t0 = Stopwatch.GetTimestamp();
            _backend.RmsNorm(x, layer.InputNorm, h, tokens, hidden, c.RmsNormEps);
            var t1 = Stopwatch.GetTimestamp();
            _backend.MatMulTransposed(h, layer.Qkv, qkv, tokens, _qkvDim, hidden);
            var t2 = Stopwatch.GetTimestamp();
            if (layer.QkvBias is not null)
            {
                _backend.AddBias(qkv, layer.QkvBias, tokens, _qkvDim);
            }

            _backend.ApplyRope(qkv, batch.Positions, _rope, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim);
            var t3 = Stopwatch.GetTimestamp();
            _backend.PagedAttention(batch, qkv, cache, l, c.NumAttentionHeads, attention);
            var t4 = Stopwatch.GetTimestamp();

            // The residual add rides on the matrix multiply (beta = 1).
            _backend.MatMulTransposed(attention, layer.Output, x, tokens, hidden, c.QDim, accumulate: true);
            var t5 = Stopwatch.GetTimestamp();
            if (layer.OutputBias is not null)
            {
                _backend.AddBias(x, layer.OutputBias, tokens, hidden);
            }

            _backend.RmsNorm(x, layer.PostAttentionNorm, h, tokens, hidden, c.RmsNormEps);
            var t6 = Stopwatch.GetTimestamp();
            _backend.MatMulTransposed(h, layer.GateUp, gateUp, tokens, 2 * c.IntermediateSize, hidden);
            var t7 = Stopwatch.GetTimestamp();
            _backend.SiluMul(gateUp, activation, tokens, c.IntermediateSize);
            var t8 = Stopwatch.GetTimestamp();
            _backend.MatMulTransposed(activation, layer.Down, x, tokens, hidden, c.IntermediateSize, accumulate: true);
            var t9 = Stopwatch.GetTimestamp();
            _matMulTicks += (t2 - t1) + (t5 - t4) + (t7 - t6) + (t9 - t8);
            _attentionTicks += t4 - t3;
            _otherTicks += (t1 - t0) + (t3 - t2) + (t6 - t5) + (t8 - t7);
        }

        if (batch.LogitRows == 0)
        {
            return;
        }

        // Only the last token of a sequence that samples needs the final norm and the (large) vocabulary projection.
        var selected = _selected.AsSpan(0, batch.LogitRows * hidden);
        foreach (var sequence in batch.Sequences)
        {
            if (sequence.LogitsRow >= 0)
            {
                var last = sequence.FirstToken + sequence.TokenCount - 1;
                _backend.RmsNorm(x.Slice(last * hidden, hidden), _finalNorm, selected.Slice(sequence.LogitsRow * hidden, hidden), 1, hidden, c.RmsNormEps);
            }
        }

        var head = Stopwatch.GetTimestamp();
        _backend.MatMulTransposed(selected, _lmHead, logits, batch.LogitRows, c.VocabSize, hidden);
        _matMulTicks += Stopwatch.GetTimestamp() - head;
    }

    /// <summary>
    /// The logits of <paramref name="count"/> consecutive tokens of the last <see cref="Forward"/>'s batch from
    /// <paramref name="firstToken"/> on (indices into the batch's tokens), into <paramref name="logits"/>
    /// ([count × vocab]): the final norm and vocabulary projection <see cref="Forward"/> applies only to each
    /// sequence's last token. Valid until the next <see cref="Forward"/>, which overwrites the hidden states it reads.
    /// Callers keep <paramref name="count"/> small: the rows cost count × vocab floats.
    /// </summary>
    public void ProjectTokens(int firstToken, int count, Span<float> logits)
    {
        var c = Config;
        var hidden = c.HiddenSize;
        if (firstToken < 0 || count < 1 || (long)(firstToken + count) * hidden > _x.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"tokens {firstToken}..{firstToken + count - 1} are not in the last batch");
        }

        if (logits.Length < (long)count * c.VocabSize)
        {
            throw new ArgumentException($"logits holds {logits.Length} floats; {count} rows of {c.VocabSize} are needed", nameof(logits));
        }

        if (_projected.Length < count * hidden)
        {
            _projected = Pinned((long)count * hidden);
        }

        var normed = _projected.AsSpan(0, count * hidden);
        _backend.RmsNorm(_x.AsSpan(firstToken * hidden, count * hidden), _finalNorm, normed, count, hidden, c.RmsNormEps);
        var head = Stopwatch.GetTimestamp();
        _backend.MatMulTransposed(normed, _lmHead, logits[..(count * c.VocabSize)], count, c.VocabSize, hidden);
        _matMulTicks += Stopwatch.GetTimestamp() - head;
    }

    private void EnsureCapacity(int tokens, int logitRows)
    {
        var c = Config;
        if (tokens > _capacity)
        {
            _capacity = Math.Max(tokens, Math.Min(_capacity * 2, 1 << 16));
            _x = Pinned((long)_capacity * c.HiddenSize);
            _h = Pinned((long)_capacity * c.HiddenSize);
            _qkv = Pinned((long)_capacity * _qkvDim);
            _attention = Pinned((long)_capacity * c.QDim);
            _gateUp = Pinned(2L * _capacity * c.IntermediateSize);
            _activation = Pinned((long)_capacity * c.IntermediateSize);
        }

        if (_selected.Length < logitRows * c.HiddenSize)
        {
            _selected = Pinned((long)Math.Max(logitRows, _selected.Length / c.HiddenSize * 2) * c.HiddenSize);
        }
    }

    private static float[] Read(SafetensorsCheckpoint checkpoint, string name, int[] shape)
    {
        var values = Pinned(shape.Aggregate(1L, (a, b) => a * b));
        checkpoint.ReadAsSingle(name, shape, values);
        return values;
    }

    private static float[] Pinned(long length) => GC.AllocateUninitializedArray<float>(checked((int)length), pinned: true);
}
