namespace Dynamo.Engine.Mocker.Profiles;

/// <summary>
/// Builds a <see cref="PerformanceProfile"/> from hardware and model figures with a roofline per step term:
/// <list type="bullet">
/// <item>prefill base: one read of the weights per step (W / (BW·eff)) plus the step overhead and, with tensor
/// parallelism, two all-reduce latencies per layer;</item>
/// <item>prefill per token: 2·P FLOP at the prefill MFU, plus the all-reduce traffic (2 per layer of hidden × dtype
/// bytes, ring factor 2(t−1)/t) over NVLink;</item>
/// <item>prefill attention per (new token × context token): 4·L·H·d FLOP (QKᵀ and AV) at the attention MFU,
/// halved because the mocker counts the full rectangle and causal attention computes half;</item>
/// <item>decode base: the weights read plus overhead and all-reduce latencies; per sequence: 2·P FLOP at the prefill
/// MFU (what batching adds once the step is no longer purely memory-bound); per context token: the KV bytes read;</item>
/// <item>KV pool: (t · HBM · utilization − weights − t · reserve) / (KV bytes per token × block size).</item>
/// </list>
/// Compute and bandwidth scale with the tensor-parallel degree t. An FP8 model (weights one byte) runs its matmuls at
/// the FP8 peak; attention and the all-reduces stay in BF16 (FlashAttention over a BF16 KV cache, BF16 activations).
/// </summary>
public static class RooflineProfile
{
    public static PerformanceProfile Build(HardwareSpec hardware, ModelSpec model, int tensorParallel = 1, RooflineEfficiency? efficiency = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        ArgumentNullException.ThrowIfNull(model);
        if (TensorParallelError(hardware, model, tensorParallel, efficiency) is { } error)
        {
            throw new ArgumentException(error);
        }

        var e = efficiency ?? new RooflineEfficiency();
        int t = tensorParallel;
        double compute = t * (model.DtypeBytes == 1 && hardware.PeakFp8Flops > 0 ? hardware.PeakFp8Flops : hardware.PeakBf16Flops);
        double attentionCompute = t * hardware.PeakBf16Flops;
        double bandwidth = t * hardware.MemoryBandwidth * e.BandwidthEfficiency;
        double weightsMs = model.WeightBytes / bandwidth * 1000;
        double allReduceMs = t > 1 ? 2 * model.Layers * e.AllReduceLatencyMs : 0;
        double allReducePerTokenMs = t > 1
            ? 2.0 * model.Layers * model.Hidden * ActivationBytes * (2.0 * (t - 1) / t) / hardware.NvlinkBandwidth * 1000
            : 0;
        double perTokenFlopMs = 2 * model.Parameters / (compute * e.PrefillMfu) * 1000;
        double attentionPairMs = 0.5 * 4.0 * model.Layers * model.Heads * model.HeadDim / (attentionCompute * e.AttentionMfu) * 1000;
        double kvMs = model.KvBytesPerToken / bandwidth * 1000;

        long kvBytes = model.KvBytesPerToken;
        double free = FreeBytes(hardware, model, t, e);
        const int blockSize = 16;
        int blocks = (int)Math.Min(int.MaxValue / 2, free / (kvBytes * (double)blockSize));
        return new PerformanceProfile
        {
            Name = name ?? $"{hardware.Name}-{model.Name}{(t > 1 ? $"-tp{t}" : "")}",
            Description = $"roofline: {t}× {hardware.Name} ({compute / t / 1e12:0} TFLOPS {(compute > attentionCompute ? "fp8" : "bf16")}, {hardware.MemoryBandwidth / 1e12:0.##} TB/s), Llama {model.Name}{(model.DtypeBytes == 2 ? " bf16" : "")}",
            Performance = new PerformanceModel
            {
                PrefillBaseMs = weightsMs + e.StepOverheadMs + allReduceMs,
                PrefillPerTokenMs = perTokenFlopMs + allReducePerTokenMs,
                PrefillQuadraticMs = attentionPairMs,
                DecodeBaseMs = weightsMs + e.StepOverheadMs + allReduceMs,
                DecodePerSeqMs = perTokenFlopMs + allReducePerTokenMs,
                DecodePerKvTokenMs = kvMs,
            },
            BlockSize = blockSize,
            TotalKvBlocks = blocks,
            MaxContextLength = model.MaxContextLength,
            GpusPerWorker = t,
            GpusPerNode = hardware.GpusPerNode,
            KvBytesPerToken = kvBytes,
            IntraNodeTransferBandwidth = t * hardware.NvlinkBandwidth * e.TransferEfficiency,
            InterNodeTransferBandwidth = t * hardware.NetworkBandwidth * e.TransferEfficiency,
        };
    }

    /// <summary>Bytes per activation element in the all-reduces (BF16 whatever the weights' precision).</summary>
    private const int ActivationBytes = 2;

    /// <summary>
    /// Why <paramref name="model"/> cannot run at tensor-parallel degree <paramref name="tensorParallel"/> on
    /// <paramref name="hardware"/> (with the fix in the sentence), or null when it can.
    /// </summary>
    public static string? TensorParallelError(HardwareSpec hardware, ModelSpec model, int tensorParallel, RooflineEfficiency? efficiency = null)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        ArgumentNullException.ThrowIfNull(model);
        var e = efficiency ?? new RooflineEfficiency();
        int t = tensorParallel;
        if (t < 1 || t > hardware.GpusPerNode || model.Heads % t != 0)
        {
            return $"tensor-parallel degree {t} is not possible for Llama {model.Name} on {hardware.Name}: it must divide the {model.Heads} attention heads and be at most the {hardware.GpusPerNode} GPUs of one NVLink domain (e.g. 1, 2, 4 or 8).";
        }

        if (FreeBytes(hardware, model, t, e) <= 0)
        {
            int fits = Enumerable.Range(t + 1, hardware.GpusPerNode - t).FirstOrDefault(n => model.Heads % n == 0 && FreeBytes(hardware, model, n, e) > 0);
            string fix = fits > 0 ? $"use a tensor-parallel degree of at least {fits}" : "no degree within one node holds it";
            return $"Llama {model.Name} does not fit on {t} × {hardware.Name} (TP{t}): weights {model.WeightBytes / 1e9:0.#} GB, usable memory {t * hardware.MemoryBytes * e.MemoryUtilization / 1e9:0.#} GB less {t * e.ActivationReserveBytes / 1e9:0.#} GB for activations; {fix}.";
        }

        return null;
    }

    /// <summary>Bytes left for the KV cache on a worker of <paramref name="t"/> GPUs.</summary>
    private static double FreeBytes(HardwareSpec hardware, ModelSpec model, int t, RooflineEfficiency e) =>
        (t * hardware.MemoryBytes * e.MemoryUtilization) - model.WeightBytes - (t * e.ActivationReserveBytes);
}
