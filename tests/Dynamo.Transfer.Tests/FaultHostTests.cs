using Xunit.Sdk;

namespace Dynamo.Transfer.Tests;

/// <summary>The child-process harness the UCX fault cases run in: an abort fails the test with what the child printed.</summary>
public sealed class FaultHostTests
{
    [Fact]
    public async Task ChildAborts_TheTestFailsWithItsExitStatusAndOutput()
    {
        var failure = await Assert.ThrowsAsync<FailException>(() => FaultHost.RunAsync(FaultScenario.SelfTestAbort, TransferBackendKind.Ucx));

        Assert.Contains("status 134 (SIGABRT", failure.Message);
        Assert.Contains("self-test: aborting on purpose", failure.Message); // the child's stderr
        Assert.Contains("--- child stderr ---", failure.Message);
    }

    [Fact]
    public async Task ChildAbortsWithAKnownUcxDefectEveryTime_TheTestIsSkippedNamingIt_NeverPassed()
    {
        var log = new List<string>();

        var skip = await Assert.ThrowsAsync<Xunit.SkipException>(() => FaultHost.RunAsync(FaultScenario.SelfTestKnownUcxAbort, TransferBackendKind.Ucx, log: log.Add));

        Assert.Contains(FaultHost.KnownUcxAborts[0].What, skip.Message);
        Assert.Equal(3, log.Count); // every attempt logged with the child's output
        Assert.All(log, l => Assert.Contains(FaultHost.KnownUcxAborts[0].Signature, l));
    }

    [Fact]
    public async Task KnownUcxAbortInTheOtherMode_FailsTheTest()
    {
        // The known aborts were seen with peer failure handling on; the same message with it off is not excused.
        var failure = await Assert.ThrowsAsync<FailException>(() =>
            FaultHost.RunAsync(FaultScenario.SelfTestKnownUcxAbort, TransferBackendKind.Ucx, peerFailureHandling: false));

        Assert.Contains("status 134", failure.Message);
    }
}
