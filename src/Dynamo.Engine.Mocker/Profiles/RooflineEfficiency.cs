namespace Dynamo.Engine.Mocker.Profiles;

/// <summary>
/// How far below the roofline a real engine runs. Defaults are typical of vLLM on Hopper and are the knobs to
/// calibrate against a measured table.
/// </summary>
public sealed record RooflineEfficiency
{
    /// <summary>Fraction of peak FLOP/s the dense matmuls of prefill reach. Default 0.5 (vLLM prefill MFU on H100 is 40-60%).</summary>
    public double PrefillMfu { get; init; } = 0.5;

    /// <summary>Fraction of peak FLOP/s attention reaches (FlashAttention-3 reaches 0.5-0.75 in BF16). Default 0.4, leaving room for paging.</summary>
    public double AttentionMfu { get; init; } = 0.4;

    /// <summary>Fraction of HBM bandwidth weight and KV reads reach. Default 0.8.</summary>
    public double BandwidthEfficiency { get; init; } = 0.8;

    /// <summary>Fixed cost per step for scheduling, sampling and launches (with CUDA graphs), ms. Default 1.5.</summary>
    public double StepOverheadMs { get; init; } = 1.5;

    /// <summary>Latency of one tensor-parallel all-reduce on NVLink, ms (two per layer per step). Default 0.008.</summary>
    public double AllReduceLatencyMs { get; init; } = 0.008;

    /// <summary>Fraction of HBM left for weights and KV (vLLM's gpu_memory_utilization). Default 0.9.</summary>
    public double MemoryUtilization { get; init; } = 0.9;

    /// <summary>Memory per GPU kept for activations and the CUDA context, bytes. Default 2 GB.</summary>
    public double ActivationReserveBytes { get; init; } = 2e9;

    /// <summary>Fraction of link bandwidth a KV transfer reaches. Default 0.8.</summary>
    public double TransferEfficiency { get; init; } = 0.8;

    /// <summary>
    /// Fitted to TensorRT-LLM's published offline throughput on H100 (perf-overview tables, FP8 checkpoints with FP8 KV;
    /// bench/README.md "Calibration"): its FP8 GEMMs and attention run nearer peak than the vLLM-like defaults.
    /// </summary>
    public static RooflineEfficiency TensorRtLlm { get; } = new()
    {
        PrefillMfu = 0.7,
        AttentionMfu = 0.6,
        BandwidthEfficiency = 0.85,
        StepOverheadMs = 1.0,
        MemoryUtilization = 0.95,
    };
}
