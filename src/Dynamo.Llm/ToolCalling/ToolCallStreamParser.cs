using System.Security.Cryptography;
using System.Text.Json;

namespace Dynamo.Llm.ToolCalling;

/// <summary>
/// Reads a model's answer as it streams in and splits it into content and tool calls in the model family's
/// <see cref="ToolCallFormat"/>, with OpenAI's streaming shape in mind: content goes out as it comes (holding back only
/// what may be the start of a call marker), a call's id and name go out once its name is complete, and its arguments
/// go out as the model writes them (their JSON text, verbatim). One parser per answer (per choice); not thread-safe.
/// </summary>
/// <remarks>
/// Output that is not a well-formed call where a call must be (a marker followed by something other than a JSON
/// object, an object without a <c>"name"</c>) is passed on as content, marker included, and <see cref="Malformed"/> is
/// set; a whole (non-streamed) answer then falls back to plain content (<see cref="ToolCallParser.Parse"/>), which a
/// stream cannot do for what it has already sent. A call's object is rescanned from its start on each piece of text:
/// linear in the call's length per piece, which tool calls (short) can afford.
/// </remarks>
public sealed class ToolCallStreamParser
{
    private const string HermesOpen = "<tool_call>";
    private const string HermesClose = "</tool_call>";
    private const string MistralMarker = "[TOOL_CALLS]";
    private const string PythonTag = "<|python_tag|>";
    private const int Incomplete = -1;
    private const int Bad = -2;

    private readonly ToolCallFormat _format;
    private readonly int _maxCalls;
    private readonly string _marker;
    private char[] _buffer = new char[256];
    private int _length;
    private int _pos;
    private State _state;
    private int _regionStart;
    private int _objectStart;
    private bool _callStarted;
    private int _argumentsSent;
    private int _callsStarted;
    private int _callsDone;
    private string _pendingWhitespace = "";

    /// <param name="format">The model family's format.</param>
    /// <param name="parallelToolCalls">False keeps the first call only (<c>parallel_tool_calls: false</c>): what the
    /// model writes after it is dropped.</param>
    public ToolCallStreamParser(ToolCallFormat format, bool parallelToolCalls = true)
    {
        _format = format;
        _maxCalls = parallelToolCalls ? int.MaxValue : 1;
        _marker = format switch
        {
            ToolCallFormat.Hermes => HermesOpen,
            ToolCallFormat.Mistral => MistralMarker,
            _ => PythonTag,
        };
        _state = format == ToolCallFormat.Hermes ? State.Content : State.Start;
    }

    private enum State
    {
        /// <summary>Only whitespace so far: Llama 3 JSON and Mistral answers may open with their JSON.</summary>
        Start,
        Content,

        /// <summary>After a marker (or ';' between Llama calls): a call's '{' (Mistral: the list's '[') comes next.</summary>
        Open,

        /// <summary>Inside Mistral's list, before an object.</summary>
        ListItem,
        Object,
        AfterObject,

        /// <summary>parallel_tool_calls is false and the one call is complete: the rest is dropped.</summary>
        Done,
    }

    /// <summary>Tool calls begun so far (their first delta sent).</summary>
    public int CallCount => _callsStarted;

    /// <summary>Whether some output looked like a call but was not a well-formed one (passed on as content).</summary>
    public bool Malformed { get; private set; }

    /// <summary>Takes the next piece of the answer's text and adds what can be said about it to <paramref name="output"/>.</summary>
    public void Append(string text, List<ToolCallDelta> output)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(output);
        if (text.Length == 0)
        {
            return;
        }

        if (_length + text.Length > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_length + text.Length, _buffer.Length * 2));
        }

        text.CopyTo(_buffer.AsSpan(_length));
        _length += text.Length;
        Process(final: false, output);
    }

    /// <summary>The answer ended: says what was held back (a partial marker is content after all; an unfinished call is
    /// <see cref="Malformed"/>).</summary>
    public void Finish(List<ToolCallDelta> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Process(final: true, output);
    }

    private void Process(bool final, List<ToolCallDelta> output)
    {
        while (true)
        {
            var s = _buffer.AsSpan(0, _length);
            switch (_state)
            {
                case State.Start:
                {
                    var i = SkipWhitespace(s, _pos);
                    if (i == _length)
                    {
                        if (final)
                        {
                            EmitContent(s[_pos..], output);
                            _pos = _length;
                        }

                        return;
                    }

                    var bareOpen = _format switch
                    {
                        ToolCallFormat.Llama3Json => '{',
                        ToolCallFormat.Mistral => '[',
                        _ => '\0',
                    };
                    var head = s[i..];
                    if (head.StartsWith(_marker, StringComparison.Ordinal))
                    {
                        _state = State.Content;
                        continue;
                    }

                    if (!final && _marker.AsSpan().StartsWith(head))
                    {
                        // "[TOOL_C": Mistral's marker or its bare list, not known yet.
                        return;
                    }

                    if (s[i] == bareOpen)
                    {
                        _regionStart = _pos;
                        _pos = i;
                        _state = State.Open;
                    }
                    else
                    {
                        _state = State.Content;
                    }

                    continue;
                }

                case State.Content:
                {
                    var rest = s[_pos..];
                    var at = rest.IndexOf(_marker, StringComparison.Ordinal);
                    if (at >= 0)
                    {
                        EmitContent(rest[..at], output);
                        _regionStart = _pos + at;
                        _pos += at + _marker.Length;
                        _state = State.Open;
                        continue;
                    }

                    var hold = final ? 0 : PartialSuffix(rest, _marker);
                    EmitContent(rest[..^hold], output);
                    _pos = _length - hold;
                    return;
                }

                case State.Open:
                {
                    var i = SkipWhitespace(s, _pos);
                    if (i == _length)
                    {
                        if (final)
                        {
                            NotACall(_length, output);
                        }

                        return;
                    }

                    if (_format == ToolCallFormat.Mistral && s[i] == '[')
                    {
                        _pos = i + 1;
                        _state = State.ListItem;
                    }
                    else if (s[i] == '{')
                    {
                        BeginObject(i);
                    }
                    else
                    {
                        NotACall(i + 1, output);
                    }

                    continue;
                }

                case State.ListItem:
                {
                    var i = SkipWhitespace(s, _pos);
                    if (i == _length)
                    {
                        if (final && _callsDone == 0)
                        {
                            NotACall(_length, output);
                        }

                        return;
                    }

                    if (s[i] == '{')
                    {
                        BeginObject(i);
                    }
                    else if (s[i] == ']' && _callsDone > 0)
                    {
                        _pos = i + 1;
                        _state = State.Content;
                    }
                    else
                    {
                        NotACall(i + 1, output);
                    }

                    continue;
                }

                case State.Object:
                {
                    var scan = ScanObject(s, _objectStart);
                    if (scan.BadAt >= 0)
                    {
                        if (_callStarted)
                        {
                            // Arguments already went out: the call ends there, the rest is content.
                            Malformed = true;
                            EndCall(scan, s, output);
                            _pos = scan.BadAt;
                            _state = State.Content;
                        }
                        else
                        {
                            NotACall(scan.BadAt + 1, output);
                        }

                        continue;
                    }

                    if (!_callStarted && scan.Name is { Length: > 0 } name)
                    {
                        StartCall(name, output);
                    }

                    if (_callStarted && scan.ArgumentsStart >= 0 && !scan.ArgumentsIsString)
                    {
                        var available = (scan.ArgumentsEnd >= 0 ? scan.ArgumentsEnd : _length) - scan.ArgumentsStart;
                        if (available > _argumentsSent)
                        {
                            AddCallDelta(output, new ToolCallDelta(null, _callsStarted - 1, null, null,
                                new string(s.Slice(scan.ArgumentsStart + _argumentsSent, available - _argumentsSent))));
                            _argumentsSent = available;
                        }
                    }

                    if (scan.End >= 0)
                    {
                        if (!_callStarted)
                        {
                            // A complete object with no name: not a call.
                            NotACall(scan.End, output);
                            continue;
                        }

                        EndCall(scan, s, output);
                        _pos = scan.End;
                        _state = _callsDone >= _maxCalls ? State.Done : State.AfterObject;
                        continue;
                    }

                    if (final)
                    {
                        // Cut off inside a call (max_tokens): what went out stays; nothing more to say.
                        Malformed = true;
                        if (!_callStarted)
                        {
                            NotACall(_length, output);
                            continue;
                        }

                        _pos = _length;
                    }

                    return;
                }

                case State.AfterObject:
                {
                    var i = SkipWhitespace(s, _pos);
                    if (i == _length)
                    {
                        _pos = i;
                        return;
                    }

                    var rest = s[i..];
                    switch (_format)
                    {
                        case ToolCallFormat.Hermes:
                            if (rest.StartsWith(HermesClose, StringComparison.Ordinal))
                            {
                                _pos = i + HermesClose.Length;
                                _state = State.Content;
                            }
                            else if (!final && HermesClose.AsSpan().StartsWith(rest))
                            {
                                return;
                            }
                            else
                            {
                                // No closing tag: the call stands, what follows is content.
                                _pos = i;
                                _state = State.Content;
                            }

                            break;
                        case ToolCallFormat.Llama3Json:
                            _regionStart = i;
                            _pos = rest[0] == ';' ? i + 1 : i;
                            _state = rest[0] == ';' ? State.Open : State.Content;
                            break;
                        default:
                            _regionStart = i;
                            _pos = rest[0] is ',' or ']' ? i + 1 : i;
                            _state = rest[0] == ',' ? State.ListItem : State.Content;
                            break;
                    }

                    continue;
                }

                default:
                    _pos = _length;
                    return;
            }
        }
    }

    private void BeginObject(int at)
    {
        _objectStart = at;
        _pos = at;
        _callStarted = false;
        _argumentsSent = 0;
        _state = State.Object;
    }

    private void StartCall(string name, List<ToolCallDelta> output)
    {
        _callStarted = true;
        _callsStarted++;
        AddCallDelta(output, new ToolCallDelta(null, _callsStarted - 1, NewId(_format), name, ""));
    }

    private void EndCall(in ObjectScan scan, ReadOnlySpan<char> s, List<ToolCallDelta> output)
    {
        _callsDone++;
        if (scan.ArgumentsStart < 0)
        {
            if (_argumentsSent == 0)
            {
                AddCallDelta(output, new ToolCallDelta(null, _callsStarted - 1, null, null, "{}"));
            }

            return;
        }

        if (scan.ArgumentsIsString && scan.ArgumentsEnd >= 0 && _argumentsSent == 0)
        {
            // "arguments": "{\"a\": 1}": the JSON text is the string's value.
            AddCallDelta(output, new ToolCallDelta(null, _callsStarted - 1, null, null, DecodeString(s[scan.ArgumentsStart..scan.ArgumentsEnd])));
        }
    }

    /// <summary>What looked like a call is not one: the text from where it began up to <paramref name="end"/> is content.</summary>
    private void NotACall(int end, List<ToolCallDelta> output)
    {
        Malformed = true;
        EmitContent(_buffer.AsSpan(_regionStart, end - _regionStart), output);
        _pos = end;
        _state = State.Content;
    }

    private void EmitContent(ReadOnlySpan<char> text, List<ToolCallDelta> output)
    {
        if (text.IsEmpty || _state == State.Done)
        {
            return;
        }

        // Whitespace between and after calls (newlines around tags) is not content worth a chunk.
        if (_callsStarted > 0 && text.IsWhiteSpace())
        {
            _pendingWhitespace += text.ToString();
            return;
        }

        var value = _pendingWhitespace.Length > 0 ? _pendingWhitespace + text.ToString() : text.ToString();
        _pendingWhitespace = "";
        if (output.Count > 0 && output[^1].IsContent)
        {
            output[^1] = ToolCallDelta.ForContent(output[^1].Content + value);
        }
        else
        {
            output.Add(ToolCallDelta.ForContent(value));
        }
    }

    private static void AddCallDelta(List<ToolCallDelta> output, ToolCallDelta delta)
    {
        if (output.Count > 0 && !output[^1].IsContent && output[^1].Index == delta.Index)
        {
            var last = output[^1];
            output[^1] = last with { Arguments = last.Arguments + delta.Arguments };
            return;
        }

        output.Add(delta);
    }

    /// <summary>A fresh call id: <c>call_</c> and 24 random characters; Mistral's templates insist on 9 alphanumerics.</summary>
    private static string NewId(ToolCallFormat format)
    {
        const string Alphanumeric = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return format == ToolCallFormat.Mistral
            ? RandomNumberGenerator.GetString(Alphanumeric, 9)
            : "call_" + RandomNumberGenerator.GetString(Alphanumeric, 24);
    }

    /// <summary>Length of the longest end of <paramref name="text"/> that begins <paramref name="marker"/>.</summary>
    private static int PartialSuffix(ReadOnlySpan<char> text, string marker)
    {
        for (var n = Math.Min(text.Length, marker.Length - 1); n > 0; n--)
        {
            if (marker.AsSpan(0, n).SequenceEqual(text[^n..]))
            {
                return n;
            }
        }

        return 0;
    }

    private static int SkipWhitespace(ReadOnlySpan<char> s, int i)
    {
        while (i < s.Length && char.IsWhiteSpace(s[i]))
        {
            i++;
        }

        return i;
    }

    /// <summary>What the call object starting at <paramref name="start"/> holds so far.</summary>
    private ObjectScan ScanObject(ReadOnlySpan<char> s, int start)
    {
        var scan = new ObjectScan { End = Incomplete, BadAt = Incomplete, ArgumentsStart = Incomplete, ArgumentsEnd = Incomplete };
        var i = start + 1;
        while (true)
        {
            i = SkipWhitespace(s, i);
            if (i >= s.Length)
            {
                return scan;
            }

            if (s[i] == '}')
            {
                scan.End = i + 1;
                return scan;
            }

            if (s[i] == ',')
            {
                i++;
                continue;
            }

            if (s[i] != '"')
            {
                scan.BadAt = i;
                return scan;
            }

            var keyEnd = SkipString(s, i);
            if (keyEnd == Incomplete)
            {
                return scan;
            }

            var key = s[(i + 1)..(keyEnd - 1)];
            i = SkipWhitespace(s, keyEnd);
            if (i >= s.Length)
            {
                return scan;
            }

            if (s[i] != ':')
            {
                scan.BadAt = i;
                return scan;
            }

            i = SkipWhitespace(s, i + 1);
            if (i >= s.Length)
            {
                return scan;
            }

            var valueEnd = SkipValue(s, i);
            if (valueEnd == Bad)
            {
                scan.BadAt = i;
                return scan;
            }

            if (key.SequenceEqual("arguments") || (_format == ToolCallFormat.Llama3Json && key.SequenceEqual("parameters")))
            {
                scan.ArgumentsStart = i;
                scan.ArgumentsEnd = valueEnd;
                scan.ArgumentsIsString = s[i] == '"';
            }
            else if (key.SequenceEqual("name") && valueEnd >= 0)
            {
                if (s[i] != '"')
                {
                    scan.BadAt = i;
                    return scan;
                }

                scan.Name = DecodeString(s[i..valueEnd]);
            }

            if (valueEnd == Incomplete)
            {
                return scan;
            }

            i = valueEnd;
        }
    }

    /// <summary>End of the JSON value at <paramref name="i"/>: <see cref="Incomplete"/> if it runs past the text,
    /// <see cref="Bad"/> if no value starts there. Containers are matched by bracket depth (strings respected).</summary>
    private static int SkipValue(ReadOnlySpan<char> s, int i)
    {
        var c = s[i];
        if (c == '"')
        {
            return SkipString(s, i);
        }

        if (c is '{' or '[')
        {
            var depth = 0;
            for (var j = i; j < s.Length; j++)
            {
                switch (s[j])
                {
                    case '"':
                        j = SkipString(s, j);
                        if (j == Incomplete)
                        {
                            return Incomplete;
                        }

                        j--;
                        break;
                    case '{' or '[':
                        depth++;
                        break;
                    case '}' or ']':
                        if (--depth == 0)
                        {
                            return j + 1;
                        }

                        break;
                }
            }

            return Incomplete;
        }

        if (c == '-' || char.IsAsciiLetterOrDigit(c))
        {
            var j = i;
            while (j < s.Length && (char.IsAsciiLetterOrDigit(s[j]) || s[j] is '-' or '+' or '.'))
            {
                j++;
            }

            return j == s.Length ? Incomplete : j;
        }

        return Bad;
    }

    private static int SkipString(ReadOnlySpan<char> s, int i)
    {
        for (var j = i + 1; j < s.Length; j++)
        {
            if (s[j] == '\\')
            {
                j++;
            }
            else if (s[j] == '"')
            {
                return j + 1;
            }
        }

        return Incomplete;
    }

    private static string DecodeString(ReadOnlySpan<char> literal)
    {
        if (literal[1..^1].IndexOf('\\') < 0)
        {
            return new string(literal[1..^1]);
        }

        try
        {
            using var document = JsonDocument.Parse(literal.ToString());
            return document.RootElement.GetString() ?? "";
        }
        catch (JsonException)
        {
            return new string(literal[1..^1]);
        }
    }

    private struct ObjectScan
    {
        public int End;
        public int BadAt;
        public string? Name;
        public int ArgumentsStart;
        public int ArgumentsEnd;
        public bool ArgumentsIsString;
    }
}
