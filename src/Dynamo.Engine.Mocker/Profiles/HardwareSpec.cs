namespace Dynamo.Engine.Mocker.Profiles;

/// <summary>One accelerator's figures for the roofline. Bandwidths in bytes/s, compute in FLOP/s, memory in bytes.</summary>
/// <param name="Name">Short name (h100, h200).</param>
/// <param name="PeakBf16Flops">Dense (not sparse) BF16 tensor-core peak.</param>
/// <param name="MemoryBandwidth">HBM bandwidth.</param>
/// <param name="MemoryBytes">HBM capacity.</param>
/// <param name="NvlinkBandwidth">NVLink bandwidth per GPU, one direction (tensor-parallel all-reduce, same-node KV transfer).</param>
/// <param name="NetworkBandwidth">Scale-out network per GPU, one direction (KV transfer between nodes).</param>
/// <param name="GpusPerNode">GPUs that share one NVLink domain.</param>
/// <param name="PeakFp8Flops">Dense FP8 tensor-core peak (0: no FP8 tensor cores; FP8 models then run at the BF16 peak).</param>
public sealed record HardwareSpec(string Name, double PeakBf16Flops, double MemoryBandwidth, double MemoryBytes, double NvlinkBandwidth, double NetworkBandwidth, int GpusPerNode, double PeakFp8Flops = 0)
{
    /// <summary>
    /// NVIDIA H100 SXM5 80 GB. Sources: NVIDIA H100 Tensor Core GPU datasheet (BF16 1,979 TFLOPS with sparsity,
    /// so 989.4 dense; HBM3 3.35 TB/s; 80 GB; NVLink 900 GB/s, i.e. 450 GB/s each way); DGX H100 user guide
    /// (eight ConnectX-7 400 Gb/s ports, one per GPU: 50 GB/s each way). FP8: 3,958 TFLOPS with sparsity, so 1,979 dense.
    /// </summary>
    public static HardwareSpec H100 { get; } = new("h100", 989.4e12, 3.35e12, 80e9, 450e9, 50e9, 8, 1979e12);

    /// <summary>
    /// NVIDIA H200 SXM 141 GB. Sources: NVIDIA H200 Tensor Core GPU datasheet (BF16 1,979 TFLOPS with sparsity,
    /// so 989.4 dense, the same die as H100; FP8 1,979 dense; HBM3e 4.8 TB/s; 141 GB; NVLink 900 GB/s); DGX H200 (ConnectX-7 400 Gb/s per GPU).
    /// </summary>
    public static HardwareSpec H200 { get; } = new("h200", 989.4e12, 4.8e12, 141e9, 450e9, 50e9, 8, 1979e12);
}
