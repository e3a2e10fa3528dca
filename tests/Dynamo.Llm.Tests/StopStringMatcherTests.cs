using System.Text;

namespace Dynamo.Llm.Tests;

public sealed class StopStringMatcherTests
{
    [Fact]
    public void Push_NoStops_PassesDeltasThroughUnchanged()
    {
        var matcher = new StopStringMatcher([]);
        var delta = "Hello";

        var result = matcher.Push(delta);

        Assert.Same(delta, result.Emit);
        Assert.False(result.Stopped);
        Assert.Equal(string.Empty, matcher.Flush());
    }

    [Fact]
    public void Push_OnlyEmptyStops_PassesThrough()
    {
        var matcher = new StopStringMatcher(["", ""]);

        Assert.Equal(new StopMatch("abc", false), matcher.Push("abc"));
    }

    [Fact]
    public void Push_StopInsideOneDelta_EmitsTextBeforeIt()
    {
        var matcher = new StopStringMatcher(["###"]);

        var result = matcher.Push("answer### ignored");

        Assert.Equal(new StopMatch("answer", true), result);
        Assert.True(matcher.IsStopped);
        Assert.Equal("###", matcher.MatchedStop);
    }

    [Fact]
    public void Push_StopSplitAcrossManyDeltas_HoldsBackThenStops()
    {
        var matcher = new StopStringMatcher(["<|end|>"]);
        var emitted = new StringBuilder();
        var stopped = false;
        foreach (var delta in new[] { "Hel", "lo <", "|", "en", "d", "|> tail" })
        {
            var result = matcher.Push(delta);
            emitted.Append(result.Emit);
            stopped |= result.Stopped;
        }

        Assert.True(stopped);
        Assert.Equal("Hello ", emitted.ToString());
    }

    [Fact]
    public void Push_CharacterByCharacter_NeverEmitsAPossibleStopPrefix()
    {
        var matcher = new StopStringMatcher(["STOP"]);

        Assert.Equal(new StopMatch("a", false), matcher.Push("a"));
        Assert.Equal(new StopMatch("", false), matcher.Push("S"));
        Assert.Equal(new StopMatch("", false), matcher.Push("T"));
        Assert.Equal(new StopMatch("", false), matcher.Push("O"));
        Assert.Equal(new StopMatch("", true), matcher.Push("P"));
    }

    [Fact]
    public void Push_HeldTextThatStopsMatching_IsReleased()
    {
        var matcher = new StopStringMatcher(["STOP"]);

        Assert.Equal(new StopMatch("x ", false), matcher.Push("x ST"));
        Assert.Equal(new StopMatch("STAY", false), matcher.Push("AY"));
    }

    [Fact]
    public void Push_PartialMatchThenRealMatchLater_StopsAtTheRealOne()
    {
        // "aab" inside "aaab": the first 'a' is output, the match starts at the second.
        var matcher = new StopStringMatcher(["aab"]);
        var emitted = new StringBuilder();
        StopMatch last = default;
        foreach (var c in "aaab")
        {
            last = matcher.Push(c.ToString());
            emitted.Append(last.Emit);
        }

        Assert.True(last.Stopped);
        Assert.Equal("a", emitted.ToString());
    }

    [Fact]
    public void Push_OverlappingCandidates_EarliestCompleteMatchWins()
    {
        var matcher = new StopStringMatcher(["abcd", "bcx"]);

        Assert.Equal(new StopMatch("", false), matcher.Push("abc"));
        var result = matcher.Push("x");

        Assert.Equal(new StopMatch("a", true), result);
        Assert.Equal("bcx", matcher.MatchedStop);
    }

    [Fact]
    public void Push_MultipleStopsInOneDelta_EarliestPositionWins()
    {
        var matcher = new StopStringMatcher(["END", "\n\n"]);

        var result = matcher.Push("one\n\ntwo END");

        Assert.Equal(new StopMatch("one", true), result);
        Assert.Equal("\n\n", matcher.MatchedStop);
    }

    [Fact]
    public void Push_HoldsOnlyTheLongestPossiblePrefix()
    {
        var matcher = new StopStringMatcher(["xyz", "yq"]);

        // "y" could start "yq"; "xy" could start "xyz": hold "xy".
        Assert.Equal(new StopMatch("ab", false), matcher.Push("abxy"));
        Assert.Equal(new StopMatch("xyw", false), matcher.Push("w"));
    }

    [Fact]
    public void Flush_WithoutMatch_ReturnsHeldText()
    {
        var matcher = new StopStringMatcher(["</answer>"]);

        Assert.Equal(new StopMatch("42 ", false), matcher.Push("42 </ans"));

        Assert.Equal("</ans", matcher.Flush());
        Assert.Equal(string.Empty, matcher.Flush());
    }

    [Fact]
    public void Push_AfterStop_ReturnsNothing()
    {
        var matcher = new StopStringMatcher(["."]);
        matcher.Push("Done. More");

        Assert.Equal(new StopMatch("", true), matcher.Push("text"));
        Assert.Equal(string.Empty, matcher.Flush());
    }

    [Fact]
    public void Push_StopAtStartOfStream_EmitsNothing()
    {
        var matcher = new StopStringMatcher(["\n"]);

        Assert.Equal(new StopMatch("", true), matcher.Push("\nrest"));
    }

    [Fact]
    public void Push_RandomChunking_MatchesWholeStringBehaviour()
    {
        var random = new Random(1234);
        string[] stops = ["<|im_end|>", "User:", "\n\n\n"];
        const string Text = "The reply mentions Use and <|im_ but keeps going\n\n until User: shows up";
        var expectedEnd = Text.IndexOf("User:", StringComparison.Ordinal);
        for (var trial = 0; trial < 200; trial++)
        {
            var matcher = new StopStringMatcher(stops);
            var emitted = new StringBuilder();
            var stopped = false;
            for (var i = 0; i < Text.Length && !stopped;)
            {
                var length = Math.Min(random.Next(1, 6), Text.Length - i);
                var result = matcher.Push(Text.Substring(i, length));
                emitted.Append(result.Emit);
                stopped = result.Stopped;
                i += length;
            }

            Assert.True(stopped);
            Assert.Equal(Text[..expectedEnd], emitted.ToString());
        }
    }
}
