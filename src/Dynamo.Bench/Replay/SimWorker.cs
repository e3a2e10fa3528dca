using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Engine.Mocker;

namespace Dynamo.Bench.Replay;

/// <summary>One simulated worker: a mocker stepper, its place in the cluster and its counters.</summary>
internal sealed class SimWorker(WorkerInstance instance, MockerStepper stepper, int node)
{
    public WorkerInstance Instance { get; } = instance;

    public MockerStepper Stepper { get; } = stepper;

    public string Id => Instance.InstanceId;

    public WorkerRole Role => Instance.Role;

    /// <summary>NVLink domain the worker's GPUs sit in.</summary>
    public int Node { get; } = node;

    public bool Busy { get; set; }

    public double BusyS { get; set; }

    public long Steps { get; set; }

    public long Requests { get; set; }

    public long PromptTokens { get; set; }

    public long CachedTokens { get; set; }

    public long OutputTokens { get; set; }

    public double PeakKvUsage { get; set; }

    public double KvUsageSum { get; set; }

    public long KvSamples { get; set; }
}
