using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Engine.Mocker;

namespace Dynamo.Bench.Replay;

/// <summary>Where a simulated worker is in its life: asked for, serving, leaving, gone.</summary>
internal enum SimWorkerState
{
    /// <summary>Asked for; not in routing until its start-up delay has passed.</summary>
    Starting,
    /// <summary>In routing.</summary>
    Ready,
    /// <summary>Out of routing, finishing the requests it holds.</summary>
    Draining,
    /// <summary>Gone; no longer counted in GPU-hours.</summary>
    Stopped,
}

/// <summary>One simulated worker: a mocker stepper, its place in the cluster, its life and its counters.</summary>
internal sealed class SimWorker(WorkerInstance instance, MockerStepper stepper, int slot, int gpus, int node, double startS)
{
    public WorkerInstance Instance { get; } = instance;

    public MockerStepper Stepper { get; } = stepper;

    public string Id => Instance.InstanceId;

    public WorkerRole Role => Instance.Role;

    /// <summary>The worker's first GPU in the cluster; it holds <see cref="Gpus"/> from there (aligned to that count).</summary>
    public int Slot { get; } = slot;

    /// <summary>GPUs it occupies (its role's tensor-parallel degree).</summary>
    public int Gpus { get; } = gpus;

    /// <summary>NVLink domain the worker's GPUs sit in.</summary>
    public int Node { get; } = node;

    public SimWorkerState State { get; set; } = SimWorkerState.Starting;

    /// <summary>When it was asked for (its GPUs count from here).</summary>
    public double StartS { get; } = startS;

    /// <summary>When it joined routing; null until then.</summary>
    public double? ReadyS { get; set; }

    /// <summary>When it stopped (its GPUs stop counting); null while alive.</summary>
    public double? StopS { get; set; }

    /// <summary>Requests routed to it that have not finished here (for a prefill worker: until its prefill is done).</summary>
    public int Assigned { get; set; }

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
