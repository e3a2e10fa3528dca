using Dynamo.Contracts.Engine;
using static Dynamo.Engine.Mocker.Tests.TestSupport;

namespace Dynamo.Engine.Mocker.Tests;

/// <summary>The mocker's waiting queue admits by <see cref="EngineRequest.Priority"/> (higher first), then arrival.</summary>
public sealed class PriorityQueueTests
{
    [Fact]
    public void WaitingSequences_AreAdmittedByPriorityThenArrival()
    {
        // One batch slot: sequences run one at a time, in the order the waiting queue hands them out.
        var stepper = new MockerStepper(Options(o => o.MaxNumSeqs = 1));
        var submitted = new (string Id, int Priority)[] { ("low", -5), ("mid1", 0), ("high", 7), ("mid2", 0), ("top", 100), ("mid3", 0) };
        foreach (var (id, priority) in submitted)
        {
            stepper.Submit(Request(Prompt(16, start: id.Length * 37), 1, id: id) with { Priority = priority });
        }

        var order = new List<string>();
        var outputs = new List<StepOutput>();
        while (stepper.TryBeginStep(out _))
        {
            stepper.CompleteStep(outputs);
            order.AddRange(outputs.Select(o => o.RequestId));
            outputs.Clear();
        }

        Assert.Equal(["top", "high", "mid1", "mid2", "mid3", "low"], order);
    }

    [Fact]
    public void AHigherPriorityArrival_PassesWaitingOnes_ButNotTheRunningOne()
    {
        var stepper = new MockerStepper(Options(o => o.MaxNumSeqs = 1));
        stepper.Submit(Request(Prompt(16), 3, id: "running"));
        var outputs = new List<StepOutput>();
        Assert.True(stepper.TryBeginStep(out _));
        stepper.CompleteStep(outputs);

        stepper.Submit(Request(Prompt(16, start: 100), 1, id: "early"));
        stepper.Submit(Request(Prompt(16, start: 200), 1, id: "urgent") with { Priority = 1 });
        var order = new List<string>();
        while (stepper.TryBeginStep(out _))
        {
            stepper.CompleteStep(outputs);
        }

        order.AddRange(outputs.Select(o => o.RequestId).Distinct());
        Assert.Equal(["running", "urgent", "early"], order);
    }
}
