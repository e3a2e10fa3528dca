using Dynamo.Bench.Traces;
using Dynamo.Bench.Workload;

namespace Dynamo.Bench.Tests;

/// <summary>The multi-turn session workloads (<c>--workload conversation|agentic</c>): determinism, prefix structure, popularity, timing, limits.</summary>
public sealed class ConversationWorkloadTests
{
    private const int Block = PromptSynthesizer.TraceBlockTokens;

    private static SessionWorkloadOptions Conversation(int sessions = 400, int seed = 7) =>
        SessionWorkloadOptions.Defaults(SessionKind.Conversation) with { Sessions = sessions, Rate = 2, Seed = seed };

    private static SessionWorkloadOptions Agentic(int sessions = 60, int seed = 7) =>
        SessionWorkloadOptions.Defaults(SessionKind.Agentic) with { Sessions = sessions, Rate = 0.5, Seed = seed };

    private static List<SessionTurn> Run(SessionWorkloadOptions o) => [.. ConversationWorkload.Turns(o)];

    private static string Fingerprint(BenchRequest r) =>
        $"{r.Index}@{r.Arrival.Ticks}:{r.InputLength}/{r.OutputLength}:{string.Join(',', r.HashIds)}";

    [Fact]
    public void SameSeed_SameWorkload_OtherSeed_Another()
    {
        var first = ConversationWorkload.Generate(Conversation(100)).Select(Fingerprint).ToList();
        var again = ConversationWorkload.Generate(Conversation(100)).Select(Fingerprint).ToList();
        var other = ConversationWorkload.Generate(Conversation(100, seed: 8)).Select(Fingerprint).ToList();

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.Equal(ConversationWorkload.CountRequests(Conversation(100)), first.Count);
    }

    [Fact]
    public void CutAtN_IsTheFirstNOfTheWholeRun()
    {
        var whole = ConversationWorkload.Generate(Conversation(200)).Select(Fingerprint).ToList();
        var cut = ConversationWorkload.Generate(Conversation(200) with { Requests = 150 }).Select(Fingerprint).ToList();
        var unbounded = ConversationWorkload.Generate(Conversation(200) with { Sessions = null, Requests = 150 }).Select(Fingerprint).ToList();

        Assert.Equal(150, cut.Count);
        Assert.Equal(whole.Take(150), cut);
        Assert.Equal(cut, unbounded); // sessions started as needed give the same first 150
    }

    [Theory]
    [InlineData(SessionKind.Conversation)]
    [InlineData(SessionKind.Agentic)]
    public void ArrivalsInOrder_IndexesConsecutive_EveryTurnOfEverySession(SessionKind kind)
    {
        var turns = Run(kind == SessionKind.Agentic ? Agentic() : Conversation());

        Assert.Equal(Enumerable.Range(0, turns.Count), turns.Select(t => t.Request.Index));
        Assert.All(turns.Zip(turns.Skip(1)), p => Assert.True(p.First.Request.Arrival <= p.Second.Request.Arrival));
        foreach (var session in turns.GroupBy(t => t.Session))
        {
            Assert.Equal(Enumerable.Range(0, session.First().Turns), session.Select(t => t.Turn));
        }
    }

    [Theory]
    [InlineData(SessionKind.Conversation)]
    [InlineData(SessionKind.Agentic)]
    public void NextTurn_ResendsThePreviousPromptAndReply_ItsPartialLastBlockGetsANewId(SessionKind kind)
    {
        var o = kind == SessionKind.Agentic ? Agentic() : Conversation();
        int partials = 0;
        foreach (var session in Run(o).GroupBy(t => t.Session))
        {
            var list = session.ToList();
            for (int k = 1; k < list.Count; k++)
            {
                BenchRequest before = list[k - 1].Request, after = list[k].Request;
                Assert.True(after.InputLength > before.InputLength + before.OutputLength, "turn k+1 = turn k's prompt + its reply + new input");
                Assert.Equal((after.InputLength + Block - 1) / Block, after.HashIds.Count);
                int full = before.InputLength / Block;
                Assert.Equal(before.HashIds.Take(full), after.HashIds.Take(full));
                if (before.InputLength % Block != 0)
                {
                    partials++;
                    Assert.NotEqual(before.HashIds[full], after.HashIds[full]); // it grew: other content, another id
                }

                // and the gap: at least the nominal reply time (output × ITL) plus the 1 ms floor of think time
                double gap = (after.Arrival - before.Arrival).TotalSeconds;
                Assert.True(gap >= (before.OutputLength * o.NominalItlMs / 1000) + 0.001 - 1e-9, $"gap {gap} s after {before.OutputLength} tokens");
            }
        }

        Assert.True(partials > 100, $"only {partials} partial blocks checked");
    }

    [Fact]
    public void EverySession_StartsWithTheSameSystemPromptBlocks_AndSessionsShareNothingElseButDocuments()
    {
        var o = Conversation() with { SystemPromptTokens = 1300 }; // 2 full blocks, the third mixes in what follows
        var turns = Run(o);
        long[] system = [.. turns[0].Request.HashIds.Take(2)];

        Assert.All(turns, t => Assert.Equal(system, t.Request.HashIds.Take(2)));
        Assert.True(turns.Select(t => t.Session).Distinct().Count() > 300);

        // beyond the system prompt, two sessions share blocks only when they carry the same document
        int[] documents = ConversationWorkload.DocumentLengths(o);
        var firstTurns = turns.Where(t => t.Turn == 0).ToList();
        var owner = new Dictionary<long, int>();
        foreach (var t in firstTurns)
        {
            foreach (long id in t.Request.HashIds.Skip(2))
            {
                if (owner.TryGetValue(id, out int document))
                {
                    Assert.True(document == t.Document && document >= 0, $"session {t.Session} (document {t.Document}) shares block {id} with a session of document {document}");
                }
                else
                {
                    owner[id] = t.Document;
                }
            }
        }

        // a session with document d shares exactly the blocks that end inside system prompt + document
        var withDocument = firstTurns.Where(t => t.Document >= 0).GroupBy(t => t.Document).First(g => g.Count() > 1).ToList();
        int shared = (o.SystemPromptTokens + documents[withDocument[0].Document]) / Block;
        Assert.Equal(withDocument[0].Request.HashIds.Take(shared), withDocument[1].Request.HashIds.Take(shared));
        Assert.NotEqual(withDocument[0].Request.HashIds[shared], withDocument[1].Request.HashIds[shared]);
    }

    [Fact]
    public void Documents_ZipfPopular_ShareAsAsked()
    {
        var o = Conversation(sessions: 4000) with { Documents = 20, DocumentShare = 0.4, DocumentZipf = 1.0 };
        var sessions = Run(o).Where(t => t.Turn == 0).ToList();
        var counts = Enumerable.Range(0, 20).Select(d => sessions.Count(s => s.Document == d)).ToList();
        double carried = sessions.Count(s => s.Document >= 0) / (double)sessions.Count;

        Assert.InRange(carried, 0.37, 0.43);
        // Zipf(1) over 20: the first document has 1 / H(20) = 28 % of the draws, the last 1.4 %
        Assert.InRange(counts[0] / (double)counts.Sum(), 0.24, 0.32);
        Assert.True(counts[0] > 10 * counts[19], $"document 0: {counts[0]}, document 19: {counts[19]}");
        Assert.True(counts[0] > 1.5 * counts[1] && counts[1] > counts[4], string.Join(",", counts));

        var uniform = Run(o with { DocumentZipf = 0 }).Where(t => t.Turn == 0 && t.Document >= 0).GroupBy(t => t.Document).Select(g => g.Count()).ToList();
        Assert.True(uniform.Max() < 2 * uniform.Min(), $"zipf 0 should be uniform: {string.Join(",", uniform)}");
    }

    [Fact]
    public void ConversationTurns_HeavyTailedWithinTheCap()
    {
        var sessions = Run(Conversation(sessions: 3000)).Where(t => t.Turn == 0).Select(t => t.Turns).ToList();

        Assert.All(sessions, n => Assert.InRange(n, 1, 40));
        // pareto:1:1.1 floored: P(turns >= k) = k^-1.1: 1 turn 53 %, 10 or more 7.9 %, the cap 40 reached by 1.7 %
        Assert.InRange(sessions.Count(n => n == 1) / 3000.0, 0.49, 0.57);
        Assert.InRange(sessions.Count(n => n >= 10) / 3000.0, 0.06, 0.10);
        Assert.InRange(sessions.Count(n => n == 40), 25, 80);
    }

    [Fact]
    public void Agentic_LongLoops_ShortOutputs_BigSharedToolPrompt()
    {
        var turns = Run(Agentic(sessions: 200));
        var lengths = turns.Where(t => t.Turn == 0).Select(t => t.Turns).ToList();

        Assert.All(lengths, n => Assert.InRange(n, 10, 50));
        Assert.InRange(lengths.Average(), 15.5, 20); // pareto:10:2: mean 20, 18 under the cap of 50, about 17.5 floored
        Assert.InRange(turns.Average(t => t.Request.OutputLength), 50, 90);
        Assert.True(turns.Average(t => t.Request.InputLength) > 8000, "the context grows to tens of thousands of tokens");
        long[] tools = [.. turns[0].Request.HashIds.Take(6000 / Block)];
        Assert.All(turns, t => Assert.Equal(tools, t.Request.HashIds.Take(tools.Length)));
    }

    [Fact]
    public void Conversation_Defaults_LookLikeChatTraffic()
    {
        var turns = Run(Conversation(sessions: 1000));
        double meanPrompt = turns.Average(t => t.Request.InputLength);
        double meanOutput = turns.Average(t => t.Request.OutputLength);

        Assert.InRange(turns.Count / 1000.0, 3, 5); // turns per session
        Assert.InRange(meanPrompt, 3000, 9000); // several K tokens: the context grows turn by turn
        Assert.InRange(meanOutput, 250, 380); // LMSYS 215, Mooncake's conversations 343
    }

    [Fact]
    public void ConstantArrival_SessionsStartEvenly()
    {
        var o = Conversation(sessions: 5) with { Arrival = ArrivalProcess.Constant, Rate = 4 };
        var starts = Run(o).Where(t => t.Turn == 0).OrderBy(t => t.Session).Select(t => t.Request.Arrival.TotalSeconds);

        Assert.Equal([0, 0.25, 0.5, 0.75, 1.0], starts);
    }

    [Fact]
    public void Ids_NeverCollideWithTracesSyntheticOrLengthenedPrompts()
    {
        var ids = ConversationWorkload.Generate(Conversation(50)).SelectMany(r => r.HashIds).ToList();

        Assert.All(ids, id => Assert.InRange(id, 1L << 51, (1L << 52) - 1));
        var synthetic = WorkloadBuilder.Synthetic(LengthDistribution.Fixed(4096), LengthDistribution.Fixed(1), ArrivalProcess.Poisson, 1, 300, 65535).SelectMany(r => r.HashIds);
        Assert.All(synthetic, id => Assert.True(id < 1L << 51));
    }

    [Theory]
    [InlineData("Sessions", "--sessions")]
    [InlineData("Requests", "--requests")]
    [InlineData("Neither", "--sessions")]
    [InlineData("Rate", "--rate")]
    [InlineData("Arrival", "--arrival")]
    [InlineData("SystemPromptTokens", "--system-prompt-tokens")]
    [InlineData("Documents", "--documents")]
    [InlineData("DocumentShare", "--document-share")]
    [InlineData("ShareZero", "--document-share")]
    [InlineData("DocumentZipf", "--document-zipf")]
    [InlineData("MaxTurns", "--max-turns")]
    [InlineData("NominalItlMs", "--nominal-itl-ms")]
    public void BadOptions_NameTheFlag(string what, string flag)
    {
        SessionWorkloadOptions o = Conversation();
        o = what switch
        {
            "Sessions" => o with { Sessions = 0 },
            "Requests" => o with { Requests = -1 },
            "Neither" => o with { Sessions = null },
            "Rate" => o with { Rate = double.NaN },
            "Arrival" => o with { Arrival = ArrivalProcess.Trace },
            "SystemPromptTokens" => o with { SystemPromptTokens = -1 },
            "Documents" => o with { Documents = -3 },
            "DocumentShare" => o with { DocumentShare = 1.5 },
            "ShareZero" => o with { DocumentShare = 0 },
            "DocumentZipf" => o with { DocumentZipf = -1 },
            "MaxTurns" => o with { MaxTurns = 0 },
            _ => o with { NominalItlMs = -2 },
        };

        Assert.Contains(flag, o.FirstError());
        var error = Assert.Throws<ArgumentException>(() => ConversationWorkload.Generate(o).First());
        Assert.Contains(flag, error.Message);
        Assert.Null(Conversation().FirstError());
        Assert.Null(Agentic().FirstError());
    }

    [Fact]
    public void Pareto_ParsesAndHasItsTail()
    {
        var d = LengthDistribution.Parse("pareto:2:1.5", "--turns");
        var random = new Random(5);
        var samples = Enumerable.Range(0, 20000).Select(_ => d.Sample(random)).ToList();

        Assert.Equal(2, samples.Min());
        Assert.InRange(samples.Count(x => x >= 8) / 20000.0, 0.11, 0.14); // (2/8)^1.5 = 0.125
        Assert.Equal(6, d.Mean); // alpha × min ÷ (alpha − 1)
        Assert.Contains("--turns", Assert.Throws<FormatException>(() => LengthDistribution.Parse("pareto:0:1", "--turns")).Message);
        Assert.Contains("ALPHA", Assert.Throws<FormatException>(() => LengthDistribution.Parse("pareto:1:0", "--turns")).Message);
    }

    [Fact]
    public async Task ExportedTrace_ReadsBackAsTheSameRequests()
    {
        var requests = ConversationWorkload.Generate(Agentic(sessions: 5)).ToList();
        string path = Path.Combine(Path.GetTempPath(), $"dynamo-export-{Guid.NewGuid():N}.jsonl");
        try
        {
            Assert.Equal(requests.Count, TraceWriter.Write(path, requests));
            var read = TraceReader.Read(path);
            var replayed = WorkloadBuilder.FromTrace(read, ArrivalProcess.Trace, null, 1, null, 0).ToList();

            Assert.Equal(requests.Select(r => (r.InputLength, r.OutputLength, string.Join(',', r.HashIds))), replayed.Select(r => (r.InputLength, r.OutputLength, string.Join(',', r.HashIds))));
            Assert.All(requests.Zip(replayed), p => Assert.Equal(p.First.Arrival.TotalMilliseconds, p.Second.Arrival.TotalMilliseconds, 0.001));
            Assert.StartsWith("{\"timestamp\": 0, \"input_length\": ", (await File.ReadAllLinesAsync(path))[0]);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
