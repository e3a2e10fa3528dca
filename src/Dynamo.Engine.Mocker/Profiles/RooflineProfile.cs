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
/// Compute and bandwidth scale with the tensor-parallel degree t.
/// </summary>
public static class RooflineProfile
{
    public static PerformanceProfile Build(HardwareSpec hardware, ModelSpec model, int tensorParallel = 1, RooflineEfficiency? efficiency = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(tensorParallel, 1);
        var e = efficiency ?? new RooflineEfficiency();
        int t = tensorParallel;
        double compute = t * hardware.PeakBf16Flops;
        double bandwidth = t * hardware.MemoryBandwidth * e.BandwidthEfficiency;
        double weightsMs = model.WeightBytes / bandwidth * 1000;
        double allReduceMs = t > 1 ? 2 * model.Layers * e.AllReduceLatencyMs : 0;
        double allReducePerTokenMs = t > 1
            ? 2.0 * model.Layers * model.Hidden * model.DtypeBytes * (2.0 * (t - 1) / t) / hardware.NvlinkBandwidth * 1000
            : 0;
        double perTokenFlopMs = 2 * model.Parameters / (compute * e.PrefillMfu) * 1000;
        double attentionPairMs = 0.5 * 4.0 * model.Layers * model.Heads * model.HeadDim / (compute * e.AttentionMfu) * 1000;
        double kvMs = model.KvBytesPerToken / bandwidth * 1000;

        long kvBytes = model.KvBytesPerToken;
        double free = (t * hardware.MemoryBytes * e.MemoryUtilization) - model.WeightBytes - (t * e.ActivationReserveBytes);
        if (free <= 0)
        {
            throw new ArgumentException($"{model.Name} does not fit on {t} × {hardware.Name}: weights {model.WeightBytes / 1e9:0} GB, usable memory {t * hardware.MemoryBytes * e.MemoryUtilization / 1e9:0} GB.");
        }

        const int blockSize = 16;
        int blocks = (int)Math.Min(int.MaxValue / 2, free / (kvBytes * (double)blockSize));
        return new PerformanceProfile
        {
            Name = name ?? $"{hardware.Name}-{model.Name}{(t > 1 ? $"-tp{t}" : "")}",
            Description = $"roofline: {t}× {hardware.Name} ({hardware.PeakBf16Flops / 1e12:0} TFLOPS bf16, {hardware.MemoryBandwidth / 1e12:0.##} TB/s), Llama {model.Name} bf16",
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
}
