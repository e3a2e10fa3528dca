using System.Buffers;

namespace Dynamo.Llm;

/// <summary>
/// Matches stop strings on streamed text across delta boundaries. Each <see cref="Push"/> returns the text that can no
/// longer be part of a stop string and holds back a suffix that might still begin one; on a match the text before it
/// is returned and the stop string is dropped (OpenAI behaviour). Not thread-safe: one instance per sequence.
/// </summary>
public sealed class StopStringMatcher
{
    private readonly string[] _stops;
    private readonly int _maxStopLength;
    private readonly SearchValues<char> _firstChars;
    private char[] _held = [];
    private int _heldLength;

    /// <param name="stops">Stop strings; empty strings are ignored, and no stops make the matcher a passthrough.</param>
    public StopStringMatcher(IReadOnlyList<string> stops)
    {
        ArgumentNullException.ThrowIfNull(stops);
        _stops = stops.Where(s => !string.IsNullOrEmpty(s)).Distinct(StringComparer.Ordinal).ToArray();
        _maxStopLength = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
        _firstChars = SearchValues.Create(_stops.Select(s => s[0]).Distinct().ToArray());
    }

    /// <summary>True once a stop string has matched; later pushes return nothing.</summary>
    public bool IsStopped { get; private set; }

    /// <summary>The stop string that matched (vLLM reports it as <c>stop_reason</c>), or null.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>Adds a text delta; returns what can be emitted now, and whether a stop string matched.</summary>
    public StopMatch Push(string delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        if (IsStopped)
        {
            return new StopMatch(string.Empty, true);
        }

        if (_stops.Length == 0)
        {
            return new StopMatch(delta, false);
        }

        ReadOnlySpan<char> text;
        if (_heldLength == 0)
        {
            text = delta;
        }
        else
        {
            EnsureHeldCapacity(_heldLength + delta.Length);
            delta.CopyTo(_held.AsSpan(_heldLength));
            text = _held.AsSpan(0, _heldLength + delta.Length);
        }

        // Held text never contains a whole stop string, so a match must end inside the new delta; the earliest start
        // wins, because everything before it is output.
        var matchAt = -1;
        foreach (var stop in _stops)
        {
            if (stop.Length > text.Length)
            {
                continue;
            }

            var searchFrom = Math.Max(0, _heldLength - stop.Length + 1);
            var index = text[searchFrom..].IndexOf(stop, StringComparison.Ordinal);
            if (index >= 0 && (matchAt < 0 || searchFrom + index < matchAt))
            {
                matchAt = searchFrom + index;
                MatchedStop = stop;
            }
        }

        if (matchAt >= 0)
        {
            IsStopped = true;
            var before = Emit(text, matchAt, delta);
            _heldLength = 0;
            return new StopMatch(before, true);
        }

        var hold = LongestStopPrefixSuffix(text);
        var emitLength = text.Length - hold;
        var emit = Emit(text, emitLength, delta);

        // Keep the tail (CopyTo handles the overlap when the tail already lives in _held).
        EnsureHeldCapacity(hold);
        text[emitLength..].CopyTo(_held);
        _heldLength = hold;
        return new StopMatch(emit, false);
    }

    /// <summary>At the end of generation without a match, returns the text still held back.</summary>
    public string Flush()
    {
        if (_heldLength == 0)
        {
            return string.Empty;
        }

        var rest = new string(_held, 0, _heldLength);
        _heldLength = 0;
        return rest;
    }

    /// <summary>The length of the longest suffix of <paramref name="text"/> that is a proper prefix of a stop string.</summary>
    private int LongestStopPrefixSuffix(ReadOnlySpan<char> text)
    {
        // A held suffix starts with the first character of some stop: only those positions are candidates, and in
        // most text there are none near the end.
        var windowStart = Math.Max(0, text.Length - (_maxStopLength - 1));
        var window = text[windowStart..];
        for (var offset = window.IndexOfAny(_firstChars); offset >= 0;)
        {
            var suffix = window[offset..];
            foreach (var stop in _stops)
            {
                if (stop.Length > suffix.Length && stop.AsSpan().StartsWith(suffix, StringComparison.Ordinal))
                {
                    return suffix.Length;
                }
            }

            var next = window[(offset + 1)..].IndexOfAny(_firstChars);
            offset = next < 0 ? -1 : offset + 1 + next;
        }

        return 0;
    }

    private string Emit(ReadOnlySpan<char> text, int length, string delta)
    {
        if (length == 0)
        {
            return string.Empty;
        }

        // The common case, nothing held and nothing to hold: the delta itself, without a copy.
        return _heldLength == 0 && length == delta.Length ? delta : new string(text[..length]);
    }

    private void EnsureHeldCapacity(int length)
    {
        if (_held.Length < length)
        {
            var grown = new char[Math.Max(length, Math.Max(16, _held.Length * 2))];
            _held.AsSpan(0, _heldLength).CopyTo(grown);
            _held = grown;
        }
    }
}
